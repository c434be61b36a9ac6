"""The proving scheduler's pure rules: which reading wakes a slot, and the proving role's
concurrency from the measured proof time."""

import pytest

from sales.models import RequestState, SlotState
from sales.scheduling import ScheduledSlotFacts, WakeReason, proving_concurrency, wake_for

ME = "0x1000000000000000000000000000000000000001"
OTHER = "0x2000000000000000000000000000000000000002"


def facts(**changes: object) -> ScheduledSlotFacts:
    base = ScheduledSlotFacts(
        slot_state=SlotState.Filled,
        request_state=RequestState.Started,
        host=ME,
        proof_required=False,
        proof_will_be_required=False,
    )
    return base.model_copy(update=changes)


def test_only_a_running_slot_of_ours_with_a_proof_due_or_a_moved_state_is_woken() -> None:
    """The chain is the truth: anything but our running slot is a state change to settle; a
    running slot is woken only when its proof is required now or after the downtime."""
    assert wake_for(facts(), ME) is None, "idle: no wake, no cost"
    assert wake_for(facts(request_state=RequestState.New), ME) is None
    assert wake_for(facts(proof_required=True), ME.upper().replace("0X", "0x")) == (
        WakeReason.PROOF_DUE
    )
    assert wake_for(facts(proof_will_be_required=True), ME) == WakeReason.PROOF_DUE
    for moved in (
        facts(slot_state=SlotState.Cancelled, request_state=RequestState.Cancelled),
        facts(slot_state=SlotState.Failed, request_state=RequestState.Failed),
        facts(slot_state=SlotState.Finished, request_state=RequestState.Finished),
        facts(request_state=RequestState.Failed, proof_required=True),
        facts(request_state=None),
        facts(slot_state=SlotState.Repair, host=None),
        facts(host=OTHER, proof_required=True),
    ):
        assert wake_for(moved, ME) == WakeReason.STATE_CHANGED, moved


def test_proving_concurrency_fits_a_periods_proofs_within_the_cores() -> None:
    """Issue point 3: from the measured proof time, enough concurrent proofs that a period's
    due proofs land before its end, capped at the cores."""
    # 25 slots due per 120 s period, 10 s per proof: 250 s of proving in 115 s -> 3 at once
    assert (
        proving_concurrency(proof_seconds=10, period_seconds=120, due_per_period=25, cores=8) == 3
    )
    assert proving_concurrency(proof_seconds=10, period_seconds=120, due_per_period=0, cores=8) == 1
    assert (
        proving_concurrency(proof_seconds=30, period_seconds=120, due_per_period=100, cores=8) == 8
    ), "capped at the cores: beyond them, add proving workers"
    with pytest.raises(ValueError):
        proving_concurrency(proof_seconds=0, period_seconds=120, due_per_period=1, cores=1)
