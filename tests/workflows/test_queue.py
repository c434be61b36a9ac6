"""SlotQueueWorkflow, signal-driven on the real dev server (SQ-*, SALES-5..14).

A fake SlotSale child stands in for the sale: it records that it started and waits for the
test to tell it how to end (release, reprocess, or close without releasing).
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from tests.polling import until

with workflow.unsafe.imports_passed_through():
    from activities.service import closed_sales
    from sales.api import (
        AvailabilitySaved,
    )
    from sales.models import SlotQueueItem
    from sales.queue_api import (
        DeleteSlots,
        PushItems,
        PushOutcome,
        PushRequest,
        QueueInput,
        QueueSettings,
        QueueSignal,
        QueueStatus,
    )
    from tests.sales.conftest import example_request
    from tests.workflows.fake_sale import FakeEnd, FakeSale
    from workflows.queue import SlotQueueWorkflow


QueueHandle = WorkflowHandle[SlotQueueWorkflow, QueueStatus]
StartQueue = Callable[..., Awaitable[QueueHandle]]
RID = ContextVar("RID", default="0x" + "ab" * 32)
FAR_FUTURE = 4_000_000_000
"""Items' absolute expiry (year 2096): the queue drops items of requests already expired."""


@pytest.fixture(autouse=True)
def fresh_request_id() -> None:
    """Sale workflow ids derive from slot ids: a fresh request per test keeps tests apart."""
    RID.set("0x" + uuid.uuid4().hex * 2)


def item(
    index: int,
    price: int = 1,
    request_id: str | None = None,
    seen: bool = False,
    expiry: int = FAR_FUTURE,
    repair: bool = False,
) -> SlotQueueItem:
    return SlotQueueItem(
        request_id=request_id or RID.get(),
        slot_index=index,
        slot_size=10,
        duration=10,
        price_per_byte_per_second=price,
        collateral=1,
        expiry=expiry,
        seen=seen,
        repair=repair,
    )


async def eventually(
    handle: QueueHandle, check: Callable[[QueueStatus], bool], within: float = 15
) -> QueueStatus:
    """Poll the queue's status until ``check`` holds; the last status is in the failure."""
    last: list[QueueStatus] = []

    async def holds() -> QueueStatus | None:
        last[:] = [await handle.query(SlotQueueWorkflow.status)]
        return last[0] if check(last[0]) else None

    try:
        found = await until(holds, within, "the queue's status to match")
    except AssertionError as e:
        raise AssertionError(f"{e}; last status: {last[0] if last else None}") from None
    assert found is not None  # until returns only a truthy value
    return found


def running_indices(status: QueueStatus) -> list[int]:
    return sorted(r.item.slot_index for r in status.running)


async def end_sale(client: Client, status: QueueStatus, index: int, end: FakeEnd) -> None:
    """Tell one running fake sale how to end; the queue may list it a moment before its start
    is confirmed, so a not-found answer is retried until a deadline."""
    held = next(r for r in status.running if r.item.slot_index == index)
    deadline = time.monotonic() + 15
    while True:
        try:
            await client.get_workflow_handle(held.workflow_id).signal(FakeSale.end, end)
            return
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


@pytest.fixture
async def queue(temporal_client: Client, task_queue: str) -> AsyncIterator[StartQueue]:
    handles: list[QueueHandle] = []

    async def start(**settings: object) -> QueueHandle:
        handle = await temporal_client.start_workflow(
            SlotQueueWorkflow.run,
            QueueInput(settings=QueueSettings.model_validate(settings)),
            id=f"queue-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        handles.append(handle)
        return handle

    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[SlotQueueWorkflow, FakeSale],
        activities=[closed_sales],
    ):
        yield start
        for handle in handles:
            with contextlib.suppress(RPCError):
                await handle.terminate("test over")


async def test_sq_3_a_new_queue_is_paused_and_empty(queue: StartQueue) -> None:
    handle = await queue()
    status = await handle.query(SlotQueueWorkflow.status)
    assert status.paused and status.items == [] and status.running == []


async def test_sq_9_sales_5_unseen_push_unpauses_and_starts_a_sale(queue: StartQueue) -> None:
    handle = await queue()
    result = await handle.execute_update(SlotQueueWorkflow.push_items, PushItems(items=[item(0)]))
    assert [p.outcome for p in result.items] == [PushOutcome.QUEUED]
    status = await eventually(handle, lambda s: len(s.running) == 1)
    assert not status.paused and status.running[0].workflow_id.startswith("sale-0x")


