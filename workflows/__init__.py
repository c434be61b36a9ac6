"""Deterministic Temporal workflows. `ALL_WORKFLOWS` is what a `sales` worker registers.

The lead appends the queue and reconcile workflows here when they land.
"""

from workflows.sale import SlotSaleWorkflow

ALL_WORKFLOWS: list[type] = [SlotSaleWorkflow]

__all__ = ["ALL_WORKFLOWS", "SlotSaleWorkflow"]
