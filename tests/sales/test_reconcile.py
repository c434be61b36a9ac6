"""Reconciliation's collateral rule for orphaned reservations (SALES-4, Q-6/Q-7 decisions)."""

import pytest

from sales.models import SlotState
from sales.reconcile import orphan_returned_collateral

ME = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
OTHER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def test_a_slot_still_free_never_took_our_collateral() -> None:
    assert orphan_returned_collateral(SlotState.Free, None, ME, 500) == 500


def test_a_slot_another_host_holds_never_took_our_collateral() -> None:
    assert orphan_returned_collateral(SlotState.Filled, OTHER, ME, 500) == 500


@pytest.mark.parametrize(
    ("state", "host"),
    [
        (SlotState.Filled, ME),
        (SlotState.Paid, ME),
        (SlotState.Failed, ME),
        (SlotState.Repair, None),  # slashed out: the collateral went with it
        (SlotState.Cancelled, ME),
    ],
)
def test_collateral_that_may_be_on_chain_is_never_credited_twice(
    state: SlotState, host: str | None
) -> None:
    assert orphan_returned_collateral(state, host, ME, 500) == 0
