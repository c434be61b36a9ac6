"""ChainFollowerWorkflow: keeps the chain follower activity running, on whichever worker lives.

The follower is one long activity that heartbeats; if its worker dies, the heartbeat times out
and Temporal retries it elsewhere, resuming from the cursor in PostgreSQL. Retries are
server-side, so this workflow's history stays a handful of events however long it runs.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from sales.service_api import CHAIN_FOLLOWER_WORKFLOW, FollowInput, ServiceActivity


@workflow.defn(name=CHAIN_FOLLOWER_WORKFLOW)
class ChainFollowerWorkflow:
    @workflow.run
    async def run(self, follow: FollowInput) -> None:
        workflow.set_current_details(f"following the marketplace for `{follow.queue_workflow_id}`")
        await workflow.execute_activity(
            ServiceActivity.FOLLOW_CHAIN,
            follow,
            start_to_close_timeout=timedelta(days=3650),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_interval=timedelta(seconds=30),
                maximum_attempts=0,
            ),
            summary="follow marketplace events",
        )
