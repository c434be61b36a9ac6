"""What only the fake has: its clock, listeners, settable proof requirements (MOCK-7, MOCK-10),
atomic reverts, and the slashing flow driven by a deterministic rule."""

import pytest
from eth_account import Account

from chain.events import AnyEvent
from chain.fake import MOCK_CONFIG, FakeChain, FakeMarket
from chain.market import MarketError, ProofInvalidError
from sales.dispersal import DispersalWindow, is_eligible
from sales.ids import slot_id
from sales.models import Groth16Proof, SlotState
from tests.chain.scenarios import PROOF, make_request

MINT = 10**15


def world() -> tuple[FakeChain, FakeMarket, FakeMarket, FakeMarket]:
    chain = FakeChain(MOCK_CONFIG)
    client, host, validator = (chain.market(Account.create().address) for _ in range(3))
    for market in (client, host, validator):
        chain.mint(market.address, MINT)
    return chain, client, host, validator


async def filled_slot(chain: FakeChain, client: FakeMarket, host: FakeMarket) -> str:
    request = make_request(client.address, slots=1, max_slot_loss=0)
    await client.request_storage(request)
    await host.reserve_slot(request.id, 0)
    await host.fill_slot(request.id, 0, PROOF, await host.slot_collateral(request.id, 0))
    return slot_id(request.id, 0)


async def test_listeners_see_committed_events_in_chain_order() -> None:
    chain, client, host, _ = world()
    seen: list[AnyEvent] = []

    async def listener(event: AnyEvent) -> None:
        seen.append(event)

    chain.add_listener(listener)
    await filled_slot(chain, client, host)
    assert seen == chain.events
    assert [e.kind for e in seen] == [
        "StorageRequested", "ProofSubmitted", "SlotFilled", "RequestFulfilled",
    ]  # fmt: skip
    assert [e.position for e in seen] == sorted(e.position for e in seen)
    assert len({e.key for e in seen}) == len(seen)
    fill_tx = {e.tx_hash for e in seen[1:]}
    assert len(fill_tx) == 1 and [e.log_index for e in seen[1:]] == [0, 1, 2]


async def test_a_reverted_transaction_leaves_no_trace() -> None:
    """A fill whose collateral transfer fails changes nothing (the contract reverts atomically)."""
    chain, client, host, _ = world()
    poor = chain.market(Account.create().address)
    request = make_request(client.address, slots=1, max_slot_loss=0)
    await client.request_storage(request)
    await poor.reserve_slot(request.id, 0)
    events_before = list(chain.events)
    with pytest.raises(MarketError, match="Marketplace_TransferFailed"):
        await poor.fill_slot(request.id, 0, PROOF, request.ask.collateral_per_slot)
    sid = slot_id(request.id, 0)
    assert chain.events == events_before
    assert await poor.slot_state(sid) == SlotState.Free
    assert await poor.get_host(sid) is None
    assert await poor.my_slots() == []
    assert await host.can_reserve_slot(request.id, 0)  # the reservation set is unchanged


async def test_clock_only_moves_forward() -> None:
    chain, *_ = world()
    chain.advance(10)
    with pytest.raises(ValueError, match="never goes back"):
        chain.set_time(chain.now - 1)


async def test_settable_proof_requirements_and_verifier() -> None:
    """MOCK-7: required / will-be-required come from sets; the verifier is replaceable."""
    chain, client, host, _ = world()
    sid = await filled_slot(chain, client, host)
    assert not await host.is_proof_required(sid)
    chain.proofs_required.add(sid)
    chain.proofs_will_be_required.add(sid)
    assert await host.is_proof_required(sid) and await host.will_proof_be_required(sid)
    chain.pointers[sid] = 200
    assert await host.get_pointer(sid) == 200
    chain.advance(MOCK_CONFIG.proofs.period)
    chain.verifier = lambda proof: False
    with pytest.raises(ProofInvalidError):
        await host.submit_proof(sid, PROOF)
    with pytest.raises(ProofInvalidError):
        await host.submit_proof(sid, Groth16Proof.zero())


