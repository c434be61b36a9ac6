"""Settlement: what a sale may do with its slot, its data and its collateral, from chain facts.

One pure function decides, for the sale's own cleanup and for reconciliation alike (ARCHITECTURE
§8): how much collateral the ledger gets back, whether the slot's data may be cleared, and
whether `freeSlot` may be sent. Nothing else in the project decides these.

The inputs are what the chain says about the slot (its computed state, its host, its current
collateral, the request's state) and the durable record of this host's fill transaction. The
rules protect the host's money first:

- a slot the chain shows this host holding while it still runs (Filled) is never settled: no
  data cleared, no collateral credited, and never `freeSlot`, which on a Filled slot forfeits
  the whole collateral;
- a fill whose fate is unknown (broadcast, no receipt seen) is never settled either: the
  collateral may be on chain;
- `freeSlot` only where the contract pays out or refunds (Finished, Cancelled), or where it only
  takes the slot off this host's list (Failed: the collateral is already forfeited);
- Failed returns nothing, Finished/Cancelled/Paid return what the chain holds for us
  (`currentCollateral`), and a fill that never deposited returns the whole deduction.
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from sales.hexbytes import Address
from sales.models import FillRecord, RequestState, SlotState
from sales.uint import Uint256

FILL_ORDER = (FillRecord.NOT_SENT, FillRecord.SENT, FillRecord.REFUSED, FillRecord.LANDED)
"""A record only moves forward along this order (a retried write never moves it back)."""


def later_fill_record(current: FillRecord, new: FillRecord) -> FillRecord:
    """The record after writing `new` over `current`: never backwards (at-least-once writes)."""
    if new == FillRecord.SENT and current in (FillRecord.REFUSED, FillRecord.LANDED):
        return current
    return max(current, new, key=FILL_ORDER.index)


class ChainFacts(BaseModel):
    """What the chain says about one slot, read in one activity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slot_state: SlotState
    host: Address | None
    me: Address
    current_collateral: Uint256
    request_state: RequestState | None
    """None: the chain does not know the request (never created, or an unknown contract)."""

    @property
    def mine(self) -> bool:
        return self.host is not None and self.host.lower() == self.me.lower()


class Verdict(StrEnum):
    HOLD = "hold"
    """The slot is ours and running: keep hosting, touch nothing."""
    WAIT = "wait"
    """The fill's fate is not known yet: settle nothing until it is."""
    SETTLE = "settle"
    """Settle now as the other fields say."""


class Settlement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: Verdict
    reason: str
    free_slot: bool = False
    """Send freeSlot first: the contract pays out (Finished), refunds (Cancelled), or takes a
    failed slot off this host's list (Failed)."""
    returned_collateral: Uint256 | None = None
    """What goes back to the availability when settling (None unless SETTLE)."""
    clear_data: bool = False
    """The slot's data may be deleted (only when no chain outcome still needs it)."""


ENDED_REQUESTS = frozenset({RequestState.Cancelled, RequestState.Failed, RequestState.Finished})
"""Request states in which no fillSlot can succeed any more (the contract reverts SlotNotFree)."""


FREED = frozenset({SlotState.Free, SlotState.Repair})
"""Slot states the contract only reaches with the host cleared. A read naming us as the host of
such a slot is inconsistent; the slot counts as no longer ours, so it is never held as running."""


def _hold(reason: str) -> Settlement:
    return Settlement(verdict=Verdict.HOLD, reason=reason)


def _wait(reason: str) -> Settlement:
    return Settlement(verdict=Verdict.WAIT, reason=reason)


def _settle(reason: str, returned: int, *, free_slot: bool = False) -> Settlement:
    return Settlement(
        verdict=Verdict.SETTLE,
        reason=reason,
        free_slot=free_slot,
        returned_collateral=returned,
        clear_data=True,
    )


def settle(facts: ChainFacts, fill: FillRecord, deducted: int) -> Settlement:
    """The one settlement rule: `deducted` is what the reservation took from the availability."""
    if facts.mine and facts.slot_state not in FREED:
        return _settle_held(facts)
    if fill == FillRecord.LANDED:
        # We deposited and the chain no longer names us: the slot was forcibly freed (slashed
        # away), whoever holds it now. The collateral is gone.
        return _settle("slot was freed from this host; its collateral is forfeited", 0)
    if fill == FillRecord.SENT:
        if facts.slot_state == SlotState.Free and (
            facts.request_state is None or facts.request_state in ENDED_REQUESTS
        ):
            return _settle("the request ended before the fill landed; nothing deposited", deducted)
        return _wait("the fill's outcome is unknown; its collateral may be on chain")
    return _settle("nothing was deposited on chain", deducted)


def _settle_held(facts: ChainFacts) -> Settlement:
    collateral = facts.current_collateral
    match facts.slot_state:
        case SlotState.Finished:
            return _settle("request finished: freeSlot pays out", collateral, free_slot=True)
        case SlotState.Cancelled:
            return _settle("request cancelled: freeSlot refunds", collateral, free_slot=True)
        case SlotState.Paid:
            return _settle("already paid out", collateral)
        case SlotState.Failed:
            return _settle(
                "request failed: the collateral is forfeited; freeSlot only clears mySlots",
                0,
                free_slot=True,
            )
        case _:
            return _hold(f"this host holds the slot ({facts.slot_state.name})")
