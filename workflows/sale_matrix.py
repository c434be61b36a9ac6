"""The event-handler matrix of SALES_BEHAVIOUR §5 as ONE table of data.

The signal handlers consult it; no step tests for events. Decision Q-8 (ARCHITECTURE §4):
terminal states ignore late events, so Finished has no row entries, unlike the reference.
"""

from collections.abc import Mapping
from enum import StrEnum

from sales.api import SaleSignal
from workflows.sale_state import StateName


class SaleEvent(StrEnum):
    CANCELLED = "cancelled"
    FAILED = "failed"
    SLOT_FILLED = "slot_filled"


_CANCEL_OR_FAIL: Mapping[SaleEvent, StateName] = {
    SaleEvent.CANCELLED: StateName.CANCELLED,
    SaleEvent.FAILED: StateName.FAILED,
}

EVENT_MATRIX: Mapping[StateName, Mapping[SaleEvent, StateName]] = {
    StateName.PREPARING: {**_CANCEL_OR_FAIL, SaleEvent.SLOT_FILLED: StateName.FILLED},
    StateName.SLOT_RESERVING: _CANCEL_OR_FAIL,
    StateName.DOWNLOADING: {**_CANCEL_OR_FAIL, SaleEvent.SLOT_FILLED: StateName.FILLED},
    StateName.INITIAL_PROVING: _CANCEL_OR_FAIL,
    StateName.FILLING: _CANCEL_OR_FAIL,
    StateName.FILLED: _CANCEL_OR_FAIL,
    StateName.PROVING: _CANCEL_OR_FAIL,
    StateName.PROVING_SIMULATED: _CANCEL_OR_FAIL,
    StateName.PAYOUT: _CANCEL_OR_FAIL,
    StateName.UNKNOWN: _CANCEL_OR_FAIL,
    StateName.FINISHED: {},  # Q-8 decision: terminal
    StateName.CANCELLED: {},
    StateName.FAILED: {},
    StateName.ERRORED: {},
    StateName.IGNORED: {},
}

SIGNAL_EVENTS: Mapping[SaleSignal, SaleEvent] = {
    SaleSignal.REQUEST_CANCELLED: SaleEvent.CANCELLED,
    SaleSignal.REQUEST_FAILED: SaleEvent.FAILED,
    SaleSignal.SLOT_FILLED: SaleEvent.SLOT_FILLED,
}
"""Chain events that act through the matrix; RequestFulfilled only stops the watcher (AGENT-6)."""


def next_state(current: StateName, event: SaleEvent) -> StateName | None:
    """The state an event moves `current` to, or None when ignored (a dash in the spec)."""
    return EVENT_MATRIX[current].get(event)
