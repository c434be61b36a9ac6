"""ReconcileWorkflow: at start and on a schedule, make the ledger and running sales match chain.

SALES-4 with the Q-7 decision: active slots on chain without a sale get a recovery sale (the
ST-UNK entry); reservations whose slot this host does not hold and that no sale accounts for are
closed, returning their bytes and the collateral the chain says was never deposited.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from sales.api import (
        RECONCILE_WORKFLOW,
        SLOT_SALE_WORKFLOW,
        Activity,
        CloseReservationInput,
        CloseReservationResult,
        SaleInput,
        sale_workflow_id,
    )
    from sales.ids import slot_id
    from sales.service_api import (
        ReconcileInput,
        ReconcilePlan,
        ReconcileReport,
        ServiceActivity,
    )

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
        closed, returned = [], 0
        for orphan in plan.orphans:
            await workflow.execute_activity(
                Activity.LEDGER_CLOSE_RESERVATION,
                CloseReservationInput(
                    reservation_id=orphan.reservation_id,
                    availability_id=orphan.availability_id,
                    returned_collateral=orphan.returned_collateral,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
                result_type=CloseReservationResult,
            )
            closed.append(orphan.reservation_id)
            returned += orphan.returned_collateral
        recovered, running = [], 0
        for request_id, slot_index in plan.recover:
            workflow_id = sale_workflow_id(slot_id(request_id, slot_index))
            try:
                await workflow.start_child_workflow(
                    SLOT_SALE_WORKFLOW,
                    SaleInput(
                        request_id=request_id,
                        slot_index=slot_index,
                        recovery=True,
                        queue_workflow_id=reconcile.queue_workflow_id,
                        settings=reconcile.settings,
                    ),
                    id=workflow_id,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    static_summary="recovery sale",
                )
                recovered.append(workflow_id)
            except WorkflowAlreadyStartedError:
                running += 1
        report = ReconcileReport(
            recovered=recovered,
            already_running=running,
            closed=closed,
            returned_collateral=returned,
        )
        workflow.set_current_details(
            f"recovered {len(recovered)} sale(s), {running} already running, "
            f"closed {len(closed)} orphaned reservation(s)"
        )
        return report
