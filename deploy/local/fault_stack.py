"""A whole local stack whose parts can be broken on purpose: the fault tests and the chaos run.

Unlike the session fixtures (shared servers), every part here is the stack's own, so stopping
one harms nobody else: a PostgreSQL cluster, a Temporal dev server keeping its state in a
SQLite file (a restart resumes every workflow), anvil mining a block a second, the development
marketplace verifying real Groth16 proofs, the Codex-compatible data server, an `RpcProxy`
between the workers and anvil, and any number of `worker.py` processes by role.

`FaultTiming` is the one place the fault stack's proof period is set: it is derived from the
slowest proof measured on a loaded CI machine, and every wait of the fault tests is a number of
its periods.
"""

import math
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from chain.config import DEMO
from chain.deploy import Deployment
from deploy.local.anvil import AnvilNode, rpc
from deploy.local.postgres import PostgresInfo, PostgresServer
from deploy.local.processes import free_port
from deploy.local.rpc_proxy import RpcProxy
from deploy.local.scenario import ManagedProcess, Roles, deploy, start_data_server, start_worker
from deploy.local.temporal import NAMESPACE, TemporalDevServer
from sales.models import MarketplaceConfig

PROOF_SECONDS = 36.0
"""The slowest real proof measured on the fault stack beside `make test`'s parallel real-stack
files (2 cores, load average 11-13, the ceremony running): the dev circuit's two concurrent
proofs took 35-36 s each, where a 20 s period had made every fill go stale. Retune this after
a circuit change (or set SALES_FAULTS_PROOF_SECONDS); the period and every wait follow."""

LANDING_SECONDS = 6
"""Reading the challenge, submitting and mining the proof (1 s blocks) after it is computed."""


@dataclass(frozen=True)
class FaultTiming:
    """The fault stack's proof period, derived from how long a proof takes under load.

    A period must hold a whole proof plus its landing with room to spare (the initial proof
    and its fill must land in the period they started in, else the fill reverts with
    Proofs_InvalidProof and the sale proves again), so it is 1.5x the slowest measured proof
    plus the landing time, rounded up to 10 s. The marketplace's rule "period below downtime x
    block time" sets the downtime.
    """

    proof_seconds: float = PROOF_SECONDS

    @classmethod
    def from_env(cls) -> "FaultTiming":
        return cls(float(os.environ.get("SALES_FAULTS_PROOF_SECONDS", PROOF_SECONDS)))

    @property
    def period(self) -> int:
        return max(20, 10 * math.ceil((1.5 * self.proof_seconds + LANDING_SECONDS) / 10))

    @property
    def downtime(self) -> int:
        """Blocks (1 s each) of the pointer cycle without a requirement: above one period."""
        return min(255, max(DEMO.proofs.downtime, self.period + 4))

    def phase(self, quarter: int) -> int:
        """Seconds after wall-clock multiples of the period at which a stack's periods start
        (`FaultStack.start`'s ``period_phase``): ``quarter`` quarters of a period. Stacks side by
        side in different phases start their proofs at different moments instead of all in
        the same seconds (anvil's clock follows the wall clock, so their periods align)."""
        return quarter * self.period // 4

    def periods(self, count: float) -> float:
        """Seconds of ``count`` periods: how the fault tests size their waits."""
        return count * self.period

    def config(self, base: MarketplaceConfig = DEMO) -> MarketplaceConfig:
        """``base`` with this period (and a downtime above it)."""
        proofs = base.proofs.model_copy(update={"period": self.period, "downtime": self.downtime})
        return base.model_copy(update={"proofs": proofs})


