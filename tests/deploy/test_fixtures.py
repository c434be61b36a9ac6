"""The real parts answer: the fixtures other tests rely on are the stack's own code."""

import uuid

from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import psycopg

    from deploy.local.anvil import AnvilNode, rpc
    from workflows.search_attributes import SALE_STATE


@workflow.defn(name="FixtureProbe")
class FixtureProbe:
    @workflow.run
    async def run(self, name: str) -> str:
        workflow.upsert_search_attributes([SALE_STATE.value_set("probing")])
        return f"hello {name}"


def test_postgres_gives_an_empty_database_per_test(database_dsn: str) -> None:
    with psycopg.connect(database_dsn) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_anvil_serves_the_development_accounts(anvil: AnvilNode) -> None:
    balance = rpc(anvil.rpc_url, "eth_getBalance", [anvil.accounts[0].address, "latest"])
    assert isinstance(balance, str) and int(balance, 16) > 0
    assert anvil.accounts[0].private_key not in repr(anvil.accounts[0])


async def test_dev_server_runs_a_workflow_with_search_attributes(
    temporal_client: Client, task_queue: str
) -> None:
    async with Worker(temporal_client, task_queue=task_queue, workflows=[FixtureProbe]):
        handle = await temporal_client.start_workflow(
            FixtureProbe.run, "stack", id=f"probe-{uuid.uuid4()}", task_queue=task_queue
        )
        assert await handle.result() == "hello stack"
        described = await handle.describe()
    assert described.typed_search_attributes.get(SALE_STATE) == "probing"


async def test_time_skipping_server_registers_search_attributes(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = time_skipping_env.client
    async with Worker(client, task_queue=task_queue, workflows=[FixtureProbe]):
        result = await client.execute_workflow(
            FixtureProbe.run, "clock", id=f"probe-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result == "hello clock"