async def test_sq_21_at_most_max_workers_sales_at_once(
    temporal_client: Client, queue: StartQueue
) -> None:
    handle = await queue(max_workers=2)
    await handle.execute_update(
        SlotQueueWorkflow.push_items, PushItems(items=[item(i, price=10 - i) for i in range(4)])
    )
    status = await eventually(handle, lambda s: len(s.running) == 2)
    assert running_indices(status) == [0, 1] and len(status.items) == 2
    await end_sale(temporal_client, status, 0, FakeEnd())
    status = await eventually(handle, lambda s: running_indices(s) == [1, 2])
    assert [i.slot_index for i in status.items] == [3]


async def test_sq_22_items_pushed_together_run_in_priority_order(
    temporal_client: Client, queue: StartQueue
) -> None:
    handle = await queue(max_workers=1)
    prices = [1, 3, 0, 2]
    await handle.execute_update(
        SlotQueueWorkflow.push_items,
        PushItems(items=[item(i, price=p) for i, p in enumerate(prices)]),
    )
    order = []
    for _ in prices:
        status = await eventually(handle, lambda s: len(s.running) == 1)
        index = status.running[0].item.slot_index
        order.append(prices[index])
        await end_sale(temporal_client, status, index, FakeEnd())
        await eventually(handle, lambda s: all(r.item.slot_index != index for r in s.running))  # noqa: B023
    assert order == [3, 2, 1, 0]


async def test_sq_7_a_queued_or_running_slot_is_refused_as_existing(queue: StartQueue) -> None:
    handle = await queue(max_workers=1)
    await handle.execute_update(SlotQueueWorkflow.push_items, PushItems(items=[item(0), item(1)]))
    await eventually(handle, lambda s: len(s.running) == 1)
    again = await handle.execute_update(
        SlotQueueWorkflow.push_items, PushItems(items=[item(0, price=9), item(1, price=9)])
    )
    assert [p.outcome for p in again.items] == [PushOutcome.EXISTS, PushOutcome.EXISTS]


async def test_q_1_a_full_queue_evicts_its_lowest_priority_item(
    temporal_client: Client, queue: StartQueue
) -> None:
    handle = await queue(max_workers=1, max_size=2)
    await handle.execute_update(SlotQueueWorkflow.push_items, PushItems(items=[item(0, price=50)]))
    await eventually(handle, lambda s: len(s.running) == 1)
    result = await handle.execute_update(
        SlotQueueWorkflow.push_items,
        PushItems(items=[item(1, price=5), item(2, price=9), item(3, price=1)]),
    )
    assert [p.outcome for p in result.items] == [
        PushOutcome.QUEUED,
        PushOutcome.QUEUED,
        PushOutcome.EVICTED,
    ]
    status = await handle.query(SlotQueueWorkflow.status)
    assert [i.slot_index for i in status.items] == [2, 1]


async def test_sales_6_reprocess_comes_back_seen_and_pauses_the_queue(
    temporal_client, queue
) -> None:  # type: ignore[no-untyped-def]
    """SQ-20.4: popping a seen item pauses the queue with the item back in it."""
    handle = await queue(max_workers=1)
    await handle.execute_update(SlotQueueWorkflow.push_items, PushItems(items=[item(0)]))
    status = await eventually(handle, lambda s: len(s.running) == 1)
    await end_sale(temporal_client, status, 0, FakeEnd(reprocess=True))
    status = await eventually(handle, lambda s: s.paused and not s.running and len(s.items) == 1)
    assert status.items[0].seen


async def test_sales_14_enabled_availability_saved_clears_seen_and_resumes(
    temporal_client, queue
) -> None:  # type: ignore[no-untyped-def]
    handle = await queue(max_workers=1)
    await handle.execute_update(SlotQueueWorkflow.push_items, PushItems(items=[item(0, seen=True)]))
    status = await handle.query(SlotQueueWorkflow.status)
    assert status.paused, "SQ-9: pushing a seen item leaves the pause as it is"
    disabled = AvailabilitySaved(availability_id="0x" + "01" * 32, enabled=False)
    await handle.signal(SlotQueueWorkflow.availability_saved, disabled)
    await handle.signal(SlotQueueWorkflow.resume)  # a no-op signal to flush the one before
    status = await eventually(handle, lambda s: True)
    enabled = disabled.model_copy(update={"enabled": True})
    await handle.signal(SlotQueueWorkflow.availability_saved, enabled)
    status = await eventually(handle, lambda s: len(s.running) == 1)
    assert not status.running[0].item.seen


