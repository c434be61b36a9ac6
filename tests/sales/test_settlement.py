"""The settlement rule (ARCHITECTURE §8): collateral back, data clearing and freeSlot, from chain
facts and the fill record. Every combination of slot state, host and fill record is checked
against the rules that protect the host's money."""

import itertools

import pytest

from sales.models import FillRecord, RequestState, SlotState
from sales.settlement import (
    ChainFacts,
    Verdict,
    later_fill_record,
    settle,
)

ME = "0x1000000000000000000000000000000000000001"
OTHER = "0x2000000000000000000000000000000000000002"
DEDUCTED = 300
ON_CHAIN = 240


def facts(
    slot: SlotState, host: str | None, request: RequestState | None = RequestState.Started
) -> ChainFacts:
    return ChainFacts(
        slot_state=slot, host=host, me=ME, current_collateral=ON_CHAIN, request_state=request
    )


def test_a_running_slot_we_hold_is_never_settled_nor_freed() -> None:
    """freeSlot on a Filled slot forfeits the whole collateral: a forged RequestFailed must not."""
    for fill in FillRecord:
        outcome = settle(facts(SlotState.Filled, ME), fill, DEDUCTED)
        assert outcome.verdict == Verdict.HOLD
        assert not outcome.free_slot and not outcome.clear_data
        assert outcome.returned_collateral is None


@pytest.mark.parametrize("slot", [SlotState.Finished, SlotState.Cancelled])
def test_finished_or_cancelled_slot_is_freed_and_pays_current_collateral(slot: SlotState) -> None:
    """ST-PAY-1 / ST-CAN-1: freeSlot pays out or refunds; the ledger gets what the chain holds."""
    outcome = settle(facts(slot, ME), FillRecord.LANDED, DEDUCTED)
    assert outcome.verdict == Verdict.SETTLE
    assert outcome.free_slot and outcome.clear_data
    assert outcome.returned_collateral == ON_CHAIN


def test_paid_slot_returns_what_was_paid_without_freeing_again() -> None:
    outcome = settle(facts(SlotState.Paid, ME), FillRecord.LANDED, DEDUCTED)
    assert (outcome.verdict, outcome.free_slot, outcome.returned_collateral) == (
        Verdict.SETTLE,
        False,
        ON_CHAIN,
    )


def test_failed_request_returns_nothing_and_frees_the_slot_from_my_slots() -> None:
    """ST-FAIL-1 / COL-4: the collateral of a failed request is forfeited; freeSlot on a Failed
    slot only removes it from the host's mySlots, so the sale sends it."""
    outcome = settle(facts(SlotState.Failed, ME), FillRecord.LANDED, DEDUCTED)
    assert (outcome.verdict, outcome.free_slot, outcome.returned_collateral) == (
        Verdict.SETTLE,
        True,
        0,
    )


@pytest.mark.parametrize("slot", [SlotState.Repair, SlotState.Filled, SlotState.Failed])
def test_a_landed_fill_no_longer_ours_was_slashed_away(slot: SlotState) -> None:
    """A slot slashed from us and repaired by another host is not credited back (was a bug)."""
    host = OTHER if slot == SlotState.Filled else None
    outcome = settle(facts(slot, host), FillRecord.LANDED, DEDUCTED)
    assert outcome.verdict == Verdict.SETTLE
    assert outcome.returned_collateral == 0
    assert not outcome.free_slot


@pytest.mark.parametrize(
    "slot,host,state",
    [
        (SlotState.Free, None, RequestState.New),
        (SlotState.Free, None, RequestState.Started),
        (SlotState.Filled, OTHER, RequestState.Started),
        (SlotState.Repair, None, RequestState.Started),
    ],
)
def test_a_sent_fill_of_unknown_fate_is_never_settled(
    slot: SlotState, host: str | None, state: RequestState
) -> None:
    outcome = settle(facts(slot, host, state), FillRecord.SENT, DEDUCTED)
    assert outcome.verdict == Verdict.WAIT
    assert not outcome.clear_data and not outcome.free_slot
    assert outcome.returned_collateral is None


@pytest.mark.parametrize(
    "state", [RequestState.Cancelled, RequestState.Failed, RequestState.Finished, None]
)
def test_a_sent_fill_on_a_free_slot_of_an_ended_request_can_no_longer_land(
    state: RequestState | None,
) -> None:
    outcome = settle(facts(SlotState.Free, None, state), FillRecord.SENT, DEDUCTED)
    assert outcome.verdict == Verdict.SETTLE
    assert outcome.returned_collateral == DEDUCTED


@pytest.mark.parametrize("fill", [FillRecord.NOT_SENT, FillRecord.REFUSED])
@pytest.mark.parametrize("slot", list(SlotState))
def test_nothing_deposited_returns_the_whole_deduction(fill: FillRecord, slot: SlotState) -> None:
    """Q-6: everything never deposited on chain comes back."""
    host = None if slot in (SlotState.Free, SlotState.Repair) else OTHER
    outcome = settle(facts(slot, host), fill, DEDUCTED)
    assert outcome.verdict == Verdict.SETTLE
    assert outcome.returned_collateral == DEDUCTED
    assert not outcome.free_slot


def test_no_combination_frees_a_filled_slot_or_clears_a_held_one() -> None:
    hosts = [ME, OTHER, None]
    requests: list[RequestState | None] = [*RequestState, None]
    for slot, host, request, fill in itertools.product(SlotState, hosts, requests, FillRecord):
        outcome = settle(facts(slot, host, request), fill, DEDUCTED)
        if outcome.free_slot:
            assert slot in (SlotState.Finished, SlotState.Cancelled, SlotState.Failed)
            assert host == ME
        if host == ME and slot == SlotState.Filled:
            assert not outcome.clear_data
        if outcome.verdict != Verdict.SETTLE:
            assert outcome.returned_collateral is None and not outcome.clear_data
        else:
            assert outcome.returned_collateral is not None
            assert outcome.returned_collateral <= max(DEDUCTED, ON_CHAIN)


def test_the_fill_record_never_moves_backwards() -> None:
    assert later_fill_record(FillRecord.LANDED, FillRecord.SENT) == FillRecord.LANDED
    assert later_fill_record(FillRecord.REFUSED, FillRecord.SENT) == FillRecord.REFUSED
    assert later_fill_record(FillRecord.NOT_SENT, FillRecord.SENT) == FillRecord.SENT
    assert later_fill_record(FillRecord.SENT, FillRecord.LANDED) == FillRecord.LANDED
    assert later_fill_record(FillRecord.LANDED, FillRecord.NOT_SENT) == FillRecord.LANDED


@pytest.mark.parametrize("slot", [SlotState.Free, SlotState.Repair])
def test_a_freed_slot_naming_us_as_host_is_not_held(slot: SlotState) -> None:
    """The contract clears the host when it frees a slot; an inconsistent read naming us must
    not make the sale hold (and re-read) a slot that is not running for it."""
    landed = settle(facts(slot, ME), FillRecord.LANDED, DEDUCTED)
    assert landed.verdict == Verdict.SETTLE and landed.returned_collateral == 0
    assert not landed.free_slot
    never_sent = settle(facts(slot, ME), FillRecord.NOT_SENT, DEDUCTED)
    assert never_sent.returned_collateral == DEDUCTED
