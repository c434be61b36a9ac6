"""Fixtures for the data store: a real data server on loopback with fault injection, a fake
idempotent releaser (the ledger's contract: the same batch_seq twice counts once)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from store.server import DataServer
from tests.store.fakes import FakeReleaser, Faults, fault_middleware


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
async def data_server(tmp_path: Path, faults: Faults) -> AsyncIterator[DataServer]:
    data_dir = tmp_path / "server"
    server = DataServer(data_dir, middlewares=[fault_middleware(faults, data_dir)])
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def releaser() -> FakeReleaser:
    return FakeReleaser()
