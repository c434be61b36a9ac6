"""ReconcileWorkflow: at start and on a schedule, make the ledger and running sales match chain.

SALES-4 with the Q-7 decision, settled by the chain's facts: every slot the chain shows this
host holding, and every reservation that outlived its sale, is handed to a `SlotHosting`
workflow at its recovery entry (Unknown). That workflow reads the slot at one block and either
resumes proving or settles through `sales.settlement.settle`, with the reservation's recorded
deduction and fill record. Reconciliation itself never closes a reservation or computes
collateral.

Each hosting workflow starts under the sale's own workflow id (`sale-<slotId>`), so it cannot
race a live sale for the same slot: if one runs, the start is refused and that sale keeps the
slot; if reconciliation's start wins, the queue's later start for that slot is refused instead.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from sales.api import RECONCILE_WORKFLOW, SLOT_HOSTING_WORKFLOW, sale_workflow_id
    from sales.ids import slot_id
    from sales.service_api import (
        ReconcileInput,
        ReconcilePlan,
        ReconcileReport,
        ServiceActivity,
    )
    from workflows.sale_state import HostingInput

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name=RECONCILE_WORKFLOW)
class ReconcileWorkflow:
    @workflow.run
    async def run(self, reconcile: ReconcileInput) -> ReconcileReport:
        plan = await workflow.execute_activity(
            ServiceActivity.RECONCILE_PLAN,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RETRY,
            result_type=ReconcilePlan,
        )
        adopted, running = [], 0
        for slot in plan.adopt:
            workflow_id = sale_workflow_id(slot_id(slot.request_id, slot.slot_index))
            try:
                await workflow.start_child_workflow(
                    SLOT_HOSTING_WORKFLOW,
                    HostingInput.recovery(
                        request_id=slot.request_id,
                        slot_index=slot.slot_index,
                        reservation=slot.reservation,
                        queue_workflow_id=reconcile.queue_workflow_id,
                        settings=reconcile.settings,
                    ),
                    id=workflow_id,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    static_summary="recovery: the chain decides",
                )
                adopted.append(workflow_id)
            except WorkflowAlreadyStartedError:
                running += 1
        workflow.set_current_details(
            f"handed {len(adopted)} slot(s) to hosting at recovery, {running} already running"
        )
        return ReconcileReport(adopted=adopted, already_running=running)
