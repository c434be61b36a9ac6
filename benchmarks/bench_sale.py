"""Sale workflow throughput on a local dev server, next to a bare-workflow ceiling.

Prints:
  * sales/s from start to Filled (the queue's release notice) with in-memory fake activities;
  * the ceiling: a bare workflow running the same number of no-op activities in sequence;
  * history events per proving period (difference of two sales with different lengths).

Run: .venv/bin/python benchmarks/bench_sale.py [--sales 30]
The dev server binds a free loopback port and is stopped at the end.
"""

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy.local.temporal import DEV_SERVER_STARTUP, temporal_cli
from sales.api import (
    CHAIN_TX_TASK_QUEUE,
    PROVING_TASK_QUEUE,
    SALES_TASK_QUEUE,
    Activity,
    SaleInput,
    SaleSettings,
    sale_workflow_id,
)
from sales.ids import slot_id
from sales.models import RequestState
from tests.workflows.fake_queue import FakeQueueWorkflow
from tests.workflows.fakes import FakeSale, an_availability, item_for, make_request
from workflows import ALL_WORKFLOWS
from workflows.sale import SlotSaleWorkflow
from workflows.sale_state import SaleOutcome
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

ACTIVITIES_TO_FILLED = 14
"""Activities one sale runs from start until the release at Filled (the run prints the count)."""


class Router:
    """Routes each activity call to the FakeSale of its request (one fake chain per sale)."""

    def __init__(self) -> None:
        self.by_request: dict[str, FakeSale] = {}
        self.by_slot: dict[str, FakeSale] = {}

    def add(self, fake: FakeSale) -> None:
        self.by_request[fake.request.id] = fake
        self.by_slot[slot_id(fake.request.id, 0)] = fake

    def find(self, arg: Any) -> FakeSale:
        for attribute in ("request_id", "slot_id"):
            value = getattr(arg, attribute, None)
            if value in self.by_request:
                return self.by_request[value]
            if value in self.by_slot:
                return self.by_slot[value]
        for attribute in ("slot", "request"):
            inner = getattr(arg, attribute, None)
            if inner is not None:
                return self.find(inner)
        if hasattr(arg, "id") and arg.id in self.by_request:
            return self.by_request[arg.id]
        return next(iter(self.by_request.values()))  # ledger calls without a request key

    def activities(self) -> list[Any]:
        template = FakeSale()
        routed = []
        for method in template.activities():
            name = getattr(method, "__temporal_activity_definition").name
            routed.append(self._route(name, method.__name__))
        return routed

    def _route(self, name: str, attribute: str) -> Any:
        async def call(arg: Any) -> Any:
            fake = self.find(arg)
            return await getattr(fake, attribute)(arg)

        hints = dict(getattr(FakeSale, attribute).__annotations__)
        returns = hints.pop("return")
        [argument] = hints.values()
        call.__annotations__ = {"arg": argument, "return": returns}  # decode by these types
        return activity.defn(name=name)(call)


async def dev_server() -> WorkflowEnvironment:
    """A local Temporal dev server (in memory, free port) with the project's search attributes."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        ui=False,
        dev_server_startup_timeout=DEV_SERVER_STARTUP,
    )


@asynccontextmanager
async def fake_host(
    client: Client,
    router: Router,
    *,
    workflows: Sequence[type] = ALL_WORKFLOWS,
    sales_activities: Sequence[Callable[..., Any]] = (),
    prover_slots: int | None = None,
) -> AsyncIterator[None]:
    """One process's workers, like `worker.py --role all`, every activity routed to the fakes."""
    acts = router.activities()
    async with (
        Worker(
            client,
            task_queue=SALES_TASK_QUEUE,
            workflows=workflows,
            activities=[*acts, *sales_activities],
        ),
        Worker(client, task_queue=CHAIN_TX_TASK_QUEUE, activities=acts),
        Worker(
            client,
            task_queue=PROVING_TASK_QUEUE,
            activities=acts,
            max_concurrent_activities=prover_slots,
        ),
    ):
        yield


