"""The development marketplace against MARKETPLACE_ABI.md §6-§10, on anvil.

Each test runs in its own evm snapshot with one second per block (see conftest).
"""

from typing import Any

import pytest
from eth_hash.auto import keccak
from web3 import Web3

from chain.config import CODEX_TEST
from tests.chain.conftest import (
    GIB,
    PROOF,
    ZERO_PROOF,
    Market,
    collateral_per_slot,
    make_request,
    max_price,
    price_per_slot_per_second,
    request_id,
    request_tuple,
    reverts,
    slot_id,
)

PERIOD = CODEX_TEST.proofs.period
TIMEOUT = CODEX_TEST.proofs.timeout
DOWNTIME = CODEX_TEST.proofs.downtime

# RequestState / SlotState (§1)
NEW, STARTED, CANCELLED, FINISHED, FAILED = range(5)
FREE, FILLED, S_FINISHED, S_FAILED, PAID, S_CANCELLED, REPAIR = range(7)


def created_at(market: Market, rid: bytes, r: dict[str, Any]) -> int:
    return int(market.view("requestExpiry", rid)) - int(r["expiry"])


def filled_at(receipt: Any, market: Market) -> int:
    return int(market.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def pointer(block_number: int, period: int, sid: bytes) -> int:
    """§8: the pointer a transaction in ``block_number`` sees for ``period``."""
    product = CODEX_TEST.proofs.downtime_product
    return (block_number % 256 + (period * product) % 256 + sid[-1]) % 256


# --- requests (§5, §10 requestStorage) ------------------------------------------------------


def test_request_storage_takes_max_price_and_records_request(market: Market) -> None:
    r = make_request(market.client)
    before = market.balance(market.client)
    rid = market.request_storage(r)
    # §10 worked numbers for the example request.
    assert max_price(r) == 154_618_822_656_000
    assert market.balance(market.client) == before - max_price(r)
    assert market.balance(market.marketplace.address) == max_price(r)

    now = market.chain.now()
    assert market.view("requestExpiry", rid) == now + 3600
    assert market.view("requestEnd", rid) == now + 36000
    assert market.view("requestState", rid) == NEW
    assert market.view("getRequest", rid) == request_tuple(r)
    assert market.view("myRequests", sender=market.client) == [rid]

    logs = market.marketplace.events.StorageRequested().get_logs(
        from_block=market.chain.block_number()
    )
    assert len(logs) == 1
    assert logs[0].args.requestId == rid  # §2 id derivation matches the contract's
    assert logs[0].args.ask["slotSize"] == GIB
    assert logs[0].args.expiry == now + 3600  # absolute expiresAt


HOSTILE = [
    ({"slots": 0}, "Marketplace_InsufficientSlots"),
    ({"maxSlotLoss": 5}, "Marketplace_InvalidMaxSlotLoss"),
    ({"collateralPerByte": 0}, "Marketplace_InsufficientCollateral"),
    ({"pricePerBytePerSecond": 0}, "Marketplace_InsufficientReward"),
    ({"proofProbability": 0}, "Marketplace_InsufficientProofProbability"),
    ({"cid": b""}, "Marketplace_InvalidCid"),
    ({"expiry": 0}, "Marketplace_InvalidExpiry"),
    ({"expiry": 36000}, "Marketplace_InvalidExpiry"),
    ({"expiry": 36001}, "Marketplace_InvalidExpiry"),
    ({"duration": 0}, "Marketplace_InvalidExpiry"),  # InvalidExpiry is checked first (§5)
    ({"duration": 30 * 24 * 3600 + 1}, "Marketplace_DurationExceedsLimit"),
]


@pytest.mark.parametrize(("overrides", "error"), HOSTILE)
def test_hostile_request_is_rejected_with_named_error(
    market: Market, overrides: dict[str, Any], error: str
) -> None:
    r = make_request(market.client, **overrides)
    with reverts(error):
        market.send(market.client, market.marketplace.functions.requestStorage(request_tuple(r)))


def test_request_checks_sender_duplicates_limit_and_payment(market: Market) -> None:
    r = make_request(market.client)
    f = market.marketplace.functions
    with reverts("Marketplace_InvalidClientAddress"):
        market.send(market.hosts[0], f.requestStorage(request_tuple(r)))
    with reverts("TestToken_InsufficientAllowance"):  # no approval: the transfer fails
        market.send(market.client, f.requestStorage(request_tuple(r)))
    at_limit = make_request(market.client, duration=30 * 24 * 3600, slotSize=1024)
    market.request_storage(at_limit)
    market.request_storage(r)
    with reverts("Marketplace_RequestAlreadyExists"):
        market.send(market.client, f.requestStorage(request_tuple(r)))


def test_unknown_request_views(market: Market) -> None:
    unknown = keccak(b"unknown")
    for name in ("requestState", "getRequest", "requestEnd"):
        with reverts("Marketplace_UnknownRequest"):
            market.view(name, unknown)
    assert market.view("requestExpiry", unknown) == 0
    assert market.view("slotState", slot_id(unknown, 0)) == FREE
    assert market.view("getHost", slot_id(unknown, 0)) == "0x" + "0" * 40
    with reverts("Marketplace_SlotIsFree"):
        market.view("getActiveSlot", slot_id(unknown, 0))


# --- reservations (§9) ----------------------------------------------------------------------


def test_reservations_are_capped_and_one_per_host(market: Market) -> None:
    rid = market.request_storage(make_request(market.client))
    f = market.marketplace.functions
    h = market.hosts
    assert market.view("canReserveSlot", rid, 0, sender=h[0])
    market.send(h[0], f.reserveSlot(rid, 0))
    assert not market.view("canReserveSlot", rid, 0, sender=h[0])
    with reverts("SlotReservations_ReservationNotAllowed"):
        market.send(h[0], f.reserveSlot(rid, 0))
    market.send(h[1], f.reserveSlot(rid, 0))
    receipt = market.send(h[2], f.reserveSlot(rid, 0))
    full = market.events("SlotReservationsFull", receipt)
    assert [(e.args.requestId, e.args.slotIndex) for e in full] == [(rid, 0)]
    assert not market.view("canReserveSlot", rid, 0, sender=h[3])
    with reverts("SlotReservations_ReservationNotAllowed"):
        market.send(h[3], f.reserveSlot(rid, 0))
    # reserveSlot checks neither the request nor the index (§9).
    market.send(h[0], f.reserveSlot(keccak(b"no such request"), 99))


# --- filling (§10 fillSlot) ------------------------------------------------------------------


def test_fill_slot_rules(market: Market) -> None:
    r = make_request(market.client)
    rid = market.request_storage(r)
    f = market.marketplace.functions
    h = market.hosts
    with reverts("Marketplace_UnknownRequest"):
        market.send(h[0], f.fillSlot(keccak(b"x"), 0, PROOF))
    with reverts("Marketplace_InvalidSlot"):
        market.send(h[0], f.fillSlot(rid, 4, PROOF))
    with reverts("Marketplace_ReservationRequired"):
        market.send(h[0], f.fillSlot(rid, 0, PROOF))
    for host in h[:2]:
        market.send(host, f.reserveSlot(rid, 0))
        market.send(host, market.token.functions.approve(market.marketplace.address, 2**255))
    with reverts("Proofs_InvalidProof"):
        market.send(h[0], f.fillSlot(rid, 0, ZERO_PROOF))

    before = market.balance(h[0])
    receipt = market.send(h[0], f.fillSlot(rid, 0, PROOF))
    sid = slot_id(rid, 0)
    # ProofSubmitted is emitted before SlotFilled.
    topics = [bytes(log["topics"][0]) for log in receipt["logs"]]
    proof_submitted = keccak(b"ProofSubmitted(bytes32)")
    slot_filled = keccak(b"SlotFilled(bytes32,uint64)")
    assert topics.index(proof_submitted) < topics.index(slot_filled)
    assert [(e.args.requestId, e.args.slotIndex) for e in market.events("SlotFilled", receipt)] == [
        (rid, 0)
    ]
    assert market.balance(h[0]) == before - collateral_per_slot(r) == before - 1_073_741_824
    assert market.view("currentCollateral", sid) == collateral_per_slot(r)
    assert market.view("getHost", sid) == h[0]
    assert market.view("slotState", sid) == FILLED
    assert market.view("mySlots", sender=h[0]) == [sid]
    assert market.view("getActiveSlot", sid) == (request_tuple(r), 0)
    with reverts("Marketplace_SlotNotFree"):
        market.send(h[1], f.fillSlot(rid, 0, PROOF))
    assert not market.view("canReserveSlot", rid, 0, sender=h[2])


def test_last_fill_starts_the_request(market: Market) -> None:
    r = make_request(market.client)
    rid = market.request_storage(r)
    for index in range(3):
        market.fill(market.hosts[index], rid, index)
        assert market.view("requestState", rid) == NEW
    receipt = market.fill(market.hosts[3], rid, 3)
    assert [e.args.requestId for e in market.events("RequestFulfilled", receipt)] == [rid]
    assert market.view("requestState", rid) == STARTED


# --- time: expiry, end (§7) ------------------------------------------------------------------


def test_unfilled_request_is_cancelled_strictly_after_expiry(market: Market) -> None:
    r = make_request(market.client)
    rid = market.request_storage(r)
    expires = market.view("requestExpiry", rid)
    market.chain.advance_to(expires)
    assert market.view("requestState", rid) == NEW  # strict comparison
    market.chain.advance(1)
    assert market.view("requestState", rid) == CANCELLED
    assert market.view("requestEnd", rid) == expires
    market.send(market.hosts[0], market.marketplace.functions.reserveSlot(rid, 1))
    with reverts("Marketplace_SlotNotFree"):
        market.send(market.hosts[0], market.marketplace.functions.fillSlot(rid, 1, PROOF))


def test_started_request_finishes_after_end(market: Market) -> None:
    r = make_request(market.client)
    rid = market.fill_all(r)
    end = market.view("requestEnd", rid)
    market.chain.advance_to(end)
    assert market.view("requestState", rid) == STARTED
    market.chain.advance(1)
    assert market.view("requestState", rid) == FINISHED
    assert market.view("slotState", slot_id(rid, 0)) == S_FINISHED
    assert market.view("requestEnd", rid) == end


# --- money (§10) -----------------------------------------------------------------------------


def test_finished_request_pays_hosts_and_refunds_client(market: Market) -> None:
    r = make_request(market.client)
    pps = price_per_slot_per_second(r)
    assert pps == 1_073_741_824
    client_before = market.balance(market.client)
    rid = market.request_storage(r)
    start = created_at(market, rid, r)
    fills = [filled_at(market.fill(market.hosts[i], rid, i), market) for i in range(4)]
    end = market.view("requestEnd", rid)
    f = market.marketplace.functions
    with reverts("Marketplace_InvalidState"):
        market.send(market.client, f.withdrawFunds(rid))
    market.chain.advance_to(end + 1)
    with reverts("Marketplace_InvalidClientAddress"):
        market.send(market.hosts[0], f.withdrawFunds(rid))

    for index, host in enumerate(market.hosts):
        before = market.balance(host)
        market.send(host, f.freeSlot(slot_id(rid, index)))
        assert market.balance(host) == before + (end - fills[index]) * pps + collateral_per_slot(r)
        assert market.view("slotState", slot_id(rid, index)) == PAID
        assert market.view("mySlots", sender=host) == []
    with reverts("Marketplace_AlreadyPaid"):
        market.send(market.hosts[0], f.freeSlot(slot_id(rid, 0)))

    market.send(market.client, f.withdrawFunds(rid))
    unearned = sum(fill - start for fill in fills) * pps
    assert market.balance(market.client) == client_before - max_price(r) + unearned
    assert market.balance(market.marketplace.address) == 0
    assert market.view("myRequests", sender=market.client) == []
    with reverts("Marketplace_NothingToWithdraw"):
        market.send(market.client, f.withdrawFunds(rid))


def test_cancelled_request_pays_hosts_until_expiry(market: Market) -> None:
    r = make_request(market.client)
    pps = price_per_slot_per_second(r)
    client_before = market.balance(market.client)
    rid = market.request_storage(r)
    fills = [filled_at(market.fill(market.hosts[i], rid, i), market) for i in range(2)]
    expires = market.view("requestExpiry", rid)
    market.chain.advance_to(expires + 1)
    assert market.view("slotState", slot_id(rid, 0)) == S_CANCELLED

    f = market.marketplace.functions
    receipt = market.send(market.client, f.withdrawFunds(rid))
    assert [e.args.requestId for e in market.events("RequestCancelled", receipt)] == [rid]
    hosts_earned = sum(expires - fill for fill in fills) * pps
    assert market.balance(market.client) == client_before - hosts_earned
    for index in range(2):
        host = market.hosts[index]
        before = market.balance(host)
        market.send(host, f.freeSlot(slot_id(rid, index), host, market.validator))
        assert market.balance(host) == before + (expires - fills[index]) * pps
    assert market.balance(market.validator) == 10**15 + 2 * collateral_per_slot(r)
    assert market.balance(market.marketplace.address) == 0


def test_leaving_a_running_request_forfeits_collateral_and_repair_gets_discount(
    market: Market,
) -> None:
    r = make_request(market.client)
    rid = market.fill_all(r)
    sid = slot_id(rid, 1)
    f = market.marketplace.functions
    with reverts("Marketplace_SlotIsFree"):
        market.send(market.hosts[1], f.freeSlot(slot_id(rid, 9)))
    with reverts("Marketplace_InvalidSlotHost"):
        market.send(market.hosts[0], f.freeSlot(sid))
    host = market.hosts[1]
    before = market.balance(host)
    receipt = market.send(host, f.freeSlot(sid))
    assert [(e.args.requestId, e.args.slotIndex) for e in market.events("SlotFreed", receipt)] == [
        (rid, 1)
    ]
    assert market.balance(host) == before  # 100 % slash: nothing back
    assert market.view("mySlots", sender=host) == []
    assert market.view("slotState", sid) == REPAIR
    assert market.view("getHost", sid) == "0x" + "0" * 40
    assert market.view("currentCollateral", sid) == 0
    assert market.view("getActiveSlot", sid) == (request_tuple(r), 1)  # raw state Repair
    assert market.view("requestState", rid) == STARTED  # 1 lost <= maxSlotLoss 2
    # Reservations were cleared: the old host may reserve again.
    assert market.view("canReserveSlot", rid, 1, sender=host)

    repairer = market.hosts[0]
    before = market.balance(repairer)
    market.fill(repairer, rid, 1)
    assert market.balance(repairer) == before - 966_367_642  # §10: 10 % repair discount
    assert market.view("currentCollateral", sid) == collateral_per_slot(r)


def test_losing_more_than_max_slot_loss_fails_the_request(market: Market) -> None:
    r = make_request(market.client, maxSlotLoss=1)
    client_before = market.balance(market.client)
    rid = market.fill_all(r)
    f = market.marketplace.functions
    market.send(market.hosts[0], f.freeSlot(slot_id(rid, 0)))
    assert market.view("requestState", rid) == STARTED
    receipt = market.send(market.hosts[1], f.freeSlot(slot_id(rid, 1)))
    assert [e.args.requestId for e in market.events("RequestFailed", receipt)] == [rid]
    failed_at = filled_at(receipt, market)
    assert market.view("requestState", rid) == FAILED
    assert market.view("requestEnd", rid) == failed_at - 1
    assert market.view("slotState", slot_id(rid, 2)) == S_FAILED
    # A failed request's slots are not Free or Repair: no new reservations, so no fills.
    with reverts("SlotReservations_ReservationNotAllowed"):
        market.send(market.hosts[0], f.reserveSlot(rid, 0))

    host = market.hosts[2]
    before = market.balance(host)
    market.send(host, f.freeSlot(slot_id(rid, 2)))
    assert market.balance(host) == before  # failed: collateral forfeited, no payout
    assert market.view("mySlots", sender=host) == []
    recipient = market.validator
    recipient_before = market.balance(recipient)
    market.send(market.client, f.withdrawFunds(rid, recipient))
    assert market.balance(recipient) == recipient_before + max_price(r)  # full refund
    assert market.balance(market.client) == client_before - max_price(r)


# --- periods, pointer, challenges, proofs (§8, §11) -----------------------------------------


def test_probability_pointer_and_challenge(market: Market) -> None:
    r = make_request(market.client)
    rid = market.request_storage(r)
    sid = slot_id(rid, 0)
    market.fill(market.hosts[0], rid, 0)
    assert market.view("slotProbability", sid) == 3  # 4 * (256 - 64) / 256
    for _ in range(3):
        n, t = market.chain.block_number(), market.chain.now()
        p = pointer(n, t // PERIOD, sid)
        assert market.view("getPointer", sid) == p
        block_hash = market.w3.eth.get_block(n - 1 - p)["hash"]
        assert market.view("getChallenge", sid) == keccak(bytes(block_hash))
        market.chain.mine(7)
    challenge = keccak(b"challenge")
    assert market.view("challengeToFieldElement", challenge) == int.from_bytes(
        challenge[:31], "little"
    )
    root = r["merkleRoot"]
    assert market.view("merkleRootToFieldElement", root) == int.from_bytes(root, "little")


def test_proof_required_outside_downtime_only_after_fill_period(market: Market) -> None:
    # proofProbability 1 -> slotProbability 0 -> every period requires a proof (§8).
    r = make_request(market.client, proofProbability=1)
    rid = market.request_storage(r)
    sid = slot_id(rid, 0)
    fill_time = filled_at(market.fill(market.hosts[0], rid, 0), market)
    assert market.view("slotProbability", sid) == 0
    fn = market.marketplace.functions
    while market.chain.now() // PERIOD == fill_time // PERIOD:
        assert not fn.isProofRequired(sid).call(block_identifier="latest")
        assert not fn.willProofBeRequired(sid).call(block_identifier="latest")
        market.chain.mine()
    seen = set()
    for _ in range(80):
        n, t = market.chain.block_number(), market.chain.now()
        in_downtime = pointer(n, t // PERIOD, sid) < DOWNTIME
        seen.add(in_downtime)
        assert fn.isProofRequired(sid).call(block_identifier="latest") is not in_downtime
        assert fn.willProofBeRequired(sid).call(block_identifier="latest") is in_downtime
        market.chain.mine()
    assert seen == {True, False}


def test_submit_proof_rules(market: Market) -> None:
    r = make_request(market.client)
    rid = market.request_storage(r)
    sid = slot_id(rid, 0)
    host = market.hosts[0]
    start_of_next_period = (market.chain.now() // PERIOD + 1) * PERIOD
    market.chain.advance_to(start_of_next_period)
    market.fill(host, rid, 0)  # three blocks: reserve, approve, fill
    f = market.marketplace.functions
    with reverts("Proofs_ProofAlreadySubmitted"):  # fillSlot counted for this period
        market.send(host, f.submitProof(sid, PROOF))
    market.chain.advance_to(start_of_next_period + PERIOD)
    with reverts("Marketplace_ProofNotSubmittedByHost"):
        market.send(market.hosts[1], f.submitProof(sid, PROOF))
    with reverts("Proofs_InvalidProof"):
        market.send(host, f.submitProof(sid, ZERO_PROOF))
    receipt = market.send(host, f.submitProof(sid, PROOF))
    assert [e.args.id for e in market.events("ProofSubmitted", receipt)] == [sid]
    with reverts("Proofs_ProofAlreadySubmitted"):
        market.send(host, f.submitProof(sid, PROOF))
    with reverts("Marketplace_UnknownRequest"):
        market.send(host, f.submitProof(slot_id(rid, 3), PROOF))


def prepare_mark(market: Market, sid: bytes, *, required: bool) -> int:
    """Set up the next block to be 1 s after the end of a future period ``p`` and return ``p``.

    Blocks are mined first so that the marking block's pointer is out of downtime (with margin
    for a second transaction) when ``required``, or inside downtime otherwise.
    """
    market.chain.mine()  # consume any timestamp set for the next block
    n0, t0 = market.chain.block_number(), market.chain.now()
    p = (t0 + 300) // PERIOD + 1
    for k in range(256):
        ptr = pointer(n0 + k + 1, p, sid)
        if (DOWNTIME <= ptr <= 200) if required else (ptr < DOWNTIME - 2):
            break
    if k:
        market.chain.mine(k)
    market.chain.next_block_at((p + 1) * PERIOD + 1)
    return p


def test_mark_proof_as_missing_slashes_and_rewards_validator(market: Market) -> None:
    r = make_request(market.client, proofProbability=1)
    rid = market.fill_all(r)
    sid = slot_id(rid, 0)
    f = market.marketplace.functions
    v = market.validator
    with reverts("Marketplace_SlotNotAcceptingProofs"):
        f.canMarkProofAsMissing(slot_id(keccak(b"x"), 0), 1).call()

    p = prepare_mark(market, sid, required=True)
    f.canMarkProofAsMissing(sid, p).call(block_identifier="pending")  # does not revert
    before = market.balance(v)
    market.send(v, f.markProofAsMissing(sid, p))
    assert market.balance(v) == before + 21_474_836  # §10: 20 % of a 10 % slash of 1 GiB
    assert market.view("currentCollateral", sid) == collateral_per_slot(r) - 107_374_182
    assert market.view("missingProofs", sid) == 1
    with reverts("Proofs_ProofAlreadyMarkedMissing"):
        market.send(v, f.markProofAsMissing(sid, p))


def test_mark_proof_as_missing_time_and_proof_checks(market: Market) -> None:
    r = make_request(market.client, proofProbability=1)
    rid = market.fill_all(r)
    sid = slot_id(rid, 0)
    f = market.marketplace.functions
    v = market.validator

    p = prepare_mark(market, sid, required=True)
    market.chain.next_block_at(p * PERIOD + 9)  # still inside period p
    with reverts("Proofs_PeriodNotEnded"):
        f.canMarkProofAsMissing(sid, p).call(block_identifier="pending")
    market.chain.next_block_at((p + 1) * PERIOD)  # exactly the end: not ended (strict)
    with reverts("Proofs_PeriodNotEnded"):
        f.canMarkProofAsMissing(sid, p).call(block_identifier="pending")
    market.chain.next_block_at((p + 1) * PERIOD + TIMEOUT)
    with reverts("Proofs_ValidationTimedOut"):
        f.canMarkProofAsMissing(sid, p).call(block_identifier="pending")

    p = prepare_mark(market, sid, required=False)
    with reverts("Proofs_ProofNotRequired"):  # pointer in downtime
        market.send(v, f.markProofAsMissing(sid, p))

    # A proof submitted during the period is not missing.
    p = prepare_mark(market, sid, required=True)
    market.chain.next_block_at(p * PERIOD + 2)
    market.send(market.hosts[0], f.submitProof(sid, PROOF))
    market.chain.next_block_at((p + 1) * PERIOD + 1)
    with reverts("Proofs_ProofNotMissing"):
        market.send(v, f.markProofAsMissing(sid, p))


def test_max_slashes_free_the_slot(market: Market) -> None:
    r = make_request(market.client, proofProbability=1)
    rid = market.fill_all(r)
    sid = slot_id(rid, 2)
    v = market.validator
    before = market.balance(v)
    slashes = CODEX_TEST.collateral.max_number_of_slashes
    for done in range(1, slashes + 1):
        p = prepare_mark(market, sid, required=True)
        receipt = market.send(v, market.marketplace.functions.markProofAsMissing(sid, p))
        freed = market.events("SlotFreed", receipt)
        assert bool(freed) is (done == slashes)
    assert market.balance(v) == before + slashes * 21_474_836
    assert market.view("slotState", sid) == REPAIR
    assert market.view("missingProofs", sid) == 0
    assert market.view("currentCollateral", sid) == 0
    with reverts("Marketplace_SlotNotAcceptingProofs"):
        market.send(v, market.marketplace.functions.markProofAsMissing(sid, 1))


def test_configuration_round_trips(market: Market) -> None:
    from chain.config import MarketplaceConfig

    assert MarketplaceConfig.from_abi(market.view("configuration")) == CODEX_TEST
    assert market.view("token") == market.token.address
    assert Web3.is_checksum_address(market.view("token"))
    assert request_id(make_request(market.client, nonce=b"\x01" * 32)) != request_id(
        make_request(market.client, nonce=b"\x02" * 32)
    )


def test_refill_in_the_period_the_previous_host_proved_is_rejected(market: Market) -> None:
    """§8: proofs are per slot and period, so a repair in the same period finds one received."""
    r = make_request(market.client)
    rid = market.request_storage(r)
    sid = slot_id(rid, 0)
    f = market.marketplace.functions
    first, second = market.hosts[:2]
    market.chain.advance_to((market.chain.now() // PERIOD + 1) * PERIOD)  # a fresh period
    market.fill(first, rid, 0)
    market.send(first, f.freeSlot(sid))
    market.send(second, f.reserveSlot(rid, 0))
    market.send(second, market.token.functions.approve(market.marketplace.address, 2**255))
    with reverts("Proofs_ProofAlreadySubmitted"):
        market.send(second, f.fillSlot(rid, 0, PROOF))
    market.chain.advance_to((market.chain.now() // PERIOD + 1) * PERIOD)
    market.send(second, f.fillSlot(rid, 0, PROOF))
    assert market.view("getHost", sid) == second