async def test_sq_17_delete_removes_a_slot_or_a_whole_request(queue: StartQueue) -> None:
    handle = await queue(max_workers=1)
    other = "0x" + uuid.uuid4().hex * 2
    await handle.execute_update(SlotQueueWorkflow.push_items, PushItems(items=[item(9, price=99)]))
    await eventually(handle, lambda s: len(s.running) == 1)
    await handle.execute_update(
        SlotQueueWorkflow.push_items,
        PushItems(items=[item(0), item(1), item(0, request_id=other), item(1, request_id=other)]),
    )
    await handle.signal(
        SlotQueueWorkflow.delete, DeleteSlots(key="tx1:0", request_id=other, slot_index=1)
    )
    status = await eventually(handle, lambda s: len(s.items) == 3)
    await handle.signal(SlotQueueWorkflow.delete, DeleteSlots(key="tx1:1", request_id=RID.get()))
    status = await eventually(handle, lambda s: len(s.items) == 1)
    assert status.items[0].request_id == other and status.items[0].slot_index == 0


async def test_sales_7_push_request_queues_every_slot_that_fits_and_dedupes_its_event(
    queue: StartQueue,
) -> None:
    """SALES-7 with bounded intake: a request that fits is queued whole, answered with counts
    (no per-slot list), and a re-delivered StorageRequested changes nothing."""
    handle = await queue(max_workers=1)
    request = example_request(slots=6)
    push = PushRequest(
        key="0xfeed:3",
        request_id=RID.get(),
        ask=request.ask,
        expires_at=FAR_FUTURE,
        collateral=request.ask.collateral_per_slot,
    )
    first = await handle.execute_update(SlotQueueWorkflow.push_request, push)
    assert (first.queued, first.not_queued, first.items) == (6, 0, [])
    status = await eventually(handle, lambda s: len(s.items) + len(s.running) == 6)
    indices = [i.slot_index for i in status.items] + running_indices(status)
    assert sorted(indices) == list(range(6))
    replay = await handle.execute_update(SlotQueueWorkflow.push_request, push)
    assert replay.duplicate_event and replay.queued == 0, "a re-delivered event changes nothing"


async def test_a_65535_slot_request_is_taken_fast_with_a_small_answer(queue: StartQueue) -> None:
    """Issue 13 point 1: the largest request (65,535 slots) is accepted well under the SDK's 2 s
    deadlock detector with an answer under 64 KiB: the queue picks only the slots that fit at
    random and keeps the rest implicit; a second push of the same request adds nothing."""
    handle = await queue(max_workers=1, max_size=16)
    request = example_request(slots=65535, max_slot_loss=1)
    push = PushRequest(
        key="0xbig:0",
        request_id=RID.get(),
        ask=request.ask,
        expires_at=FAR_FUTURE,
        collateral=request.ask.collateral_per_slot,
    )
    started = time.monotonic()
    result = await handle.execute_update(SlotQueueWorkflow.push_request, push)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"intake took {elapsed:.2f} s"
    assert len(result.model_dump_json()) < 64 * 1024
    assert (result.queued, result.not_queued) == (16, 65535 - 16)
    status = await eventually(handle, lambda s: len(s.items) == 16 and len(s.running) == 1)
    indices = {i.slot_index for i in status.items} | set(running_indices(status))
    assert len(indices) == 17 and indices != set(range(17)), "slots picked at random"
    assert status.pending_slots == 65535 - 17, "the rest is implicit: refilled, not built"
    again = await handle.execute_update(
        SlotQueueWorkflow.push_request, push.model_copy(update={"key": "0xbig:1"})
    )
    assert (again.queued, again.exists, again.not_queued) == (0, 17, 65535 - 17)


