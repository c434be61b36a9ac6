"""Sale-workflow test harness: workers on the three task queues over scripted fake activities.

Uses the shared function-scoped `time_skipping_env` of tests/conftest.py.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from sales.api import (
    CHAIN_TX_TASK_QUEUE,
    PROVING_TASK_QUEUE,
    SALES_TASK_QUEUE,
    SLOT_HOSTING_WORKFLOW,
    Activity,
    AvailabilitySaved,
    ChainEvent,
    SaleInput,
    SaleReleased,
    SaleSettings,
    SaleSignal,
    sale_workflow_id,
)
from sales.ids import slot_id
from sales.models import Reservation
from tests.polling import until
from tests.workflows.fake_queue import FakeQueueWorkflow
from tests.workflows.fakes import FakeSale, an_availability, item_for
from workflows.hosting import SlotHostingWorkflow
from workflows.sale import SlotSaleWorkflow
from workflows.sale_state import HostingInput, SaleData, SaleOutcome, StateName

MAX_CACHED = 1000


async def eventually(
    check: Callable[[], Any],
    deadline: float = 10.0,
    env: WorkflowEnvironment | None = None,
) -> Any:
    """Poll an async check until it returns a truthy value (no blind sleeps).

    With `env`, each poll also lets one virtual second pass, so durable timers on the way
    (period boundaries, the dispersal window) fire at once instead of in real time.
    """
    pause = (lambda: env.sleep(1)) if env is not None else None
    return await until(check, deadline, "the condition", every=0.02, pause=pause)


@dataclass
class Sale:
    env: WorkflowEnvironment
    fake: FakeSale
    handle: WorkflowHandle[Any, SaleOutcome]
    queue: WorkflowHandle[Any, Any]

    async def state(self) -> StateName:
        return StateName(await self.handle.query("state", result_type=str))

    async def data(self) -> SaleData:
        data: SaleData = await self.handle.query("sale", result_type=SaleData)
        return data

    async def reach(self, state: StateName, deadline: float = 10.0) -> None:
        async def there() -> bool:
            return await self.state() == state

        await eventually(there, deadline)

    async def signal(
        self, signal: SaleSignal, key: str = "0xtx:0", slot_index: int | None = None
    ) -> None:
        """Send a chain event and wait until the sale has seen it (its key is recorded)."""
        event = ChainEvent(key=key, request_id=self.fake.request.id, slot_index=slot_index)
        await self.handle.signal(str(signal), event)

        async def seen() -> bool:
            return key in (await self.data()).seen_events

        await eventually(seen)

    async def held(self, activity: Activity) -> None:
        """Wait until the scripted gate on `activity` holds a call."""
        gate = self.fake.gates[activity]

        async def entered() -> bool:
            return gate.entered.is_set()

        await eventually(entered, env=self.env)

    async def result(self) -> SaleOutcome:
        return await self.handle.result()

    async def released(self) -> list[SaleReleased]:
        notices: list[SaleReleased] = await self.queue.query(
            "released", result_type=list[SaleReleased]
        )
        return notices

    async def saved(self) -> list[AvailabilitySaved]:
        notices: list[AvailabilitySaved] = await self.queue.query(
            "saved", result_type=list[AvailabilitySaved]
        )
        return notices


class SaleRunner:
    """Starts workers once per test and sales on demand."""

    def __init__(self, env: WorkflowEnvironment, stack: AsyncExitStack) -> None:
        self.env = env
        self.stack = stack
        self.fake: FakeSale | None = None

    async def start(
        self,
        fake: FakeSale | None = None,
        *,
        slot_index: int = 0,
        recovery: bool = False,
        reservation: Reservation | None = None,
        settings: SaleSettings | None = None,
        with_item: bool = True,
        queue: bool = True,
    ) -> Sale:
        fake = fake or FakeSale(availability=an_availability())
        fake.created_at = int((await self.env.get_current_time()).timestamp())
        client = self.env.client
        for task_queue in (SALES_TASK_QUEUE, CHAIN_TX_TASK_QUEUE, PROVING_TASK_QUEUE):
            await self.stack.enter_async_context(
                Worker(
                    client,
                    task_queue=task_queue,
                    workflows=[SlotSaleWorkflow, SlotHostingWorkflow, FakeQueueWorkflow]
                    if task_queue == SALES_TASK_QUEUE
                    else [],
                    activities=fake.activities(),
                    build_id="sale-tests",
                    # deliver activity cancellation within a heartbeat or two
                    max_heartbeat_throttle_interval=timedelta(milliseconds=100),
                    default_heartbeat_throttle_interval=timedelta(milliseconds=100),
                    max_cached_workflows=MAX_CACHED if task_queue == SALES_TASK_QUEUE else 1000,
                )
            )
        queue_id = f"queue-{uuid.uuid4()}"
        queue_handle = await client.start_workflow(
            FakeQueueWorkflow.run, id=queue_id, task_queue=SALES_TASK_QUEUE
        )
        request = fake.request
        workflow_id = sale_workflow_id(slot_id(request.id, slot_index))
        queue_workflow_id = queue_id if queue else None
        handle: WorkflowHandle[Any, SaleOutcome]
        if recovery:
            handle = await client.start_workflow(
                SLOT_HOSTING_WORKFLOW,
                HostingInput.recovery(
                    request_id=request.id,
                    slot_index=slot_index,
                    reservation=reservation,
                    queue_workflow_id=queue_workflow_id,
                    settings=settings or SaleSettings(),
                ),
                id=workflow_id,
                task_queue=SALES_TASK_QUEUE,
                result_type=SaleOutcome,
            )
        else:
            handle = await client.start_workflow(
                SlotSaleWorkflow.run,
                SaleInput(
                    request_id=request.id,
                    slot_index=slot_index,
                    item=item_for(fake, slot_index) if with_item else None,
                    queue_workflow_id=queue_workflow_id,
                    settings=settings or SaleSettings(),
                ),
                id=workflow_id,
                task_queue=SALES_TASK_QUEUE,
            )
        self.fake = fake
        return Sale(self.env, fake, handle, queue_handle)


@pytest.fixture
async def sales(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[SaleRunner]:
    async with AsyncExitStack() as stack:
        yield SaleRunner(time_skipping_env, stack)
