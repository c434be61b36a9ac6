"""Slot queue throughput and chain-event latency on the real Temporal dev server.

Prints:
  * request intake: the time a StorageRequested of 65,535 slots takes to be accepted by the
    queue's update (bounded intake), the pure intake step alone, and the answer's payload size,
    next to the old per-item expansion for comparison (issue 13 point 1);
  * queue push → dispatched-and-released throughput for N queued items (default 1000), with
    fake sales that release their worker at once (the queue's own cost, not a sale's);
  * chain event → sale signal latency through the EventRouter (median and p95);
  * queue push → Filled throughput for the same N items sold by real SlotSale workflows with
    fake hooks, chain and ledger (each sale releases its worker at Filled, SALES-5).

    .venv/bin/python benchmarks/bench_queue.py [--items 1000] [--workers 3] [--events 50]
                                               [--sale-workers 20] [--slots 65535]
"""

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with workflow.unsafe.imports_passed_through():
    from activities.router import EventRouter
    from activities.service import closed_sales
    from benchmarks.bench_sale import FAKE_CHAIN_SETTINGS, Router, fake_host, new_fake
    from chain.events import SlotFilled
    from chain.fake import FakeChain
    from deploy.local.temporal import DEV_SERVER_STARTUP, temporal_cli
    from sales.api import (
        SALE_RELEASED_SIGNAL,
        SALES_TASK_QUEUE,
        SALES_VISIBILITY_QUERY,
        SLOT_SALE_WORKFLOW,
        Activity,
        SaleInput,
        SaleReleased,
    )
    from sales.models import SlotQueueItem
    from sales.queue import insert_bounded, items_for_request, take_request
    from sales.queue_api import PushItems, PushRequest, QueueInput, QueueSettings
    from tests.sales.conftest import example_request
    from tests.workflows.fakes import item_for
    from workflows.queue import SlotQueueWorkflow
    from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES


@workflow.defn(name=SLOT_SALE_WORKFLOW, sandboxed=False)  # a benchmark stand-in
class InstantSale:
    """Releases its worker immediately, then waits for one chain signal (latency probe)."""

    def __init__(self) -> None:
        self.signalled = False

    @workflow.signal(name="slot_filled")
    def slot_filled(self, event: object) -> None:
        self.signalled = True

    @workflow.query
    def heard(self) -> bool:
        return self.signalled

    @workflow.run
    async def run(self, sale: SaleInput) -> None:
        assert sale.queue_workflow_id is not None
        released = SaleReleased(request_id=sale.request_id, slot_index=sale.slot_index)
        await workflow.get_external_workflow_handle(sale.queue_workflow_id).signal(
            SALE_RELEASED_SIGNAL, released
        )
        await workflow.wait_condition(lambda: self.signalled, timeout=60)


def items(request_id: str, count: int) -> list[SlotQueueItem]:
    return [
        SlotQueueItem(
            request_id=request_id,
            slot_index=i,
            slot_size=1024,
            duration=3600,
            price_per_byte_per_second=1 + i % 7,
            collateral=1,
            expiry=4 * 10**9,  # far ahead: expired items are dropped, not sold
        )
        for i in range(count)
    ]


