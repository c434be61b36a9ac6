"""Ledger fixtures.

`postgres` / `database_dsn` are a private PostgreSQL and a fresh database per test (temporary,
until tests/conftest.py provides them). `ledger` is parametrized over PostgresLedger and
MemoryLedger for the contract tests; the PostgreSQL side shares one migrated database and pool
for the session and truncates it before each test (a fresh database per test costs seconds).
"""

import itertools
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from ledger.memory import MemoryLedger
from ledger.postgres import PostgresLedger
from tests.ledger.pgserver import fresh_database, postgres_server

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture
def database_dsn(postgres: str) -> str:
    return fresh_database(postgres, f"ledger_test_{next(_names)}")


@pytest.fixture(scope="session")
def ledger_dsn(postgres: str) -> str:
    return fresh_database(postgres, "ledger_contract")


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
