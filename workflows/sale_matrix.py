"""The event-handler matrix of SALES_BEHAVIOUR §5 as ONE table of data.

The signal handlers of both sale workflows consult it; no step tests for events. Decision Q-8
(ARCHITECTURE §4): terminal states ignore late events, so Finished has no row entries, unlike
the reference. While hosting (ARCHITECTURE §8) the chain is the truth: an event does not move
the sale to Cancelled or Failed, it only wakes Proving for a fresh chain read of this period,
and that read moves the sale. So a forged or reorganised RequestFailed can never free a slot.
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

_WAKE_PROVING: Mapping[SaleEvent, StateName] = {
    SaleEvent.CANCELLED: StateName.PROVING,
    SaleEvent.FAILED: StateName.PROVING,
}
_WAKE_PROVING_SIMULATED: Mapping[SaleEvent, StateName] = {
    SaleEvent.CANCELLED: StateName.PROVING_SIMULATED,
    SaleEvent.FAILED: StateName.PROVING_SIMULATED,
}

EVENT_MATRIX: Mapping[StateName, Mapping[SaleEvent, StateName]] = {
    StateName.PREPARING: {**_CANCEL_OR_FAIL, SaleEvent.SLOT_FILLED: StateName.FILLED},
    StateName.SLOT_RESERVING: _CANCEL_OR_FAIL,
    StateName.DOWNLOADING: {**_CANCEL_OR_FAIL, SaleEvent.SLOT_FILLED: StateName.FILLED},
    StateName.INITIAL_PROVING: _CANCEL_OR_FAIL,
    StateName.FILLING: _CANCEL_OR_FAIL,
    # hosting: events wake the period's chain read; Filled, Payout and the recovery entry read
    # the chain themselves right away
    StateName.FILLED: {},
    StateName.PROVING: _WAKE_PROVING,
    StateName.PROVING_SIMULATED: _WAKE_PROVING_SIMULATED,
    StateName.PAYOUT: {},
    StateName.UNKNOWN: {},
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
