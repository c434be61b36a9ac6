"""EventRouter (SALES-7..13): chain events reach the queue and the sales, once in effect.

The fake chain emits the follower's event models to the router; the queue is the real
SlotQueueWorkflow on the dev server with fake sale children that record the signals they get.
"""

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import Worker

from tests.polling import until

with workflow.unsafe.imports_passed_through():
    from activities.router import EventRouter
    from chain.events import SlotFreed, StorageRequested
    from chain.fake import FakeChain
    from sales.api import sale_workflow_id
    from sales.ids import slot_id
    from sales.models import (
        Fp2Element,
        G1Point,
        G2Point,
        Groth16Proof,
        StorageRequest,
        repair_collateral,
    )
    from sales.queue_api import QueueInput, QueueSettings, QueueStatus
    from tests.sales.conftest import example_request
    from tests.workflows.fake_sale import FakeEnd, FakeSale
    from workflows.queue import SlotQueueWorkflow

HOST = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
PROOF = Groth16Proof(
    a=G1Point(x=1, y=2),
    b=G2Point(x=Fp2Element(real=1, imag=2), y=Fp2Element(real=3, imag=4)),
    c=G1Point(x=1, y=2),
)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 15) -> None:
    await until(check, within, what)


class Routed:
    def __init__(self, client: Client, queue: WorkflowHandle[SlotQueueWorkflow, QueueStatus]):
        self.client = client
        self.queue = queue
        # the chain's clock is the queue's: requests posted now have not expired for it
        self.chain = FakeChain(now=int(time.time()))
        self.request: StorageRequest = example_request(nonce=uuid.uuid4().int, slots=3)
        self.chain.mint(self.request.client, 10**30)
        self.chain.mint(HOST, 10**30)
        self.host = self.chain.market(HOST)
        self.router = EventRouter(client, self.host, queue.id)
        self.chain.add_listener(self.router)

    async def status(self) -> QueueStatus:
        return await self.queue.query(SlotQueueWorkflow.status)

    async def signals_of(self, index: int) -> list[str]:
        """The chain signals one slot's fake sale has heard; none while it cannot answer.

        The queue lists a sale as running before its start is confirmed, and a sale may be
        closing while it is asked: either way the query fails with an RPCError, which the
        polling caller must treat as "not yet", not as a failure (this raced before)."""
        sid = slot_id(self.request.id, index)
        handle = self.client.get_workflow_handle(sale_workflow_id(sid))
        try:
            signals: list[str] = await handle.query(FakeSale.signals)
        except RPCError:
            return []
        return signals

    async def fill(self, index: int) -> None:
        await self.host.reserve_slot(self.request.id, index)
        collateral = await self.host.slot_collateral(self.request.id, index)
        await self.host.fill_slot(self.request.id, index, PROOF, collateral)


@pytest.fixture
async def routed(temporal_client: Client, task_queue: str) -> AsyncIterator[Routed]:
    async with Worker(
        temporal_client, task_queue=task_queue, workflows=[SlotQueueWorkflow, FakeSale]
    ):
        queue = await temporal_client.start_workflow(
            SlotQueueWorkflow.run,
            QueueInput(settings=QueueSettings(max_workers=3)),
            id=f"queue-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        yield Routed(temporal_client, queue)
        await queue.terminate("test over")


async def test_sales_7_storage_requested_queues_every_slot_once(routed: Routed) -> None:
    await routed.chain.market(routed.request.client).request_storage(routed.request)

    async def three_running() -> bool:
        return len((await routed.status()).running) == 3

    await eventually(three_running, "three sales")
    status = await routed.status()
    assert {r.item.slot_index for r in status.running} == {0, 1, 2}
    assert all(r.item.collateral == routed.request.ask.collateral_per_slot for r in status.running)
    requested = next(e for e in routed.chain.events if isinstance(e, StorageRequested))
    await routed.router(requested)  # the follower re-delivers after a crash
    assert (await routed.status()).items == [], "a repeated event queues nothing"


async def test_sales_12_slot_filled_reaches_only_that_slots_sale(routed: Routed) -> None:
    await routed.chain.market(routed.request.client).request_storage(routed.request)

    async def running() -> bool:
        return len((await routed.status()).running) == 3

    await eventually(running, "three sales")
    await routed.fill(0)

    async def slot_0_told() -> bool:
        return "slot_filled" in await routed.signals_of(0)

    await eventually(slot_0_told, "slot 0's sale to hear SlotFilled")
    assert "slot_filled" not in await routed.signals_of(1)


async def test_sales_10_request_fulfilled_reaches_every_sale(routed: Routed) -> None:
    await routed.chain.market(routed.request.client).request_storage(routed.request)

    async def running() -> bool:
        return len((await routed.status()).running) == 3

    await eventually(running, "three sales")
    for index in range(3):
        await routed.fill(index)

    async def all_told() -> bool:
        return all(["request_fulfilled" in await routed.signals_of(i) for i in range(3)])

    await eventually(all_told, "every sale to hear RequestFulfilled")


async def test_sales_8_a_freed_slot_comes_back_with_repair_collateral(routed: Routed) -> None:
    await routed.chain.market(routed.request.client).request_storage(routed.request)

    async def running() -> bool:
        return len((await routed.status()).running) == 3

    await eventually(running, "three sales")
    for index in range(3):
        await routed.fill(index)
    sale = routed.client.get_workflow_handle(sale_workflow_id(slot_id(routed.request.id, 1)))
    await sale.signal(FakeSale.end, FakeEnd())
    await sale.result()
    await routed.host.free_slot(slot_id(routed.request.id, 1))  # forcibly frees a running slot
    assert any(isinstance(e, SlotFreed) for e in routed.chain.events)

    async def repair_running() -> bool:
        return any(r.item.repair for r in (await routed.status()).running)

    await eventually(repair_running, "the freed slot's repair sale")
    repair = next(r.item for r in (await routed.status()).running if r.item.repair)
    expected = repair_collateral(routed.request.ask.collateral_per_slot, 10)
    assert repair.slot_index == 1 and repair.collateral == expected


async def test_a_refused_request_is_logged_once_counted_and_never_queued(
    routed: Routed, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 13 point 2: a request outside the bounds (here slotSize 0, which the real Codex
    marketplace accepts) is refused at the gate: one warning with its reason, one count under
    its bound's name, and the router returns normally so the follower moves on (no retry)."""
    zero = example_request(nonce=uuid.uuid4().int, slots=3, slot_size=0)
    with caplog.at_level(logging.WARNING, logger="activities.router"):
        await routed.chain.market(zero.client).request_storage(zero)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "zero_slot_size" in refusals[0].getMessage()
    assert routed.router.refused == {"zero_slot_size": 1}
    status = await routed.status()
    assert status.items == [] and status.running == []


async def test_a_65535_slot_request_routes_into_the_queue_with_counts(routed: Routed) -> None:
    """Issue 13 point 1 through the router: the largest request the chain allows reaches the
    real queue in one bounded update; the queue and its workers fill, the rest stays implicit."""
    big = example_request(nonce=uuid.uuid4().int, slots=65535, max_slot_loss=1)
    routed.chain.mint(big.client, big.ask.total_price)
    started = time.monotonic()
    await routed.chain.market(big.client).request_storage(big)
    assert time.monotonic() - started < 2.0

    async def full() -> bool:
        status = await routed.status()
        return len(status.items) == status.max_size and len(status.running) == 3

    await eventually(full, "the queue's room to fill")
    status = await routed.status()
    assert all(item.request_id == big.id for item in status.items)
    assert status.pending_slots == 65535 - status.max_size - 3, "the rest stays implicit"
