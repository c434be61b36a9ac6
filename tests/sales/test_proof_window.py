"""Planning a periodic proof against the pointer wrap and the period's end (ARCHITECTURE §8,
MARKETPLACE_ABI §8): the issue's measured loss was proofs computed for a challenge that changed
before they landed."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sales.proof_window import POINTER_WRAP, Move, blocks_until_wrap, plan_proof

PERIOD_END = 1_060


def test_a_pointer_far_from_the_wrap_proves_until_the_period_ends() -> None:
    plan = plan_proof(
        now=1_000,
        period_end=PERIOD_END,
        pointer=10,
        seconds_per_block=1,
        proof_seconds=3,
        landing_seconds=2,
    )
    assert (plan.move, plan.deadline) == (Move.PROVE, PERIOD_END)


def test_a_wrap_inside_the_period_bounds_the_deadline() -> None:
    """Pointer 230 at 1 s blocks: the challenge holds 25 more blocks, so the proof must land
    by then, not at the period's end."""
    plan = plan_proof(
        now=1_000,
        period_end=PERIOD_END,
        pointer=230,
        seconds_per_block=1,
        proof_seconds=3,
        landing_seconds=2,
    )
    assert (plan.move, plan.deadline) == (Move.PROVE, 1_025)


def test_a_wrap_too_close_waits_for_the_new_challenge() -> None:
    """The issue's case: pointer 253 leaves 2 blocks, less than the proof takes."""
    plan = plan_proof(
        now=1_000,
        period_end=PERIOD_END,
        pointer=253,
        seconds_per_block=1,
        proof_seconds=3,
        landing_seconds=2,
    )
    assert plan.move == Move.WAIT_FOR_WRAP
    assert plan.wait_until == 1_003, "just after the block where the pointer wraps"


def test_no_time_left_in_the_period_gives_it_up() -> None:
    plan = plan_proof(
        now=1_058,
        period_end=PERIOD_END,
        pointer=10,
        seconds_per_block=1,
        proof_seconds=3,
        landing_seconds=2,
    )
    assert plan.move == Move.TOO_LATE
    late_wrap = plan_proof(
        now=1_056,
        period_end=PERIOD_END,
        pointer=254,
        seconds_per_block=1,
        proof_seconds=3,
        landing_seconds=2,
    )
    assert late_wrap.move == Move.TOO_LATE, "the wrap leaves no time before the period ends"


@pytest.mark.parametrize("pointer", [-1, POINTER_WRAP, 1_000])
def test_a_pointer_outside_uint8_is_refused(pointer: int) -> None:
    with pytest.raises(ValueError, match="uint8"):
        blocks_until_wrap(pointer)


@pytest.mark.parametrize(
    ("spb", "proof", "landing"), [(0, 5, 1), (-1, 5, 1), (1, -1, 1), (1, 1, -1)]
)
def test_nonsense_timing_is_refused(spb: float, proof: float, landing: float) -> None:
    with pytest.raises(ValueError):
        plan_proof(
            now=0,
            period_end=60,
            pointer=0,
            seconds_per_block=spb,
            proof_seconds=proof,
            landing_seconds=landing,
        )


def test_a_proof_slower_than_the_period_is_still_tried() -> None:
    """The prover's last time (40 s) exceeds what is left (29 s): with no wrap in the way the
    sale still tries, since only a proof that is not sent is a certain miss."""
    plan = plan_proof(
        now=1_031,
        period_end=PERIOD_END,
        pointer=10,
        seconds_per_block=1,
        proof_seconds=40,
        landing_seconds=2,
    )
    assert (plan.move, plan.deadline) == (Move.PROVE, PERIOD_END)


@given(
    now=st.integers(0, 10**9),
    length=st.integers(1, 3_600),
    pointer=st.integers(0, POINTER_WRAP - 1),
    spb=st.floats(0.1, 30, allow_nan=False),
    proof=st.floats(0, 600, allow_nan=False),
    landing=st.floats(0, 60, allow_nan=False),
)
def test_every_plan_lands_on_the_challenge_it_proves(
    now: int, length: int, pointer: int, spb: float, proof: float, landing: float
) -> None:
    """Whatever the timing, a PROVE deadline lies within the period and before the wrap (or at
    the period's end when the wrap is later), with the margin left; a wait ends after the wrap
    with the margin still inside the period."""
    end = now + length
    plan = plan_proof(
        now=now,
        period_end=end,
        pointer=pointer,
        seconds_per_block=spb,
        proof_seconds=proof,
        landing_seconds=landing,
    )
    wrap_at = now + blocks_until_wrap(pointer) * spb
    match plan.move:
        case Move.PROVE:
            assert now < plan.deadline <= end
            if wrap_at < end:  # must land on this challenge: it has to fit before the wrap
                assert plan.deadline <= wrap_at
                assert plan.deadline - now >= proof + landing
        case Move.WAIT_FOR_WRAP:
            assert wrap_at < plan.wait_until, "wakes after the wrap, on the new challenge"
            assert plan.wait_until + landing < end
        case Move.TOO_LATE:
            assert now + landing >= end or wrap_at < end, "only the period's end or a wrap"
