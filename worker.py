"""Run Temporal workers by role: `python worker.py --role sales|chain-tx|proving|all`.

Roles (ARCHITECTURE.md §3 task queues):
  sales     workflows, the ledger, chain reads, the data-store hooks, the chain follower
  chain-tx  marketplace transactions (one signer: run exactly one such worker per host)
  proving   proof generation under a concurrency limit
Settings come from TEMPORAL_* and SALES_* variables (deploy/settings.py) and PROVER_* for the
prover (proofs/prover.py). Only chain-tx needs SALES_SIGNER_KEY; sales reads as
SALES_HOST_ADDRESS and proving needs no secret. The signer key and the DSN never leave this
process: they are not logged (URLs are logged redacted) and never enter a workflow payload.
SIGTERM drains in-flight work for SALES_GRACEFUL_SHUTDOWN seconds, then exits.
The sales role also keeps the host's proving scheduler running (`keep_scheduler`): one that was
terminated or failed is started again within a period, outside workflow code.
"""

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from deploy.settings import HostSettings
from sales.api import CHAIN_TX_TASK_QUEUE, PROVING_TASK_QUEUE, SALES_TASK_QUEUE
from sales.scheduling import PROVING_SCHEDULER_WORKFLOW, SchedulerInput, scheduler_workflow_id

log = logging.getLogger("worker")

ROLES = ("sales", "chain-tx", "proving")
API_ROLE = "api"
"""Not a worker: the Codex-compatible sales REST API (api/server.py); not part of `all`."""

KEEP_INTO_PERIOD = 3
"""Seconds into each period at which the sales role checks the host's scheduler: after the
scheduler's own read (1 s in), and early enough that a scheduler started then still reads the
period in time for its proofs."""

KEEP_UNTIL_PERIOD_KNOWN = 30.0
"""Seconds between checks while the chain's period length is not known yet."""


def activity_methods(instance: object) -> list[Callable[..., Any]]:
    """Every `@activity.defn` method of an activity class instance."""
    methods = []
    for attribute in dir(type(instance)):
        member = getattr(instance, attribute)
        if callable(member) and hasattr(member, "__temporal_activity_definition"):
            methods.append(member)
    return methods


class Resources:
    """Clients the activities share, built once per process and closed on shutdown."""

    def __init__(self, settings: HostSettings) -> None:
        self.settings = settings
        self._market: Any = None
        self._ledger: Any = None

    def market(self) -> Any:
        """The signing market (chain-tx); read-only, as the host address, without the key."""
        from chain.onchain import OnChainMarket

        if self._market is None:
            s = self.settings  # run() checked the role's settings (HostSettings.missing_for)
            self._market = OnChainMarket.connect(
                s.rpc_url,
                s.marketplace_address,
                s.signer_key or None,
                address=s.host_address,
                max_fee_per_gas=s.max_fee_per_gas,
            )
        return self._market

    async def ledger(self) -> Any:
        from ledger.postgres import PostgresLedger

        if self._ledger is None:
            self._ledger = await PostgresLedger.connect(
                self.settings.database_url, quota_bytes=self.settings.quota_bytes
            )
        return self._ledger

    def store_config(self) -> Any:
        from pathlib import Path

        from store.config import StoreConfig

        s = self.settings
        return StoreConfig(
            data_dir=Path(s.data_dir),
            quota_bytes=s.quota_bytes,
            source_url=s.data_url,
            batch_bytes=s.download_batch_bytes,
        )

    async def close(self) -> None:
        if self._ledger is not None:
            await self._ledger.close()


