"""Deterministic Temporal workflows: the sale, the slot queue, reconciliation."""
