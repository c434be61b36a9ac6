"""Many fake slots on one host: activities routed to each slot's `FakeSale`, the scheduler's
batched read over all of them, and hosting inputs that start a slot already proving.

The workflow tests of the proving scheduler and `benchmarks/bench_proving.py` share this.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from benchmarks.bench_sale import Router
from sales.api import (
    CHAIN_TX_TASK_QUEUE,
    PROVING_TASK_QUEUE,
    SALES_TASK_QUEUE,
    SaleSettings,
    SlotRef,
)
from sales.ids import slot_id
from sales.models import FillRecord, RequestState, SlotState
from sales.scheduling import (
    MARKET_HELD_SLOTS,
    MARKET_PROVING_SCHEDULE,
    HeldSlots,
    ScheduledSlotFacts,
    ScheduleRead,
    ScheduleReadInput,
    SlotWake,
    wake_for,
)
from tests.workflows.fakes import FakeSale, chain_now
from workflows.hosting import SlotHostingWorkflow
from workflows.sale_state import HostingInput, SaleData, SaleState, StateName
from workflows.scheduler import ProvingSchedulerWorkflow


def proving_fake(fake: FakeSale, created_at: int) -> FakeSale:
    """Script `fake` as a slot this host holds and proves (its fill landed at `created_at`)."""
    fake.created_at = created_at
    fake.slot_state, fake.host = SlotState.Filled, fake.signer
    fake.request_state = RequestState.Started
    return fake


def hosting_input(fake: FakeSale, settings: SaleSettings) -> HostingInput:
    """A hosting workflow that starts in Proving: its acquisition is not what is measured."""
    request = fake.request
    return HostingInput(
        data=SaleData(
            request_id=request.id,
            slot_index=0,
            slot_id=slot_id(request.id, 0),
            settings=settings,
            state=SaleState(name=StateName.PROVING),
            request=request,
            expires_at=fake.expires_at,
            request_end=fake.request_end,
            signer=fake.signer,
            fill=FillRecord.LANDED,
            released=True,
        )
    )


@dataclass
class FakeFleet:
    """The slots of one host, and the scheduler's view of them all at one (fake) block."""

    router: Router = field(default_factory=Router)
    reads: list[int] = field(default_factory=list)
    """Chain time of each batched read."""
    slots_read: list[int] = field(default_factory=list)
    outage: int = 0
    """How many next batched reads fail with a retryable fault."""
    held_reads: list[int] = field(default_factory=list)
    """Chain time of each `mySlots` read (a fresh scheduler's first)."""

    def add(self, fake: FakeSale) -> None:
        self.router.add(fake)

    @activity.defn(name=MARKET_HELD_SLOTS)
    async def held_slots(self) -> HeldSlots:
        """The fleet's `mySlots`: every slot the fake chain shows Filled by its signer."""
        self.held_reads.append(chain_now())
        return HeldSlots(
            slots=[
                SlotRef(request_id=fake.request.id, slot_index=0)
                for fake in self.router.by_slot.values()
                if fake.reading().slot_state == SlotState.Filled and fake.host == fake.signer
            ]
        )

    @activity.defn(name=MARKET_PROVING_SCHEDULE)
    async def proving_schedule(self, read: ScheduleReadInput) -> ScheduleRead:
        if self.outage > 0:
            self.outage -= 1
            raise ConnectionError("scripted outage of the batched read")
        now = chain_now()
        self.reads.append(now)
        self.slots_read.append(len(read.slots))
        wakes: list[SlotWake] = []
        period = 0
        for ref in read.slots:
            fake = self.router.by_slot[ref.slot_id]
            status = fake.reading()
            period = status.period_seconds
            facts = ScheduledSlotFacts(
                slot_state=status.slot_state,
                request_state=status.request_state,
                host=status.host,
                proof_required=status.proof_required,
                proof_will_be_required=status.proof_will_be_required,
            )
            reason = wake_for(facts, fake.signer)
            if reason is not None:
                wakes.append(SlotWake(slot=ref, reason=reason, status=status))
        return ScheduleRead(
            block_number=now,
            chain_time=now,
            period_seconds=period or 10,
            slots_read=len(read.slots),
            wakes=wakes,
        )


@asynccontextmanager
async def fleet_workers(
    client: Client,
    fleet: FakeFleet,
    *,
    workflows: Sequence[type] = (SlotHostingWorkflow, ProvingSchedulerWorkflow),
    prover_slots: int | None = None,
    **options: Any,
) -> AsyncIterator[None]:
    """Workers on the three task queues, every activity routed to the fleet's fakes."""
    acts = fleet.router.activities()
    concurrency = options.pop("max_concurrent_activities", None)
    async with AsyncExitStack() as stack:
        for task_queue in (SALES_TASK_QUEUE, CHAIN_TX_TASK_QUEUE, PROVING_TASK_QUEUE):
            sales = task_queue == SALES_TASK_QUEUE
            worker = Worker(
                client,
                task_queue=task_queue,
                workflows=list(workflows) if sales else [],
                activities=[*acts, fleet.proving_schedule, fleet.held_slots] if sales else acts,
                max_concurrent_activities=prover_slots
                if task_queue == PROVING_TASK_QUEUE
                else concurrency,
                **options,
            )
            await stack.enter_async_context(worker)
        yield
