"""ReconcileWorkflow (SALES-4, Q-7): every slot to adopt goes to a SlotHosting workflow at its
recovery entry, under the sale's own id, so a live sale for the same slot is left alone."""

import os
import uuid
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

with workflow.unsafe.imports_passed_through():
    from sales.api import SLOT_HOSTING_WORKFLOW, SaleInput, sale_workflow_id
    from sales.ids import slot_id
    from sales.models import FillRecord, Reservation
    from sales.service_api import (
        ReconcileInput,
        ReconcilePlan,
        ServiceActivity,
        SlotToAdopt,
    )
    from tests.workflows.fake_sale import FakeSale
    from workflows.reconcile import ReconcileWorkflow
    from workflows.sale_state import HostingInput, StateName


HISTORIES = Path(__file__).parent.parent / "histories"
RECORD = os.environ.get("SALE_RECORD_HISTORIES") == "1"


async def test_recorded_reconcile_history_replays() -> None:
    """A reconcile run recorded by the test below replays on today's code (versioning)."""
    path = HISTORIES / "reconcile_adopt.json"
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=[ReconcileWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


async def test_sales_4_hands_every_slot_to_hosting_and_leaves_live_sales_alone(
    temporal_client: Client, task_queue: str
) -> None:
    request_id = "0x" + uuid.uuid4().hex * 2
    orphan = Reservation(
        id="0x" + "0a" * 32,
        availability_id="0x" + "0b" * 32,
        size=100,
        request_id=request_id,
        slot_index=7,
        valid_until=2000,
        collateral=900,
        fill=FillRecord.SENT,
    )

    @activity.defn(name=ServiceActivity.RECONCILE_PLAN)
    async def plan() -> ReconcilePlan:
        return ReconcilePlan(
            adopt=[
                SlotToAdopt(request_id=request_id, slot_index=0),
                SlotToAdopt(request_id=request_id, slot_index=1),
                SlotToAdopt(request_id=request_id, slot_index=7, reservation=orphan),
            ]
        )

    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[ReconcileWorkflow, FakeSale],
        activities=[plan],
    ):
        running = sale_workflow_id(slot_id(request_id, 1))
        await temporal_client.start_workflow(
            FakeSale.run,
            SaleInput(request_id=request_id, slot_index=1, queue_workflow_id="none"),
            id=running,
            task_queue=task_queue,
        )
        handle = await temporal_client.start_workflow(
            ReconcileWorkflow.run,
            ReconcileInput(),
            id=f"reconcile-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        report = await handle.result()
        if RECORD:
            (HISTORIES / "reconcile_adopt.json").write_text(
                (await handle.fetch_history()).to_json()
            )
        adopted = temporal_client.get_workflow_handle(report.adopted[1])
        described = await adopted.describe()
        history = await adopted.fetch_history()
        for workflow_id in (*report.adopted, running):
            await temporal_client.get_workflow_handle(workflow_id).terminate("test over")

    started = history.events[0].workflow_execution_started_event_attributes
    [hosting] = pydantic_data_converter.payload_converter.from_payloads(
        started.input.payloads, [HostingInput]
    )
    assert report.adopted == [
        sale_workflow_id(slot_id(request_id, 0)),
        sale_workflow_id(slot_id(request_id, 7)),
    ]
    assert report.already_running == 1, "a running sale keeps its slot"
    assert described.workflow_type == SLOT_HOSTING_WORKFLOW
    assert hosting.data.state.name == StateName.UNKNOWN, "hosting starts at the recovery entry"
    assert hosting.data.reservation == orphan, "with the reservation's recorded deduction"
    assert hosting.data.fill == FillRecord.SENT, "and its durable fill record"