async def test_the_rest_of_a_request_refills_the_queue_as_sales_end(
    temporal_client: Client, queue: StartQueue
) -> None:
    """Issue 13 point 1, "keep the rest implicit": slots that did not fit are not lost; as each
    sale frees its worker the queue takes the request's next slots, each exactly once, and a
    request-level delete (fulfilled, cancelled, failed) drops what is left."""
    handle = await queue(max_workers=1, max_size=2)
    request = example_request(slots=5, max_slot_loss=0)
    push = PushRequest(
        key="0xrest:0",
        request_id=RID.get(),
        ask=request.ask,
        expires_at=FAR_FUTURE,
        collateral=request.ask.collateral_per_slot,
    )
    result = await handle.execute_update(SlotQueueWorkflow.push_request, push)
    assert (result.queued, result.not_queued) == (2, 3)
    sold: list[int] = []
    for _ in range(4):
        status = await eventually(
            handle, lambda s: len(s.running) == 1 and s.running[0].item.slot_index not in sold
        )
        sold.append(status.running[0].item.slot_index)
        await end_sale(temporal_client, status, sold[-1], FakeEnd())
    status = await eventually(
        handle, lambda s: len(s.running) == 1 and s.running[0].item.slot_index not in sold
    )
    assert sorted([*sold, status.running[0].item.slot_index]) == list(range(5))
    assert status.pending_slots == 0 and status.items == []

    other = "0x" + uuid.uuid4().hex * 2
    again = await queue(max_workers=1, max_size=1)
    await again.execute_update(
        SlotQueueWorkflow.push_request, push.model_copy(update={"request_id": other})
    )
    status = await again.query(SlotQueueWorkflow.status)
    assert 3 <= status.pending_slots <= 4, "one or two taken (queued, maybe dispatched)"
    await again.signal(SlotQueueWorkflow.delete, DeleteSlots(key="tx9:0", request_id=other))
    await eventually(again, lambda s: s.pending_slots == 0)


async def test_the_rest_of_a_request_survives_continue_as_new(
    temporal_client: Client, queue: StartQueue
) -> None:
    """The implicit rest is queue state: it is carried across continue-as-new like the items."""
    handle = await queue(max_workers=1, max_size=1, events_per_run=10)
    request = example_request(slots=50, max_slot_loss=0)
    push = PushRequest(
        key="0xcan:0",
        request_id=RID.get(),
        ask=request.ask,
        expires_at=FAR_FUTURE,
        collateral=request.ask.collateral_per_slot,
    )
    await handle.execute_update(SlotQueueWorkflow.push_request, push)
    await eventually(handle, lambda s: s.pending_slots == 48)
    first_run = (await temporal_client.get_workflow_handle(handle.id).describe()).run_id
    for _ in range(10):
        await handle.signal(SlotQueueWorkflow.resume)  # handled messages count towards a run
    deadline = time.monotonic() + 15
    while (await temporal_client.get_workflow_handle(handle.id).describe()).run_id == first_run:
        assert time.monotonic() < deadline, "the queue did not continue as new"
        await asyncio.sleep(0.05)
    status = await eventually(handle, lambda s: len(s.running) == 1)
    assert status.pending_slots == 48, "the rest was carried to the new run"


@pytest.mark.parametrize("slots", [0, 65536])
async def test_sq_15_push_request_outside_1_to_65535_slots(queue: StartQueue, slots: int) -> None:
    handle = await queue()
    request = example_request(slots=1)
    ask = request.ask.model_copy(update={"slots": slots})
    push = PushRequest(key="k", request_id=request.id, ask=ask, expires_at=1, collateral=1)
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(SlotQueueWorkflow.push_request, push)
    status = await handle.query(SlotQueueWorkflow.status)
    assert status.items == []


async def test_a_sale_that_closes_without_releasing_frees_its_worker(
    temporal_client, queue
) -> None:  # type: ignore[no-untyped-def]
    handle = await queue(max_workers=1)
    await handle.execute_update(SlotQueueWorkflow.push_items, PushItems(items=[item(0), item(1)]))
    status = await eventually(handle, lambda s: len(s.running) == 1)
    first = status.running[0].item.slot_index
    await end_sale(temporal_client, status, first, FakeEnd(release=False))
    status = await eventually(
        handle, lambda s: len(s.running) == 1 and s.running[0].item.slot_index != first
    )


