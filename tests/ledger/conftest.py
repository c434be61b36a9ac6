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
from tests.ledger.helpers import empty_ledger


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


@pytest_asyncio.fixture
async def pg_ledger(ledger_pool: AsyncConnectionPool[AsyncConnection]) -> PostgresLedger:
    return await empty_ledger(ledger_pool)


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.real_stack)])
def ledger(request: pytest.FixtureRequest) -> MemoryLedger | PostgresLedger:
    """Sync on purpose: the PostgreSQL fixtures start only for the postgres parameter."""
    if request.param == "memory":
        return MemoryLedger()
    pg: PostgresLedger = request.getfixturevalue("pg_ledger")
    return pg
