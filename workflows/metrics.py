"""Workflow-side `codex_sales_*` metrics through the SDK's workflow metric meter.

The workflow meter records nothing while a workflow replays, so a number counts once however
often its history is replayed, and recording issues no command: the command sequence (and the
recorded histories in tests/histories) do not change. A metric must never break a sale, so
every recording swallows its own errors (an amount beyond the exporter's u64, say).
"""

from collections.abc import Mapping

from temporalio import workflow

from sales import metrics as m

U64_MAX = 2**64 - 1


def _add(metric: m.Metric, value: int = 1, labels: Mapping[str, str] | None = None) -> None:
    if value <= 0:
        return
    try:
        counter = workflow.metric_meter().create_counter(metric.name, metric.help)
        counter.add(min(value, U64_MAX), dict(labels) if labels else None)
    except Exception:  # telemetry only: never the sale's problem
        return


def _set(metric: m.Metric, value: int) -> None:
    try:
        workflow.metric_meter().create_gauge(metric.name, metric.help).set(max(0, value))
    except Exception:
        return


def sale_started(entry: str) -> None:
    _add(m.SALES_STARTED, labels={"entry": entry})


def sale_ended(outcome: str) -> None:
    _add(m.SALES_ENDED, labels={"outcome": outcome})


def state_entered(state: str) -> None:
    _add(m.STATE_TRANSITIONS, labels={"state": state})


def fill_landed(collateral: int) -> None:
    _add(m.SLOTS_FILLED)
    _add(m.COLLATERAL_DEPOSITED, collateral)


def collateral_returned(amount: int | None) -> None:
    if amount:
        _add(m.COLLATERAL_RETURNED, amount)


def payout(tokens: int) -> None:
    _add(m.PAYOUTS)
    _add(m.PAYOUT_TOKENS, tokens)


def proof_submitted() -> None:
    _add(m.PROOFS_SUBMITTED)


def proof_failed(stage: str) -> None:
    _add(m.PROOFS_FAILED, labels={"stage": stage})


def period_missed() -> None:
    _add(m.PERIODS_MISSED)


def queue_status(length: int, busy: int, max_workers: int) -> None:
    _set(m.QUEUE_LENGTH, length)
    _set(m.WORKERS_BUSY, busy)
    _set(m.WORKERS_MAX, max_workers)