async def test_continue_as_new_carries_the_queue(
    temporal_client: Client, queue: StartQueue
) -> None:
    handle = await queue(max_workers=1, events_per_run=10)
    await handle.execute_update(SlotQueueWorkflow.push_items, PushItems(items=[item(0, price=99)]))
    await eventually(handle, lambda s: len(s.running) == 1)
    for index in range(1, 13):
        await handle.execute_update(
            SlotQueueWorkflow.push_items, PushItems(items=[item(index)], key=f"k{index}")
        )
    description = await temporal_client.get_workflow_handle(handle.id).describe()
    assert description.run_id != handle.result_run_id, "the queue continued as new"
    status = await eventually(handle, lambda s: len(s.items) == 12)
    assert status.running[0].item.slot_index == 0
    again = await handle.execute_update(
        SlotQueueWorkflow.push_items, PushItems(items=[item(1)], key="k1")
    )
    assert again.items == [], "event keys survive continue-as-new"


async def test_sq_5_stop_ends_the_queue_and_later_pushes_fail(queue: StartQueue) -> None:
    handle = await queue()
    await handle.signal(QueueSignal.STOP)
    status = await handle.result()
    assert status.items == []
    with pytest.raises(Exception):  # noqa: B017 - a closed workflow refuses the update
        await handle.execute_update(SlotQueueWorkflow.push_items, PushItems(items=[item(0)]))


async def test_sales_5_an_instant_release_frees_the_worker_for_the_next_item(
    temporal_client: Client,
) -> None:
    """Sales that release their worker at once (and never close) must not hold it: every item
    runs with one worker. The narrower race, a release arriving before the queue saw the child
    start confirmed, is guarded in `_dispatch` but not forced here (it depends on timing)."""
    from tests.workflows.fake_sale import InstantReleaseSale

    task_queue = f"test-{uuid.uuid4()}"
    async with Worker(
        temporal_client, task_queue=task_queue, workflows=[SlotQueueWorkflow, InstantReleaseSale]
    ):
        handle = await temporal_client.start_workflow(
            SlotQueueWorkflow.run,
            QueueInput(settings=QueueSettings(max_workers=1)),
            id=f"queue-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        for index in range(3):
            await handle.execute_update(
                SlotQueueWorkflow.push_items, PushItems(items=[item(index)])
            )
        status = await eventually(handle, lambda s: not s.items and not s.running)
        assert status.items == [] and status.running == []
        await handle.terminate("test over")


async def test_items_of_expired_requests_are_dropped_but_repairs_are_sold(
    queue: StartQueue,
) -> None:
    """Beyond SQ-20: an unfilled request past its expiry can never start, so its item is dropped
    at dispatch without a sale; a repair item carries its started request's past expiry and is
    sold."""
    handle = await queue(max_workers=3)
    past = int(time.time()) - 60
    items = [item(0, expiry=past), item(1, expiry=past, repair=True), item(2)]
    await handle.execute_update(SlotQueueWorkflow.push_items, PushItems(items=items))
    status = await eventually(handle, lambda s: not s.items and len(s.running) == 2)
    assert running_indices(status) == [1, 2]


async def test_a_carried_sale_that_closes_without_releasing_frees_its_worker(
    temporal_client: Client, queue: StartQueue
) -> None:
    """SALES-5 across continue-as-new: a sale the previous run started is not the new run's
    child, so the new run polls it; terminated without a release, its worker is freed."""
    handle = await queue(max_workers=1, events_per_run=10, carried_check_seconds=1)
    await handle.execute_update(SlotQueueWorkflow.push_items, PushItems(items=[item(0, price=99)]))
    held = (await eventually(handle, lambda s: len(s.running) == 1)).running[0]
    first_run = (await temporal_client.get_workflow_handle(handle.id).describe()).run_id
    for index in range(1, 13):
        await handle.execute_update(
            SlotQueueWorkflow.push_items, PushItems(items=[item(index)], key=f"k{index}")
        )
    description = await temporal_client.get_workflow_handle(handle.id).describe()
    assert description.run_id != first_run, "the queue continued as new"
    await temporal_client.get_workflow_handle(held.workflow_id).terminate("operator")
    status = await eventually(
        handle, lambda s: len(s.running) == 1 and s.running[0].item.slot_index != 0
    )
    assert held.item.key not in [r.item.key for r in status.running]
