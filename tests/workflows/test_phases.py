"""The phase table (ARCHITECTURE §8): acquisition may give up, hosting never does, and no
hosted sale can go back to a state before its fill."""

from datetime import timedelta

from sales.api import Activity
from workflows.phases import (
    CALLS,
    GIVES_UP,
    HOSTING_BACKOFF_CAP,
    PHASE_OF,
    TRANSITIONS,
    Phase,
)
from workflows.sale_state import StateName


def test_every_state_has_a_phase_and_a_row_of_transitions() -> None:
    assert set(PHASE_OF) | {StateName.IGNORED} == set(StateName)
    assert set(TRANSITIONS) == set(StateName)
    for targets in TRANSITIONS.values():
        assert targets <= set(StateName)


def test_the_fill_is_the_point_of_no_return() -> None:
    """From Filling (the fill is broadcast there) on, the sale is hosting."""
    assert PHASE_OF[StateName.FILLING] == Phase.HOSTING
    assert GIVES_UP == {Phase.ACQUISITION: True, Phase.HOSTING: False}


def test_no_hosted_state_goes_back_to_acquisition() -> None:
    acquiring = {state for state, phase in PHASE_OF.items() if phase == Phase.ACQUISITION}
    for state, phase in PHASE_OF.items():
        if phase == Phase.HOSTING and state != StateName.FILLING:
            assert not (TRANSITIONS[state] & acquiring), state


def test_hosting_retries_without_a_limit_and_a_short_backoff() -> None:
    cap = timedelta(seconds=HOSTING_BACKOFF_CAP)
    for activity, call in CALLS[Phase.HOSTING].items():
        assert call.retry.maximum_attempts == 0, activity
        assert call.retry.maximum_interval is not None and call.retry.maximum_interval <= cap


def test_acquisition_gives_up_except_on_what_must_happen() -> None:
    """Bounded retries before the fill; the ledger's cleanup is never abandoned in any phase."""
    must_happen = {Activity.LEDGER_CLOSE_RESERVATION, Activity.LEDGER_RECORD_FILL}
    for activity, call in CALLS[Phase.ACQUISITION].items():
        if activity in must_happen:
            assert call.retry.maximum_attempts == 0, activity
        else:
            assert call.retry.maximum_attempts > 0, activity
