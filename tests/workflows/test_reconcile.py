"""ReconcileWorkflow (SALES-4, Q-7): recovery sales for active slots, orphans closed."""

import uuid

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from sales.api import (
        Activity,
        CloseReservationInput,
        CloseReservationResult,
        SaleInput,
        sale_workflow_id,
    )
    from sales.ids import slot_id
    from sales.service_api import (
        OrphanedReservation,
        ReconcileInput,
        ReconcilePlan,
        ServiceActivity,
    )
    from tests.workflows.fake_sale import FakeSale
    from workflows.reconcile import ReconcileWorkflow


async def test_sales_4_recovers_active_slots_and_closes_orphans(
    temporal_client: Client, task_queue: str
) -> None:
    request_id = "0x" + uuid.uuid4().hex * 2
    orphan = OrphanedReservation(
        reservation_id="0x" + "0a" * 32,
        availability_id="0x" + "0b" * 32,
        request_id=request_id,
        slot_index=7,
        returned_collateral=900,
    )
    closed: list[CloseReservationInput] = []

    @activity.defn(name=ServiceActivity.RECONCILE_PLAN)
    async def plan() -> ReconcilePlan:
        return ReconcilePlan(recover=[(request_id, 0), (request_id, 1)], orphans=[orphan])

    @activity.defn(name=Activity.LEDGER_CLOSE_RESERVATION)
    async def close(request: CloseReservationInput) -> CloseReservationResult:
        closed.append(request)
        return CloseReservationResult(availability_saved=None)

    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[ReconcileWorkflow, FakeSale],
        activities=[plan, close],
    ):
        running = sale_workflow_id(slot_id(request_id, 1))
        await temporal_client.start_workflow(
            FakeSale.run,
            SaleInput(request_id=request_id, slot_index=1, queue_workflow_id="none"),
            id=running,
            task_queue=task_queue,
        )
        report = await temporal_client.execute_workflow(
            ReconcileWorkflow.run,
            ReconcileInput(),
            id=f"reconcile-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        recovered = temporal_client.get_workflow_handle(report.recovered[0])
        described = await recovered.describe()
        for workflow_id in (*report.recovered, running):
            await temporal_client.get_workflow_handle(workflow_id).terminate("test over")

    assert report.recovered == [sale_workflow_id(slot_id(request_id, 0))]
    assert report.already_running == 1, "a running sale is left alone"
    assert described.workflow_type == "SlotSale"
    assert [c.reservation_id for c in closed] == [orphan.reservation_id]
    assert closed[0].returned_collateral == 900
    assert report.returned_collateral == 900
