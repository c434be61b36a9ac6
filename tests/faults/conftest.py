"""The fault-injection stack (issue 12, point 8): one per test module, every part its own.

`deploy.local.fault_stack.FaultStack` starts a dedicated PostgreSQL cluster, a Temporal dev
server with a persistent SQLite file, anvil mining a block a second, the development marketplace
(real Groth16 proofs), the data server and `deploy.local.rpc_proxy.RpcProxy` between the workers
and anvil. Stopping any of them harms no other test. The stack is also offered as an `E2EStack`
(anvil's own URL, not the proxy's), so the tests read the chain and the ledger with
tests/e2e/helpers.py unhindered by the faults they inject into the workers.
"""

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from chain.config import DEMO
from deploy.local.anvil import dev_accounts
from deploy.local.fault_stack import FaultStack
from tests.e2e.conftest import E2EStack, end_host_service


@pytest.fixture(scope="module")
def fault_stack(request: pytest.FixtureRequest) -> Iterator[FaultStack]:
    config = getattr(request.module, "MARKETPLACE_CONFIG", DEMO)
    phase = getattr(request.module, "PERIOD_PHASE", None)  # FaultTiming.phase
    keep = os.environ.get("SALES_FAULTS_KEEP")  # a directory: keep logs and data there
    root = Path(keep) / request.module.__name__ if keep else None
    stack = FaultStack.start(config, root=root, period_phase=phase)
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def faults_e2e(fault_stack: FaultStack) -> E2EStack:
    """The same stack as tests/e2e/helpers.py expects it (they read anvil directly)."""
    assert fault_stack.anvil is not None and fault_stack.deployment is not None
    return E2EStack(
        anvil=fault_stack.anvil,
        deployment=fault_stack.deployment,
        roles=fault_stack.roles,
        rival=dev_accounts()[4],
        data_url=fault_stack.data_url,
        environment=fault_stack.environment,
        logs=fault_stack.logs,
    )


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def faults_client(fault_stack: FaultStack, faults_e2e: E2EStack) -> AsyncIterator[Client]:
    """A client of the module's own Temporal server (it reconnects across a restart)."""
    assert fault_stack.temporal is not None
    client = await Client.connect(
        fault_stack.temporal.address, data_converter=pydantic_data_converter
    )
    yield client
    with contextlib.suppress(Exception):
        await end_host_service(client, faults_e2e.settings)
