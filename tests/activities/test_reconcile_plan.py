"""Reconciliation's plan (SALES-4, Q-7 with ARCHITECTURE §8): which slots a hosting workflow
must adopt, each with its reservation row. Chain: the fake market; running sales: the Temporal
dev server; the ledger: the in-memory one (its contract is tested against PostgreSQL)."""

from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.service import ServiceActivities
from ledger.api import NewAvailability
from ledger.memory import MemoryLedger
from sales.api import sale_workflow_id
from sales.ids import slot_id
from sales.models import FillRecord
from tests.chain.scenarios import FakeWorld, requested, reserve_and_fill


async def test_plan_adopts_held_slots_and_orphans_and_skips_running_sales(
    temporal_client: Client, task_queue: str
) -> None:
    world = FakeWorld()
    host = world.hosts[0]
    ledger = MemoryLedger()
    saved = await ledger.create_availability(
        NewAvailability(
            total_size=10_000,
            duration=100_000,
            min_price_per_byte_per_second=1,
            total_collateral=10_000,
        )
    )
    request = await requested(world, slots=4)
    for index in (0, 1):
        await reserve_and_fill(world, host, request, index)

    async def reserve(index: int) -> str:
        row = await ledger.create_reservation(
            availability_id=saved.availability.id,
            slot_size=request.ask.slot_size,
            request_id=request.id,
            slot_index=index,
            collateral_per_byte=request.ask.collateral_per_byte,
            valid_until=2**40,
        )
        return row.id

    held_with_row = await reserve(0)  # slot 0: filled by us, its sale gone
    await ledger.record_fill(held_with_row, FillRecord.LANDED)
    orphan = await reserve(2)  # slot 2: reserved, never filled, its sale gone
    await ledger.record_fill(orphan, FillRecord.SENT)
    await reserve(3)  # slot 3: its sale is still running
    running = await temporal_client.start_workflow(
        "SlotSale",
        id=sale_workflow_id(slot_id(request.id, 3)),
        task_queue=task_queue,  # no worker: it stays running
    )
    service = ServiceActivities(market=host, ledger=ledger, rpc_url="", marketplace="", dsn="")
    try:
        plan = await ActivityEnvironment(client=temporal_client).run(service.reconcile_plan)
    finally:
        await running.terminate("test over")

    adopted = {slot.slot_index: slot for slot in plan.adopt}
    assert sorted(adopted) == [0, 1, 2], "held slots and the orphan, not the running sale's"
    assert adopted[0].reservation is not None and adopted[0].reservation.id == held_with_row
    assert adopted[0].reservation.fill == FillRecord.LANDED
    assert adopted[1].reservation is None, "a held slot without a row is still adopted"
    orphaned = adopted[2].reservation
    assert orphaned is not None and orphaned.id == orphan
    assert orphaned.fill == FillRecord.SENT, "the fill record travels with the row"
    assert orphaned.collateral == request.ask.collateral_per_slot, "and the recorded deduction"
    assert all(slot.request_id == request.id for slot in plan.adopt)