async def build_workers(client: Client, roles: Sequence[str], resources: Resources) -> list[Worker]:
    from activities.ledger import LedgerActivities
    from activities.market import MarketActivities
    from workflows import ALL_WORKFLOWS

    settings = resources.settings
    common: dict[str, Any] = {
        "graceful_shutdown_timeout": settings.graceful_shutdown,
        **versioning(settings),
    }
    workers: list[Worker] = []
    if "sales" in roles:
        from activities.service import ServiceActivities, closed_sales
        from activities.store import StoreActivities
        from sales.validation import RequestBounds

        market, ledger = resources.market(), await resources.ledger()
        store = StoreActivities.from_config(resources.store_config(), ledger)
        service = ServiceActivities(
            market=market,
            ledger=ledger,
            rpc_url=settings.rpc_url,
            marketplace=settings.marketplace_address,
            dsn=settings.database_url,
            bounds=RequestBounds(max_slot_size=settings.quota_bytes),  # the gate's quota bound
        )
        workers.append(
            Worker(
                client,
                task_queue=SALES_TASK_QUEUE,
                workflows=ALL_WORKFLOWS,
                activities=[
                    *MarketActivities(market).reads(),
                    *LedgerActivities(ledger).all(),
                    *activity_methods(store),
                    *activity_methods(service),
                    closed_sales,
                ],
                **common,
            )
        )
    if "chain-tx" in roles:
        workers.append(
            Worker(
                client,
                task_queue=CHAIN_TX_TASK_QUEUE,
                activities=MarketActivities(resources.market()).transactions(),
                max_concurrent_activities=settings.chain_tx_concurrency,
                **common,
            )
        )
    if "proving" in roles:
        from activities.prover import ProverActivities
        from proofs.prover import ProverConfig, StorageProver, check_against_marketplace

        prover_config = ProverConfig.from_env()
        if settings.marketplace_address and settings.signer_key:
            # refuse to start with a proving key the marketplace's verifier does not accept
            zkey_hash = await check_against_marketplace(prover_config, resources.market())
            log.info("prover key checked against the marketplace (zkeyHash %r)", zkey_hash)
        prover = ProverActivities(
            resources.store_config().block_store(),
            StorageProver.from_config(prover_config),
        )
        workers.append(
            Worker(
                client,
                task_queue=PROVING_TASK_QUEUE,
                activities=activity_methods(prover),
                max_concurrent_activities=settings.proving_concurrency,
                **common,
            )
        )
    return workers


async def ensure_scheduler(client: Client, host: str) -> bool:
    """Start the host's proving scheduler unless a run of it is open; True when this call
    started one. Describing is a read, not a billed Temporal action, so a running scheduler
    costs the host nothing; a start (`USE_EXISTING`, so racing workers start one run) follows
    only a run that ended (terminated, failed, timed out) or none at all."""
    workflow_id = scheduler_workflow_id(host)
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
        if described.status == WorkflowExecutionStatus.RUNNING:
            return False
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    await client.start_workflow(
        PROVING_SCHEDULER_WORKFLOW,
        SchedulerInput(host=host),
        id=workflow_id,
        task_queue=SALES_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary="one chain read per period for every hosted slot",
    )
    return True


