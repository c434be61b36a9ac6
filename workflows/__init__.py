"""Deterministic Temporal workflows. `ALL_WORKFLOWS` is what a `sales` worker registers."""

from workflows.follower import ChainFollowerWorkflow
from workflows.hosting import SlotHostingWorkflow
from workflows.queue import SlotQueueWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.sale import SlotSaleWorkflow
from workflows.scheduler import ProvingSchedulerWorkflow

ALL_WORKFLOWS: list[type] = [
    SlotSaleWorkflow,
    SlotHostingWorkflow,
    SlotQueueWorkflow,
    ChainFollowerWorkflow,
    ReconcileWorkflow,
    ProvingSchedulerWorkflow,
]

__all__ = [
    "ALL_WORKFLOWS",
    "ChainFollowerWorkflow",
    "ProvingSchedulerWorkflow",
    "ReconcileWorkflow",
    "SlotHostingWorkflow",
    "SlotQueueWorkflow",
    "SlotSaleWorkflow",
]