class FaultStack:
    """Start with `FaultStack.start(...)`; `close()` stops everything it started."""

    def __init__(self, root: Path, *, keep_root: bool) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._keep_root = keep_root
        self.postgres = PostgresServer(root / "postgres", durable=False)
        self.postgres_info: PostgresInfo | None = None
        self.temporal: TemporalDevServer | None = None
        self.anvil: AnvilNode | None = None
        self.proxy: RpcProxy | None = None
        self.deployment: Deployment | None = None
        self.roles = Roles.default()
        self.data_server: ManagedProcess | None = None
        self.data_url = ""
        self.environment: dict[str, str] = {}
        self.workers: dict[str, ManagedProcess] = {}
        self.worker_env: dict[str, dict[str, str]] = {}

    @classmethod
    def start(
        cls,
        config: MarketplaceConfig = DEMO,
        *,
        root: Path | None = None,
        also_fund: tuple[str, ...] = (),
        data_rate: int | None = 4_000,
        period_phase: int | None = None,
    ) -> "FaultStack":
        """Every part up; ``data_rate`` (bytes/s) slows downloads so a test sees Downloading;
        ``period_phase`` sets the chain's clock ahead so its proof periods start that many
        seconds after wall-clock multiples of the period (`FaultTiming.phase`)."""
        keep = root is not None
        if root is None:
            # outside root-private temp dirs: PostgreSQL runs as `nobody` under root
            root = Path(tempfile.mkdtemp(prefix="sales-faults-"))
            root.chmod(0o755)
        stack = cls(root, keep_root=keep)
        try:
            stack._start(config, also_fund, data_rate, period_phase)
        except BaseException:
            stack.close()
            raise
        return stack

    def _start(
        self,
        config: MarketplaceConfig,
        also_fund: tuple[str, ...],
        data_rate: int | None,
        period_phase: int | None,
    ) -> None:
        self.postgres_info = self.postgres.start()
        dsn = self.postgres.create_database(self.postgres_info, f"faults_{uuid.uuid4().hex[:8]}")
        self.temporal = TemporalDevServer.start(
            self.root / "temporal",
            self.logs / "temporal.log",
            port=free_port(),
            ui_port=free_port(),
        )
        self.anvil = AnvilNode.start(self.logs / "anvil.log", block_time=1)
        self.proxy = RpcProxy(self.anvil.rpc_url).start()
        self.deployment = deploy(self.anvil.rpc_url, self.roles, config, also_fund=also_fund)
        if period_phase is not None:
            self._shift_periods(config.proofs.period, period_phase)
        self.data_server, self.data_url = start_data_server(
            self.root / "source", self.logs / "data-server.log", rate=data_rate
        )
        self.environment = {
            "TEMPORAL_ADDRESS": self.temporal.address,
            "TEMPORAL_NAMESPACE": NAMESPACE,
            "SALES_DATABASE_URL": dsn,
            "SALES_RPC_URL": self.proxy.url,  # every worker reaches the chain through the proxy
            "SALES_MARKETPLACE_ADDRESS": self.deployment.marketplace,
            "SALES_SIGNER_KEY": self.roles.host.private_key,
            "SALES_DATA_URL": self.data_url,
            "SALES_DATA_DIR": str(self.root / "host-data"),
            "SALES_QUOTA_BYTES": str(64 * 2**20),
            "SALES_GRACEFUL_SHUTDOWN": "5",
            "SALES_DOWNLOAD_BATCH_BYTES": "4096",
            "SALES_PROVING_CONCURRENCY": "2",
            "PROVER_CONCURRENCY": "2",
            "SALES_STACK_DIR": str(self.root / "no-stack"),  # never the developer's .stack/
        }

    def _shift_periods(self, period: int, phase: int) -> None:
        """Periods start when chain time is a multiple of ``period``; move the chain clock ahead
        so that happens ``phase`` seconds after wall-clock multiples of it."""
        assert self.anvil is not None
        block = rpc(self.anvil.rpc_url, "eth_getBlockByNumber", ["latest", False])
        assert isinstance(block, dict)
        ahead = round(-phase - (int(block["timestamp"], 16) - time.time())) % period
        if ahead:
            rpc(self.anvil.rpc_url, "evm_increaseTime", [ahead])

    # --- workers ------------------------------------------------------------------------------

    def start_worker(self, name: str, role: str, **overrides: str) -> ManagedProcess:
        """`worker.py --role role` as ``name`` (its log: logs/<name>.log); ``overrides`` are
        environment variables on top of the stack's (an empty value removes one)."""
        env = {**self.environment, **overrides}
        env = {key: value for key, value in env.items() if value != ""}
        self.worker_env[name] = overrides
        process = start_worker(env, self.logs / f"{name}.log", role=role)
        self.workers[name] = process
        return process

    def kill_worker(self, name: str) -> None:
        """SIGKILL: a crash, no graceful shutdown."""
        self.workers[name].kill()

    def stop_worker(self, name: str) -> None:
        """SIGTERM: the worker drains for SALES_GRACEFUL_SHUTDOWN seconds, then exits."""
        self.workers[name].stop()

    # --- servers ------------------------------------------------------------------------------

    def stop_postgres(self) -> None:
        self.postgres.stop()

    def start_postgres(self) -> None:
        """Back on the same port: the workers' DSN stays valid."""
        assert self.postgres_info is not None
        self.postgres.start(self.postgres_info.port)

    def restart_temporal(self) -> None:
        """Stop the dev server and start it again on the same ports and SQLite file."""
        assert self.temporal is not None
        port, ui_port = self.temporal.port, self.temporal.ui_port
        self.temporal.stop()
        self.temporal = TemporalDevServer.start(
            self.root / "temporal", self.logs / "temporal.log", port=port, ui_port=ui_port
        )

    def close(self) -> None:
        for process in self.workers.values():
            process.stop()
        if self.data_server is not None:
            self.data_server.stop()
        if self.proxy is not None:
            self.proxy.stop()
        if self.anvil is not None:
            self.anvil.stop()
        if self.temporal is not None:
            self.temporal.stop()
        self.postgres.stop()
        if not self._keep_root:
            shutil.rmtree(self.root, ignore_errors=True)
