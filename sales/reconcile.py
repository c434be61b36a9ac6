"""Reconciliation rules (SALES-4, Q-6/Q-7 decisions in ARCHITECTURE.md §4)."""

from sales.models import SlotState


def orphan_returned_collateral(
    slot_state: SlotState, host: str | None, me: str, deducted: int
) -> int:
    """Collateral to give back when a reservation outlived its sale.

    If the chain shows this host never held the slot (still free, or another host holds it),
    nothing was deposited and the whole deducted amount returns. Otherwise the collateral went
    on chain, and with no sale left to account for it we return nothing rather than guess high:
    crediting collateral the host does not have would let it over-commit.
    """
    never_held = slot_state == SlotState.Free or (host is not None and host != me)
    return deducted if never_held else 0
