"""Deterministic Temporal workflows. `ALL_WORKFLOWS` is what a `sales` worker registers."""

from workflows.follower import ChainFollowerWorkflow
from workflows.hosting import SlotHostingWorkflow
from workflows.queue import SlotQueueWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.sale import SlotSaleWorkflow

ALL_WORKFLOWS: list[type] = [
    SlotSaleWorkflow,
    SlotHostingWorkflow,
    SlotQueueWorkflow,
    ChainFollowerWorkflow,
    ReconcileWorkflow,
]

__all__ = [
    "ALL_WORKFLOWS",
    "ChainFollowerWorkflow",
    "ReconcileWorkflow",
    "SlotHostingWorkflow",
    "SlotQueueWorkflow",
    "SlotSaleWorkflow",
]