def next_check_in(now: float, period_seconds: int | None) -> float:
    """Seconds until the keeper's next check: `KEEP_INTO_PERIOD` into the next period (chain
    periods; chain time is wall time to within a block)."""
    if period_seconds is None:
        return KEEP_UNTIL_PERIOD_KNOWN
    into = min(KEEP_INTO_PERIOD, period_seconds // 2)
    at = int(now) // period_seconds * period_seconds + into
    while at <= now:
        at += period_seconds
    return at - now


async def wall_clock() -> float:
    return time.time()


async def keep_scheduler(
    client: Client,
    host: str,
    period_seconds: Callable[[], Awaitable[int]],
    *,
    now: Callable[[], Awaitable[float]] = wall_clock,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Keep the host's proving scheduler running, checked once per period: nothing else
    restarts one that an operator, a reset or a bug ended, and until one runs each hosted slot
    only proves again after its silence fallback (W periods). The new run reads the host's
    slots from the chain (workflows/scheduler.py). Runs until cancelled."""
    period: int | None = None
    checks = 0
    while True:
        checks += 1
        try:
            if await ensure_scheduler(client, host):
                report = log.info if checks == 1 else log.warning  # at start-up: no surprise
                report("proving scheduler was not running: started a new one")
            if period is None:
                period = await period_seconds()
        except Exception as error:  # Temporal or the chain unreachable: try next time
            log.warning("proving scheduler not checked: %s", error)
        await sleep(next_check_in(await now(), period))


def start_keeper(
    client: Client, roles: Sequence[str], resources: Resources
) -> "asyncio.Task[None] | None":
    """The sales role keeps the scheduler; the period comes from the marketplace's config."""
    if "sales" not in roles:
        return None

    async def period_seconds() -> int:
        config = await resources.market().configuration()
        return int(config.proofs.period)

    host = resources.settings.host_address
    return asyncio.create_task(keep_scheduler(client, host, period_seconds))


def versioning(settings: HostSettings) -> dict[str, Any]:
    """Worker options for Temporal worker versioning (deploy/k8s/README.md, "Upgrading").

    Every workflow type auto-upgrades: a sale runs for months, so it cannot stay pinned to the
    image it started on; its changes go behind `workflow.patched`, and the recorded histories
    replay in CI. Without a deployment name the worker runs unversioned (the local stack).
    """
    if not settings.deployment_name:
        return {}
    from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
    from temporalio.worker import WorkerDeploymentConfig

    version = WorkerDeploymentVersion(
        deployment_name=settings.deployment_name, build_id=settings.build_id
    )
    config = WorkerDeploymentConfig(
        version=version,
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
    )
    return {"deployment_config": config}


async def connect(settings: HostSettings) -> Client:
    """The Temporal client, with Prometheus metrics when SALES_METRICS_ADDRESS is set."""
    from temporalio.envconfig import ClientConfig

    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", settings.temporal_address)
    config.setdefault("namespace", settings.temporal_namespace)
    runtime = worker_runtime(settings)
    if runtime is not None:
        config["runtime"] = runtime
    return await Client.connect(**config, data_converter=pydantic_data_converter)


def worker_runtime(settings: HostSettings, env: Mapping[str, str] | None = None) -> Runtime | None:
    """The SDK runtime: Prometheus metrics when SALES_METRICS_ADDRESS is set, and with
    SALES_LOG_FORMAT=json the SDK core's own log lines forwarded to Python logging (so they
    are JSON and redacted like every other line). None: the default runtime will do."""
    from temporalio.runtime import LogForwardingConfig, LoggingConfig, TelemetryFilter

    env = os.environ if env is None else env
    forward = env.get("SALES_LOG_FORMAT", "text").lower() == "json"
    if not settings.metrics_address and not forward:
        return None
    telemetry = TelemetryConfig(
        metrics=prometheus_config(settings.metrics_address) if settings.metrics_address else None
    )
    if forward:
        telemetry = dataclasses.replace(
            telemetry,
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            ),
        )
    return Runtime(telemetry=telemetry)


def prometheus_config(bind_address: str) -> PrometheusConfig:
    """The Prometheus exporter: SDK metrics and `codex_sales_*` (sales/metrics.py), with
    second-sized buckets for the proof latency histograms."""
    from sales.metrics import HISTOGRAM_BUCKETS

    return PrometheusConfig(bind_address=bind_address, histogram_bucket_overrides=HISTOGRAM_BUCKETS)


async def start_collector(
    client: Client, roles: Sequence[str], resources: Resources
) -> "asyncio.Task[None] | None":
    """The sales role's gauges of the ledger and visibility (activities/metrics.py), on the
    same runtime, hence the same metrics endpoint, as the SDK's metrics."""
    if "sales" not in roles or not resources.settings.metrics_address:
        return None
    from activities.metrics import Collector

    runtime = client.service_client.config.runtime or Runtime.default()
    collector = Collector(runtime.metric_meter, await resources.ledger(), client)
    return asyncio.create_task(collector.run())


async def run(roles: Sequence[str], settings: HostSettings) -> None:
    missing = settings.missing_for(roles)
    if missing:
        raise SystemExit(f"role(s) {', '.join(roles)} need {', '.join(missing)}")
    client = await connect(settings)
    resources = Resources(settings)
    workers = await build_workers(client, roles, resources)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("workers running: %s (%r)", ", ".join(roles), settings)
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    collector = await start_collector(client, roles, resources)
    keeper = start_keeper(client, roles, resources)
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    log.info("shutting down")
    for helper in (collector, keeper):
        if helper is not None:
            helper.cancel()
    await asyncio.gather(*(worker.shutdown() for worker in workers))
    with contextlib.suppress(Exception):
        await resources.close()
    for task in tasks:
        if task in done and (error := task.exception()) is not None:
            raise error


def parse_roles(argv: Sequence[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--role", choices=[*ROLES, API_ROLE, "all"], default="all")
    args = parser.parse_args(argv)
    return list(ROLES) if args.role == "all" else [args.role]


def run_role(roles: Sequence[str], settings: HostSettings) -> None:
    """The workers of these roles, or the REST API for the `api` role."""
    if list(roles) == [API_ROLE]:
        from api.server import serve

        asyncio.run(serve(settings))
    else:
        asyncio.run(run(roles, settings))


def configure_logging(settings: HostSettings) -> None:
    """SALES_LOG_FORMAT=text|json and SALES_LOG_LEVEL (deploy/logs.py), with this process's
    secrets redacted from every line."""
    from deploy.logs import configure, secrets_of

    configure(secrets_of(settings))


def main(argv: Sequence[str] | None = None) -> None:
    roles = parse_roles(argv)
    settings = HostSettings.from_env()
    configure_logging(settings)
    run_role(roles, settings)


if __name__ == "__main__":
    main()