@activity.defn(name="noop")
async def noop() -> None:
    return None


@workflow.defn(name="Bare", sandboxed=False)
class BareWorkflow:
    @workflow.run
    async def run(self, count: int) -> None:
        for _ in range(count):
            await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=30))


FAKE_CHAIN_SETTINGS = SaleSettings(proof_margin_seconds=0)
"""The fake chain's periods are 1 s and its transactions land at once: no landing margin, or
no proof would ever fit in a period (plan_proof gives such a period up)."""


def new_fake(nonce: int, duration: int, period: int = 1) -> FakeSale:
    fake = FakeSale(
        availability=an_availability(),
        request=make_request(expiry=600, duration=duration, nonce=nonce),
        period=period,
        request_state_after_fill=RequestState.Started,
    )
    fake.created_at = int(time.time())
    return fake


async def start_sale(client: Client, fake: FakeSale, queue_id: str | None) -> Any:
    request = fake.request
    return await client.start_workflow(
        SlotSaleWorkflow.run,
        SaleInput(
            request_id=request.id,
            slot_index=0,
            item=item_for(fake, 0),
            queue_workflow_id=queue_id,
            settings=FAKE_CHAIN_SETTINGS,
        ),
        id=sale_workflow_id(slot_id(request.id, 0)),
        task_queue=SALES_TASK_QUEUE,
    )


async def sales_to_filled(client: Client, router: Router, count: int) -> float:
    queue = await client.start_workflow(
        FakeQueueWorkflow.run, id=f"queue-{uuid.uuid4()}", task_queue=SALES_TASK_QUEUE
    )
    fakes = [new_fake(10_000 + n, duration=3600) for n in range(count)]
    for fake in fakes:
        router.add(fake)
    began = time.monotonic()
    handles = [await start_sale(client, fake, queue.id) for fake in fakes]
    while len(await queue.query("released", result_type=list[Any])) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - began
    calls = sum(f.names().index(Activity.MARKET_FILL_SLOT) + 2 for f in fakes)
    print(f"  activities per sale to Filled: {calls / count:.1f}")
    for handle in handles:
        await handle.terminate("benchmark done")
    await queue.terminate("benchmark done")
    return count / elapsed


async def bare_ceiling(client: Client, count: int) -> float:
    began = time.monotonic()
    handles = [
        await client.start_workflow(
            BareWorkflow.run, ACTIVITIES_TO_FILLED, id=f"bare-{uuid.uuid4()}", task_queue="bare"
        )
        for _ in range(count)
    ]
    for handle in handles:
        await handle.result()
    return count / (time.monotonic() - began)


async def events_per_period(client: Client, router: Router) -> float:
    lengths = (4, 10)
    events: list[int] = []
    periods: list[int] = []
    for n, duration in enumerate(lengths):
        fake = new_fake(20_000 + n, duration=duration)
        router.add(fake)
        handle = await start_sale(client, fake, None)
        outcome: SaleOutcome = await handle.result()
        history = await handle.fetch_history()
        events.append(len(history.events))
        periods.append(outcome.periods)
    return float(events[1] - events[0]) / max(1, periods[1] - periods[0])


async def main(count: int) -> None:
    async with await dev_server() as env:
        client = env.client
        router = Router()
        async with (
            fake_host(client, router, workflows=[*ALL_WORKFLOWS, FakeQueueWorkflow]),
            Worker(client, task_queue="bare", workflows=[BareWorkflow], activities=[noop]),
        ):
            print(f"{count} sales, Preparing → Filled, fake activities, dev server (in memory)")
            rate = await sales_to_filled(client, router, count)
            print(f"  sale workflow:      {rate:6.2f} sales/s")
            ceiling = await bare_ceiling(client, count)
            each = f"{ACTIVITIES_TO_FILLED} no-op activities each"
            print(f"  bare ceiling:       {ceiling:6.2f} workflows/s ({each})")
            per_period = await events_per_period(client, router)
            print(f"  history events per proving period: {per_period:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sales", type=int, default=30)
    asyncio.run(main(parser.parse_args().sales))