async def intake(client: Client, task_queue: str, slots: int, max_size: int) -> None:
    """Issue 13 point 1: one request of ``slots`` slots into a queue of ``max_size``."""
    queue = await client.start_workflow(
        SlotQueueWorkflow.run,
        QueueInput(settings=QueueSettings(max_workers=1, max_size=max_size)),
        id=f"bench-intake-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    request = example_request(nonce=uuid.uuid4().int, slots=slots, max_slot_loss=1)
    push = PushRequest(
        key=f"0x{uuid.uuid4().hex}:0",
        request_id=request.id,
        ask=request.ask,
        expires_at=4 * 10**9,
        collateral=request.ask.collateral_per_slot,
    )
    started = time.perf_counter()
    result = await queue.execute_update(SlotQueueWorkflow.push_request, push)
    update = time.perf_counter() - started
    await queue.terminate("benchmark over")
    started = time.perf_counter()
    take_request([], [], push.request_id, push.ask, push.expires_at, 1, random.Random(1), max_size)
    pure = time.perf_counter() - started
    size = len(result.model_dump_json().encode())
    print(f"request intake: {slots} slots into a queue of {max_size}: "
          f"update {update * 1000:.1f} ms (pure intake {pure * 1000:.1f} ms), "
          f"answer {size} bytes, {result.queued} queued, "
          f"{result.not_queued} kept implicit")  # fmt: skip
    sample = min(slots, 4096)
    small = push.ask.model_copy(update={"slots": sample})
    started = time.perf_counter()
    items: list[SlotQueueItem] = []
    for each in items_for_request(push.request_id, small, 4 * 10**9, 1, random.Random(1)):
        items, _ = insert_bounded(items, each, max_size)
    per_item = (time.perf_counter() - started) * slots / sample
    print(f"  per-item expansion of pre-patch queues: ~{per_item:.2f} s for {slots} slots "
          f"(measured on {sample})")  # fmt: skip


async def throughput(client: Client, task_queue: str, count: int, workers: int) -> float:
    queue = await client.start_workflow(
        SlotQueueWorkflow.run,
        QueueInput(
            settings=QueueSettings(
                max_workers=workers, max_size=max(count, workers), sale=FAKE_CHAIN_SETTINGS
            )
        ),
        id=f"bench-queue-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    request_id = "0x" + uuid.uuid4().hex * 2
    started = time.perf_counter()
    for chunk in range(0, count, 100):
        batch = items(request_id, count)[chunk : chunk + 100]
        await queue.execute_update(SlotQueueWorkflow.push_items, PushItems(items=batch))
    while True:
        status = await queue.query(SlotQueueWorkflow.status)
        if not status.items and not status.running:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await queue.terminate("benchmark over")
    return count / elapsed


async def to_filled(client: Client, count: int, workers: int) -> float:
    """Real SlotQueue and SlotSale workflows, fake activities (hooks, chain, ledger): items/s
    from the first push until every sale is Filled and has released its worker."""
    router = Router()
    fakes = [new_fake(30_000 + n, duration=3600) for n in range(count)]
    for fake in fakes:
        fake.finish_at = fake.created_at  # after Filled: payout at once, no proving load left
        router.add(fake)
    async with fake_host(client, router, sales_activities=[closed_sales]):
        queue = await client.start_workflow(
            SlotQueueWorkflow.run,
            QueueInput(
                settings=QueueSettings(
                    max_workers=workers, max_size=max(count, workers), sale=FAKE_CHAIN_SETTINGS
                )
            ),
            id=f"bench-filled-{uuid.uuid4()}",
            task_queue=SALES_TASK_QUEUE,
        )
        started = time.perf_counter()
        for chunk in range(0, count, 100):
            batch = [item_for(fake, 0) for fake in fakes[chunk : chunk + 100]]
            await queue.execute_update(SlotQueueWorkflow.push_items, PushItems(items=batch))
        deadline = time.monotonic() + 60 + count
        while True:
            filled = sum(Activity.MARKET_FILL_SLOT in f.names() for f in fakes)
            if filled == count:
                with contextlib.suppress(RPCError):  # a busy worker may answer late: ask again
                    status = await queue.query(SlotQueueWorkflow.status)
                    if not status.items and not status.running:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{filled}/{count} filled in time")
            await asyncio.sleep(0.5)
        elapsed = time.perf_counter() - started
        await queue.terminate("benchmark over")
        running = f"{SALES_VISIBILITY_QUERY} AND ExecutionStatus='Running'"
        async for sale in client.list_workflows(running):
            with contextlib.suppress(RPCError):  # paid out and finished meanwhile
                await client.get_workflow_handle(sale.id).terminate("benchmark over")
    return count / elapsed


async def latency(client: Client, task_queue: str, events: int) -> list[float]:
    queue = await client.start_workflow(
        SlotQueueWorkflow.run,
        QueueInput(settings=QueueSettings(max_workers=events, max_size=events)),
        id=f"bench-latency-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    request_id = "0x" + uuid.uuid4().hex * 2
    await queue.execute_update(
        SlotQueueWorkflow.push_items, PushItems(items=items(request_id, events))
    )
    router = EventRouter(client, FakeChain().market("0x" + "11" * 20), queue.id)
    samples = []
    from sales.api import sale_workflow_id
    from sales.ids import slot_id

    for index in range(events):
        handle = client.get_workflow_handle(sale_workflow_id(slot_id(request_id, index)))
        while True:  # the sale must exist before the event
            try:
                await handle.query(InstantSale.heard)
                break
            except Exception:
                await asyncio.sleep(0.02)
        event = SlotFilled(
            block_number=1,
            block_timestamp=1,
            tx_hash="0x" + uuid.uuid4().hex * 2,
            log_index=index,
            request_id=request_id,
            slot_index=index,
        )
        started = time.perf_counter()
        await router(event)
        while not await handle.query(InstantSale.heard):  # noqa: ASYNC110 - polls another process
            await asyncio.sleep(0.005)
        samples.append(time.perf_counter() - started)
    await queue.terminate("benchmark over")
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--sale-workers", type=int, default=20)
    parser.add_argument("--slots", type=int, default=65535)
    args = parser.parse_args()
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        ui=False,
        dev_server_log_level="error",
        dev_server_startup_timeout=DEV_SERVER_STARTUP,
    )
    task_queue = f"bench-{uuid.uuid4()}"
    try:
        async with Worker(
            env.client, task_queue=task_queue, workflows=[SlotQueueWorkflow, InstantSale]
        ):
            for max_size in (128, 4096):
                await intake(env.client, task_queue, args.slots, max_size)
            rate = await throughput(env.client, task_queue, args.items, args.workers)
            print(f"queue push → released: {args.items} items, {args.workers} workers: "
                  f"{rate:.1f} items/s")  # fmt: skip
            samples = sorted(await latency(env.client, task_queue, args.events))
            filled = await to_filled(env.client, args.items, args.sale_workers)
            print(f"queue push → Filled (real sale workflows, fake hooks): {args.items} items, "
                  f"{args.sale_workers} workers: {filled:.1f} items/s")  # fmt: skip
            p95 = samples[int(0.95 * (len(samples) - 1))]
            print(f"chain event → sale signal: median {statistics.median(samples) * 1000:.1f} ms, "
                  f"p95 {p95 * 1000:.1f} ms over {len(samples)} events")  # fmt: skip
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
