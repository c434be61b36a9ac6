"""The whole stack for end-to-end sales: everything real, the worker in its own process.

A dedicated anvil mines a block a second (time flows, pointers move, periods pass), the
development marketplace verifies real Groth16 proofs of the development circuit, the data
server and `worker.py` run as processes the tests may SIGKILL, and the Temporal dev server and
PostgreSQL are the session's.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import BaseModel, ConfigDict
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from chain.config import DEMO
from chain.deploy import Deployment
from deploy.local.anvil import AnvilNode, DevAccount, dev_accounts
from deploy.local.postgres import PostgresInfo, PostgresServer
from deploy.local.scenario import ManagedProcess, Roles, deploy, start_data_server, start_worker
from deploy.settings import HostSettings


class E2EStack(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    anvil: AnvilNode
    deployment: Deployment
    roles: Roles
    rival: DevAccount
    """Another host on the same marketplace, played by tests (tests/e2e/rival.py)."""
    data_url: str
    environment: dict[str, str]
    logs: Path
    worker: ManagedProcess | None = None

    @property
    def settings(self) -> HostSettings:
        return HostSettings.from_env(self.environment)

    def start_worker(self) -> ManagedProcess:
        self.worker = start_worker(self.environment, self.logs / "worker.log")
        return self.worker


@pytest.fixture(scope="module")
def e2e(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: tuple[PostgresServer, PostgresInfo],
    temporal_env: WorkflowEnvironment,
) -> Iterator[E2EStack]:
    logs = tmp_path_factory.mktemp("e2e")
    anvil = AnvilNode.start(logs / "anvil.log", block_time=1)
    data_server: ManagedProcess | None = None
    stack: E2EStack | None = None
    try:
        roles = Roles.default()
        rival = dev_accounts()[4]
        # a module may deploy its own marketplace configuration (MARKETPLACE_CONFIG)
        config = getattr(request.module, "MARKETPLACE_CONFIG", DEMO)
        deployment = deploy(anvil.rpc_url, roles, config, also_fund=[rival.address])
        # 4 KB/s with 4 KiB batches: a slot downloads in seconds, slowly enough to SIGKILL
        # the worker in the middle of it.
        data_server, data_url = start_data_server(
            logs / "source", logs / "data-server.log", rate=4_000
        )
        server, info = postgres_server
        dsn = server.create_database(info, f"e2e_{uuid.uuid4().hex[:12]}")
        environment = {
            "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": temporal_env.client.namespace,
            "SALES_DATABASE_URL": dsn,
            "SALES_RPC_URL": anvil.rpc_url,
            "SALES_MARKETPLACE_ADDRESS": deployment.marketplace,
            "SALES_SIGNER_KEY": roles.host.private_key,
            "SALES_DATA_URL": data_url,
            "SALES_DATA_DIR": str(logs / "host-data"),
            "SALES_QUOTA_BYTES": str(64 * 2**20),
            "SALES_GRACEFUL_SHUTDOWN": "5",
            "SALES_DOWNLOAD_BATCH_BYTES": "4096",
            "SALES_PROVING_CONCURRENCY": "2",
            "PROVER_CONCURRENCY": "2",
            "SALES_STACK_DIR": str(logs / "no-stack"),  # never the developer's .stack/
        }
        stack = E2EStack(
            anvil=anvil,
            deployment=deployment,
            roles=roles,
            rival=rival,
            data_url=data_url,
            environment=environment,
            logs=logs,
        )
        stack.start_worker()
        yield stack
    finally:
        if stack is not None and stack.worker is not None:
            stack.worker.stop()
        if data_server is not None:
            data_server.stop()
        anvil.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def e2e_client(e2e: E2EStack, temporal_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    """The session's Temporal client; after the module, this host's service is gone.

    Every e2e module deploys a new chain but the host keeps its address, so the queue and the
    follower (ids derived from the address) must not outlive the module's chain: they are
    terminated, not stopped, since stopping needs the worker the module is about to kill. The
    worker is stopped first: its scheduler keeper would start the terminated scheduler again.
    """
    client = temporal_env.client
    yield client
    if e2e.worker is not None:
        await asyncio.to_thread(e2e.worker.stop)
    await end_host_service(client, e2e.settings)


async def end_host_service(client: Client, settings: HostSettings) -> None:
    from temporalio.service import RPCError

    from sales.api import (
        RECONCILE_WORKFLOW,
        SLOT_HOSTING_WORKFLOW,
        SLOT_QUEUE_WORKFLOW,
        SLOT_SALE_WORKFLOW,
    )
    from sales.scheduling import PROVING_SCHEDULER_WORKFLOW
    from sales.service_api import CHAIN_FOLLOWER_WORKFLOW, reconcile_workflow_id

    with contextlib.suppress(RPCError):
        await client.get_schedule_handle(reconcile_workflow_id(settings.host_address)).delete()
    names = (
        SLOT_QUEUE_WORKFLOW,
        CHAIN_FOLLOWER_WORKFLOW,
        RECONCILE_WORKFLOW,
        SLOT_SALE_WORKFLOW,
        SLOT_HOSTING_WORKFLOW,
        PROVING_SCHEDULER_WORKFLOW,
    )
    types = ", ".join(f"'{name}'" for name in names)
    async for running in client.list_workflows(
        f"ExecutionStatus='Running' AND WorkflowType IN ({types})"
    ):
        with contextlib.suppress(RPCError):  # ended meanwhile
            await client.get_workflow_handle(running.id).terminate("e2e module ended")
