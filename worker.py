"""Run Temporal workers by role: `python worker.py --role sales|chain-tx|proving|all`.

Roles (ARCHITECTURE §3 task queues):
  sales     workflows (ALL_WORKFLOWS), chain reads, the ledger, the data-store hooks
  chain-tx  marketplace transactions (one signer; one worker keeps the nonce order simple)
  proving   proof generation, under a concurrency limit
The Temporal connection comes from TEMPORAL_* variables (temporalio.envconfig). The signer key
and the database DSN are read from the environment here and never logged or put in payloads.
SIGTERM shuts the workers down gracefully (in-flight activities get `graceful_shutdown_timeout`).
"""

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker

if TYPE_CHECKING:
    from chain.market import Market
    from ledger.api import Ledger

from sales.api import CHAIN_TX_TASK_QUEUE, PROVING_TASK_QUEUE, SALES_TASK_QUEUE

log = logging.getLogger("worker")

ROLES = ("sales", "chain-tx", "proving")


@dataclass(frozen=True)
class Settings:
    """Process configuration from the environment (secrets stay in this process)."""

    database_dsn: str
    rpc_url: str
    marketplace_address: str
    signer_key: str
    proving_concurrency: int
    chain_tx_concurrency: int
    graceful_shutdown: timedelta

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        return cls(
            database_dsn=env.get("SALES_DATABASE_DSN", ""),
            rpc_url=env.get("SALES_RPC_URL", "http://127.0.0.1:8545"),
            marketplace_address=env.get("SALES_MARKETPLACE_ADDRESS", ""),
            signer_key=env.get("SALES_SIGNER_KEY", ""),
            proving_concurrency=int(env.get("PROVER_CONCURRENCY", "1")),
            chain_tx_concurrency=int(env.get("SALES_CHAIN_TX_CONCURRENCY", "1")),
            graceful_shutdown=timedelta(seconds=float(env.get("SALES_GRACEFUL_SHUTDOWN", "30"))),
        )

    def __repr__(self) -> str:  # never print the key or DSN credentials
        return f"Settings(rpc_url={self.rpc_url!r}, marketplace={self.marketplace_address!r})"


async def build_market(settings: Settings) -> "Market":
    """The on-chain market; loads the marketplace configuration once (MKT-8)."""
    from chain.onchain import OnChainMarket

    market = OnChainMarket.connect(
        settings.rpc_url, settings.marketplace_address, settings.signer_key
    )
    await market.start()
    return market


async def build_ledger(settings: Settings) -> "Ledger":
    from ledger.postgres import PostgresLedger

    return await PostgresLedger.connect(settings.database_dsn)


def activity_methods(instance: Any) -> list[Callable[..., Any]]:
    """Every `@activity.defn` method of an activity class instance."""
    methods = []
    for attribute in dir(type(instance)):
        member = getattr(instance, attribute)
        if callable(member) and hasattr(member, "__temporal_activity_definition"):
            methods.append(member)
    return methods


async def build_workers(client: Client, roles: Sequence[str], settings: Settings) -> list[Worker]:
    """One worker per role; clients are built only for the roles that need them."""
    from activities.hooks import HookActivities
    from activities.ledger import LedgerActivities
    from activities.market import MarketActivities
    from workflows import ALL_WORKFLOWS

    workers: list[Worker] = []
    common: dict[str, Any] = {"graceful_shutdown_timeout": settings.graceful_shutdown}
    market = await build_market(settings) if {"sales", "chain-tx"} & set(roles) else None
    if "sales" in roles and market is not None:
        from activities.service import ServiceActivities
        from activities.store import StoreActivities
        from store.config import StoreConfig

        ledger = await build_ledger(settings)
        store = StoreActivities.from_config(StoreConfig.from_env(), ledger)
        service = ServiceActivities(
            market=market,
            ledger=ledger,
            rpc_url=settings.rpc_url,
            marketplace=settings.marketplace_address,
            dsn=settings.database_dsn,
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
                    *HookActivities().all(),
                    *activity_methods(service),
                ],
                **common,
            )
        )
    if "chain-tx" in roles and market is not None:
        workers.append(
            Worker(
                client,
                task_queue=CHAIN_TX_TASK_QUEUE,
                activities=MarketActivities(market).transactions(),
                max_concurrent_activities=settings.chain_tx_concurrency,
                **common,
            )
        )
    if "proving" in roles:
        from activities.prover import ProverActivities

        workers.append(
            Worker(
                client,
                task_queue=PROVING_TASK_QUEUE,
                activities=activity_methods(ProverActivities.from_env()),
                max_concurrent_activities=settings.proving_concurrency,
                **common,
            )
        )
    return workers


async def connect() -> Client:
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    return await Client.connect(**config, data_converter=pydantic_data_converter)


async def run(roles: Sequence[str], settings: Settings) -> None:
    client = await connect()
    workers = await build_workers(client, roles, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("workers running: %s", ", ".join(roles))
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    log.info("shutting down")
    await asyncio.gather(*(worker.shutdown() for worker in workers))
    for task in tasks:
        if task in done and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def parse_roles(argv: Sequence[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--role", choices=[*ROLES, "all"], default="all")
    args = parser.parse_args(argv)
    return list(ROLES) if args.role == "all" else [args.role]


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=os.environ.get("SALES_LOG_LEVEL", "INFO"))
    asyncio.run(run(parse_roles(argv), Settings.from_env()))


if __name__ == "__main__":
    main()
