"""Ledger fixtures on top of tests/conftest.py's PostgreSQL (`postgres_server`, `database_dsn`).

`ledger` is parametrized over PostgresLedger and MemoryLedger for the contract tests; the
PostgreSQL side shares one migrated database and pool for the session and truncates it before
each test (a fresh database per test costs about a second here).
"""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from deploy.local.postgres import PostgresInfo, PostgresServer
from ledger.memory import MemoryLedger
from ledger.postgres import PostgresLedger


@pytest.fixture(scope="session")
def ledger_dsn(postgres_server: tuple[PostgresServer, PostgresInfo]) -> str:
    server, info = postgres_server
    return server.create_database(info, "ledger_contract")


@pytest_asyncio.fixture(scope="session")
async def ledger_pool(ledger_dsn: str) -> AsyncIterator[AsyncConnectionPool[AsyncConnection]]:
    pg = await PostgresLedger.connect(ledger_dsn, max_size=8)
    try:
        yield pg.pool
    finally:
        await pg.close()


async def empty_ledger(pool: AsyncConnectionPool[AsyncConnection], **kw) -> PostgresLedger:
    async with pool.connection() as conn:
        await conn.execute(
            "TRUNCATE ledger.released_batches, ledger.reservations, ledger.availabilities;"
            " UPDATE ledger.store_quota SET reserved_bytes = 0"
        )
    return PostgresLedger(pool, **kw)


@pytest.fixture(params=["memory", "postgres"])
async def ledger(
    request: pytest.FixtureRequest, ledger_pool: AsyncConnectionPool[AsyncConnection]
) -> MemoryLedger | PostgresLedger:
    if request.param == "memory":
        return MemoryLedger()
    return await empty_ledger(ledger_pool)
