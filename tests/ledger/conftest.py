"""Ledger fixtures: a private PostgreSQL (temporary, until tests/conftest.py provides one) and
a `ledger` fixture parametrized over PostgresLedger and MemoryLedger for the contract tests."""

import itertools
from collections.abc import AsyncIterator, Iterator

import pytest

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


@pytest.fixture(params=["memory", "postgres"])
async def ledger(request: pytest.FixtureRequest) -> AsyncIterator[MemoryLedger | PostgresLedger]:
    if request.param == "memory":
        yield MemoryLedger()
        return
    dsn = request.getfixturevalue("database_dsn")
    pg = await PostgresLedger.connect(dsn, max_size=4)
    try:
        yield pg
    finally:
        await pg.close()