async def test_missed_proofs_are_slashed_until_the_slot_is_freed() -> None:
    """§10 slashing with a deterministic rule: maxNumberOfSlashes misses free the slot."""
    chain, client, host, validator = world()
    sid = await filled_slot(chain, client, host)
    chain.proof_rule = lambda slot, period: True
    chain.pointers[sid] = 255  # outside the downtime: required "now"
    period = MOCK_CONFIG.proofs.period
    collateral = await host.current_collateral(sid)
    slashed = collateral * MOCK_CONFIG.collateral.slash_percentage // 100
    balance = await validator.token_balance()
    for miss in range(1, MOCK_CONFIG.collateral.max_number_of_slashes + 1):
        chain.advance(period)
        missed = chain.period_of(chain.now)
        assert await host.is_proof_required(sid)
        assert not await validator.can_mark_proof_as_missing(sid, missed)  # not ended yet
        chain.set_time(chain.period_end(missed) + 1)  # inside the validation timeout
        assert await validator.can_mark_proof_as_missing(sid, missed)
        assert await validator.mark_proof_as_missing(sid, missed) is not None
        if miss < MOCK_CONFIG.collateral.max_number_of_slashes:
            with pytest.raises(MarketError, match="ProofAlreadyMarkedMissing"):
                await validator.mark_proof_as_missing(sid, missed)
            assert await host.current_collateral(sid) == collateral - miss * slashed
            assert await validator.missing_proofs(sid) == miss
    # the only slot is lost (maxSlotLoss 0): freed for repair, and the request fails
    assert [e.kind for e in chain.events][-2:] == ["SlotFreed", "RequestFailed"]
    assert await host.slot_state(sid) == SlotState.Failed
    assert await host.get_host(sid) is None
    assert await validator.missing_proofs(sid) == 0
    reward = slashed * MOCK_CONFIG.collateral.validator_reward_percentage // 100
    assert await validator.token_balance() == balance + 5 * reward
    chain.advance(period)
    # a freed slot accepts no more marks
    with pytest.raises(MarketError, match="SlotNotAcceptingProofs"):
        await validator.mark_proof_as_missing(sid, chain.period_of(chain.now) - 2)


async def test_a_sent_hash_that_was_mined_is_not_sent_again() -> None:
    chain, client, _, _ = world()
    request = make_request(client.address, slots=1, max_slot_loss=0)
    tx = await client.request_storage(request)
    assert tx is not None
    assert await client.request_storage(request, sent=tx) == tx
    assert client.sent == [tx] and chain.mined == [tx]


async def test_dispersal_window_opens_with_time_and_restarts_when_a_slot_is_freed() -> None:
    """ARCHITECTURE §5, as the development contract enforces it when the window is on."""
    window = DispersalWindow(initial_bits=0, window_percent=50)
    chain = FakeChain(MOCK_CONFIG, dispersal=window)
    client, host, other = (chain.market(Account.create().address) for _ in range(3))
    for market in (client, host, other):
        chain.mint(market.address, MINT)
    request = make_request(client.address, slots=2, max_slot_loss=1, expiry=1000)
    await client.request_storage(request)
    sid = slot_id(request.id, 0)
    start = chain.now
    # nobody is at XOR distance 0: the slot is closed to this host at first
    assert not await host.can_reserve_slot(request.id, 0)
    for elapsed in (0, 125, 250, 499, 500):  # the window is 50 % of the 1000 s expiry
        chain.set_time(start + elapsed)
        expected = is_eligible(window, sid, host.address, start, request.expiry, chain.now)
        assert await host.can_reserve_slot(request.id, 0) == expected
    assert await host.can_reserve_slot(request.id, 0)  # everyone after the whole window
    await host.reserve_slot(request.id, 0)
    await host.fill_slot(request.id, 0, PROOF, request.ask.collateral_per_slot)
    chain.advance(MOCK_CONFIG.proofs.period)
    await host.free_slot(sid)  # forcibly freed: this slot's window starts again from now
    assert await other.slot_state(sid) == SlotState.Repair
    assert not await other.can_reserve_slot(request.id, 0)
    assert await other.can_reserve_slot(request.id, 1)  # the untouched slot stays open
