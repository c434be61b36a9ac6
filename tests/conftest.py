"""Fixtures for the real parts, all on loopback, started once per test session.

They reuse deploy/local, the same code as `python starter.py stack up`, so what the tests run
is what an operator runs.
"""

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from deploy.local.anvil import AnvilNode
from deploy.local.postgres import PostgresInfo, PostgresServer
from deploy.local.processes import free_port
from deploy.local.temporal import (
    DEV_SERVER_STARTUP,
    NAMESPACE,
    temporal_cli,
    temporal_test_server,
)
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES


@pytest.fixture(scope="session")
def stack_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[PostgresServer, PostgresInfo]]:
    """A private PostgreSQL cluster (fsync off: tests need speed, not durability).

    Its directory is outside pytest's root-private temp dir: under root the server runs as an
    unprivileged user that must be able to reach it.
    """
    root = Path(tempfile.mkdtemp(prefix="sales-test-pg-"))
    root.chmod(0o755)
    server = PostgresServer(root / "postgres", durable=False)
    info = server.start()
    yield server, info
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(postgres_server: tuple[PostgresServer, PostgresInfo]) -> PostgresInfo:
    return postgres_server[1]


@pytest.fixture
def database_dsn(postgres_server: tuple[PostgresServer, PostgresInfo]) -> str:
    """A fresh, empty database for one test."""
    server, info = postgres_server
    return server.create_database(info, f"test_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def anvil(stack_root: Path) -> Iterator[AnvilNode]:
    """anvil mining one block per transaction (deterministic for tests)."""
    node = AnvilNode.start(stack_root / "anvil.log")
    yield node
    node.stop()


TEMPORAL_UI_PORT = free_port()
"""The dev server's Web UI (tests/api checks a sale's details there with headless Chromium)."""


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server, with the project's search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        namespace=NAMESPACE,
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        ui=True,
        ui_port=TEMPORAL_UI_PORT,
        dev_server_log_level="error",
        dev_server_startup_timeout=DEV_SERVER_STARTUP,
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


async def register_search_attributes(client: Client) -> None:
    """The time-skipping server has no search-attribute option: register them by API."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
                for key in ALL_SEARCH_ATTRIBUTES
            },
        )
    )


@pytest_asyncio.fixture(loop_scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server (Java, from PyPI), one per test."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(temporal_test_server()),
        test_server_startup_timeout=DEV_SERVER_STARTUP,
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    """A task queue of its own for one test, so tests never steal each other's tasks."""
    return f"test-{uuid.uuid4()}"


REAL_PARTS = {
    "postgres",
    "postgres_server",
    "database_dsn",
    "anvil",
    "temporal_env",
    "temporal_client",
    "time_skipping_env",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that starts a real server, so `-m "not real_stack"` is truly fast."""
    for item in items:
        if REAL_PARTS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_stack)
