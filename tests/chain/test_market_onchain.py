"""OnChainMarket against the development contract: what the shared scenarios cannot show.

Nonces under concurrency and restarts, retries by hash, gas multipliers (MKT-5), exact
approvals (MKT-7; issue 13 point 5), typed token errors (point 4), caching (MKT-8, MKT-10),
pending-block reads (MKT-4), the validator's flow and the remaining error mappings (MKT-2/3).
"""

import asyncio
from typing import Any

import pytest
from eth_account import Account
from eth_hash.auto import keccak
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import TransactionNotFound

from chain.client import OnChainClient
from chain.config import MarketplaceConfig as DeployConfig
from chain.deploy import deploy_marketplace
from chain.errors import ContractRevertError, TokenAllowanceError, TokenBalanceError
from chain.fake import FakeChain
from chain.market import SlotStateMismatchError
from chain.onchain import ChainUnavailableError, OnChainMarket, bumped_fees, capped
from sales.dispersal import DispersalWindow, is_eligible
from sales.hexbytes import to_bytes
from sales.ids import slot_id
from sales.models import RequestState, SlotState
from tests.chain.scenarios import (
    MINT,
    PROOF,
    ChainWorld,
    chain_node,  # noqa: F401  (fixture)
    chain_world,  # noqa: F401  (fixture)
    fresh_chain,  # noqa: F401  (fixture)
    make_request,
    raises,
    requested,
    reserve_and_fill,
)


def _market(world: ChainWorld, index: int, **options: Any) -> OnChainClient:
    key = world.node.accounts[index].private_key
    return OnChainClient(world.w3, world.contracts.marketplace, key, poll_interval=0.01, **options)


async def _nonce(world: ChainWorld, address: str) -> int:
    return int(await world.w3.eth.get_transaction_count(address, "pending"))  # type: ignore[arg-type]


async def _tx(world: ChainWorld, tx_hash: str) -> Any:
    return await world.w3.eth.get_transaction(HexBytes(tx_hash))


async def test_twenty_concurrent_transactions_from_one_signer(chain_world: ChainWorld) -> None:  # noqa: F811
    """20 reservations at once: all mined, nonces consecutive, none reused or skipped."""
    world = chain_world
    request = await requested(world, slots=20, max_slot_loss=0)
    host = world.markets[1]
    address = await host.get_signer()
    first = await _nonce(world, address)
    hashes = await asyncio.gather(*(host.reserve_slot(request.id, i) for i in range(20)))
    assert all(h is not None for h in hashes) and len(set(hashes)) == 20
    nonces = sorted([int((await _tx(world, h))["nonce"]) for h in hashes if h])
    assert nonces == list(range(first, first + 20))
    for h in hashes:
        receipt = await world.w3.eth.get_transaction_receipt(HexBytes(h or ""))
        assert receipt["status"] == 1
    assert await _nonce(world, address) == first + 20
    # a retry with a mined hash sends nothing
    assert await host.reserve_slot(request.id, 3, sent=hashes[3]) == hashes[3]
    assert await _nonce(world, address) == first + 20
    for i in range(20):
        assert not await host.can_reserve_slot(request.id, i)


async def test_nonces_survive_a_restart_and_a_second_process(chain_world: ChainWorld) -> None:  # noqa: F811
    """A new instance reads the pending count; a stale local count is corrected and retried."""
    world = chain_world
    request = await requested(world, slots=4, max_slot_loss=0)
    first = _market(world, 2)
    reads: list[int] = []
    original = first._pending_count

    async def counting() -> int:
        reads.append(await original())
        return reads[-1]

    first._nonces._pending_count = counting
    assert await first.reserve_slot(request.id, 0) is not None
    restarted = _market(world, 2)  # same key, fresh process state
    assert await restarted.reserve_slot(request.id, 1) is not None
    # `first` still believes its next nonce is the one `restarted` just used
    assert await first.reserve_slot(request.id, 2) is not None
    assert await first.reserve_slot(request.id, 3) is not None
    assert len(reads) == 2  # the stale count was dropped and re-read exactly once
    assert reads[1] == reads[0] + 2
    assert await _nonce(world, first.address) == reads[0] + 4


async def _until_in_mempool(world: ChainWorld, tx_hash: str) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        try:
            await world.w3.eth.get_transaction(HexBytes(tx_hash))
            return
        except TransactionNotFound:
            if asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.01)


async def test_retry_of_a_transaction_still_in_the_mempool(chain_world: ChainWorld) -> None:  # noqa: F811
    """With automine off the first attempt stays pending; the retry waits for it, sends nothing."""
    world = chain_world
    request = await requested(world, slots=1, max_slot_loss=0)
    host = world.markets[1]
    recorded: list[str] = []
    signed = asyncio.Event()

    async def on_sent(tx_hash: str) -> None:
        recorded.append(tx_hash)
        signed.set()

    await world.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        attempt = asyncio.ensure_future(host.reserve_slot(request.id, 0, on_sent=on_sent))
        await asyncio.wait_for(signed.wait(), timeout=10)
        await _until_in_mempool(world, recorded[0])
        attempt.cancel()  # the activity died before the receipt came back
        retry = asyncio.ensure_future(host.reserve_slot(request.id, 0, sent=recorded[0]))
        done, _ = await asyncio.wait({retry}, timeout=0.2)
        assert not done  # it is waiting for the pending transaction, not resending
        await world.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        assert await retry == recorded[0]
    finally:
        await world.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    assert await _nonce(world, host.address) == int((await _tx(world, recorded[0]))["nonce"]) + 1


async def test_a_stuck_transaction_is_resent_at_higher_fees(chain_world: ChainWorld) -> None:  # noqa: F811
    """No receipt within resend_after: the same nonce is signed again with fees raised by at
    least 1/8; the node keeps the replacement, which is mined once; the call returns its hash."""
    world = chain_world
    request = await requested(world, slots=1, max_slot_loss=0)
    host = _market(world, 1, resend_after=0.3)
    recorded: list[str] = []

    async def on_sent(tx_hash: str) -> None:
        recorded.append(tx_hash)

    await world.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        attempt = asyncio.ensure_future(host.reserve_slot(request.id, 0, on_sent=on_sent))
        deadline = asyncio.get_running_loop().time() + 10
        while not recorded:
            assert asyncio.get_running_loop().time() < deadline, "nothing was sent"
            await asyncio.sleep(0.01)
        await _until_in_mempool(world, recorded[0])
        original = await _tx(world, recorded[0])
        while len(recorded) < 2:
            assert asyncio.get_running_loop().time() < deadline, "no replacement was sent"
            await asyncio.sleep(0.01)
        await _until_in_mempool(world, recorded[1])
        await world.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        mined_hash = await attempt
    finally:
        await world.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    assert mined_hash in recorded[1:]
    mined = await _tx(world, mined_hash or "")
    assert mined["nonce"] == original["nonce"]
    tip, fee = original["maxPriorityFeePerGas"], original["maxFeePerGas"]
    assert mined["maxPriorityFeePerGas"] >= tip + tip // 8 + 1
    assert mined["maxFeePerGas"] >= fee + fee // 8 + 1
    assert (await world.w3.eth.get_transaction_receipt(HexBytes(mined_hash or "")))["status"] == 1
    assert await _nonce(world, host.address) == original["nonce"] + 1
    assert not await host.can_reserve_slot(request.id, 0)  # reserved, once


async def test_a_refused_fee_bump_keeps_the_recorded_hash(
    chain_world: ChainWorld,  # noqa: F811
) -> None:
    """A replacement the node refuses (geth: "replacement transaction underpriced"; anvil takes
    any bump, so the refusal is the node's answer played here) is never reported: the hash a
    retried activity looks up stays the one the node holds, and that retry finds it mined."""
    world = chain_world
    request = await requested(world, slots=1, max_slot_loss=0)
    host = _market(world, 1, resend_after=0.2, tx_timeout=1.5)
    send = host.w3.eth.send_raw_transaction
    broadcasts: list[Any] = []

    async def refuse_replacements(raw: Any) -> Any:
        broadcasts.append(raw)
        if len(broadcasts) > 1:
            raise ValueError("replacement transaction underpriced")
        return await send(raw)

    host.w3.eth.send_raw_transaction = refuse_replacements  # type: ignore[method-assign,assignment]
    recorded: list[str] = []

    async def on_sent(tx_hash: str) -> None:
        recorded.append(tx_hash)

    await world.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        with pytest.raises(ChainUnavailableError, match="3 fee bump"):
            await host.reserve_slot(request.id, 0, on_sent=on_sent)
        assert len(broadcasts) == 4 and len(recorded) == 1, "refused bumps are not reported"
        await world.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    finally:
        await world.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    assert await host.reserve_slot(request.id, 0, sent=recorded[0]) == recorded[0]


def test_replacement_fees_beat_the_sent_ones_and_the_market() -> None:
    sent = {"maxFeePerGas": 100, "maxPriorityFeePerGas": 8}
    calm = bumped_fees(sent, {"maxFeePerGas": 50, "maxPriorityFeePerGas": 2})
    assert calm == {"maxFeePerGas": 113, "maxPriorityFeePerGas": 10}
    spike = bumped_fees(sent, {"maxFeePerGas": 1_000, "maxPriorityFeePerGas": 40})
    assert spike == {"maxFeePerGas": 1_000, "maxPriorityFeePerGas": 40}


def test_the_fee_cap_bounds_first_fees_and_bumps() -> None:
    sent = {"maxFeePerGas": 100, "maxPriorityFeePerGas": 8}
    calm = {"maxFeePerGas": 50, "maxPriorityFeePerGas": 2}
    assert bumped_fees(sent, calm, cap=113) == {"maxFeePerGas": 113, "maxPriorityFeePerGas": 10}
    assert bumped_fees(sent, calm, cap=112) is None  # no room for a +1/8 bump: keep waiting
    assert capped({"maxFeePerGas": 500, "maxPriorityFeePerGas": 20}, 300) == {
        "maxFeePerGas": 300,
        "maxPriorityFeePerGas": 20,
    }
    assert capped({"maxFeePerGas": 500, "maxPriorityFeePerGas": 400}, 300) == {
        "maxFeePerGas": 300,
        "maxPriorityFeePerGas": 300,
    }
    assert capped(calm, None) == calm
    with pytest.raises(ValueError):
        OnChainMarket.connect("http://127.0.0.1:1", "0x" + "11" * 20, "0x" + "22" * 32,
                              max_fee_per_gas=0)  # fmt: skip


async def test_gas_limits_use_the_mkt5_multipliers(chain_world: ChainWorld) -> None:  # noqa: F811
    world = chain_world
    request = await requested(world, slots=1, max_slot_loss=0)
    host = world.markets[1]
    market = world.contracts.marketplace

    async def estimate(data: bytes) -> int:
        tx: Any = {"from": host.address, "to": market, "data": data}
        return int(await world.w3.eth.estimate_gas(tx))

    reserve_data = host._encode("reserveSlot", [to_bytes(request.id), 0])
    expected = await estimate(reserve_data) * 125 // 100
    tx_hash = await host.reserve_slot(request.id, 0)
    assert tx_hash is not None and (await _tx(world, tx_hash))["gas"] == expected
    await host.approve_funds(request.ask.collateral_per_slot)
    fill_data = host._encode("fillSlot", [to_bytes(request.id), 0, PROOF.abi_tuple()])
    expected = await estimate(fill_data) * 110 // 100
    tx_hash = await host.fill_slot(request.id, 0, PROOF, 0)
    assert tx_hash is not None and (await _tx(world, tx_hash))["gas"] == expected
    free_data = host._encode("freeSlot", [to_bytes(slot_id(request.id, 0))])
    expected = await estimate(free_data) * 3
    tx_hash = await host.free_slot(slot_id(request.id, 0))
    assert tx_hash is not None and (await _tx(world, tx_hash))["gas"] == expected


async def _approvals(world: ChainWorld, host: OnChainClient, since: int) -> list[int]:
    """Amounts of every approve() the host sent to the token after block ``since``."""
    token = (await host.token()).lower()
    selector = keccak(b"approve(address,uint256)")[:4]
    amounts = []
    for number in range(since + 1, int(await world.w3.eth.block_number) + 1):
        block = await world.w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            assert not isinstance(tx, bytes)
            data = bytes(tx["input"])
            if str(tx["to"]).lower() == token and tx["from"] == host.address:
                assert data[:4] == selector
                amounts.append(int.from_bytes(data[36:68], "big"))
    return amounts


async def test_a_fill_approves_exactly_its_collateral(chain_world: ChainWorld) -> None:  # noqa: F811
    """Point 5 (MKT-7 exactly): the allowance is set to the collateral, not added to; after the
    fill nothing is left approved, and a stale larger allowance is brought down first."""
    world = chain_world
    host = world.markets[1]
    request = await requested(world, slots=2, max_slot_loss=0)
    collateral = request.ask.collateral_per_slot
    await host.approve_funds(10 * collateral)  # a stale allowance, e.g. from an older release
    start = int(await world.w3.eth.block_number)
    await reserve_and_fill(world, host, request, 0)
    assert await _approvals(world, host, start) == [collateral]
    assert await host.allowance() == 0
    assert await host.approve_funds(0) is None  # already exactly that: no transaction


async def test_a_retried_fill_never_raises_the_allowance_twice(chain_world: ChainWorld) -> None:  # noqa: F811
    """Point 5: the fill's first attempt dies after its approval landed; the retry finds the
    allowance already exact, sends no second approval, and the allowance never exceeds it."""
    world = chain_world
    host = world.markets[1]
    request = await requested(world, slots=1, max_slot_loss=0)
    collateral = request.ask.collateral_per_slot
    assert await host.reserve_slot(request.id, 0) is not None
    start = int(await world.w3.eth.block_number)
    original = host._transact
    failed: list[str] = []

    async def dies_once(operation: str, data: bytes, **kw: Any) -> str:
        if operation == "fillSlot" and not failed:
            failed.append(operation)
            raise ChainUnavailableError("connection reset before the fill was sent")
        return await original(operation, data, **kw)

    host._transact = dies_once  # type: ignore[method-assign]
    with pytest.raises(ChainUnavailableError):
        await host.fill_slot(request.id, 0, PROOF, collateral)
    assert await host.allowance() == collateral
    assert await host.fill_slot(request.id, 0, PROOF, collateral) is not None
    assert await _approvals(world, host, start) == [collateral]
    assert await host.allowance() == 0


async def test_concurrent_spenders_of_one_signer_each_get_their_exact_allowance(
    chain_world: ChainWorld,  # noqa: F811
) -> None:
    """Point 5: two fills of one signer run concurrently; each approval is exact and kept until
    its own transaction spent it, so neither fill finds the other's amount."""
    world = chain_world
    host = world.markets[1]
    request = await requested(world, slots=2, max_slot_loss=0)
    for index in (0, 1):
        assert await host.reserve_slot(request.id, index) is not None
    collateral = request.ask.collateral_per_slot
    fills = [host.fill_slot(request.id, i, PROOF, collateral) for i in (0, 1)]
    assert all(tx is not None for tx in await asyncio.gather(*fills))
    assert await host.allowance() == 0


async def test_token_refusals_of_a_fill_are_typed(chain_world: ChainWorld) -> None:  # noqa: F811
    """Point 4 on anvil: the token's errors bubbling out of fillSlot are typed: too small an
    allowance is `TokenAllowanceError`, a host without tokens `TokenBalanceError`."""
    world = chain_world
    host = world.markets[1]
    request = await requested(world, slots=2, max_slot_loss=0)
    collateral = request.ask.collateral_per_slot
    assert await host.reserve_slot(request.id, 0) is not None
    error = await raises(TokenAllowanceError, host.fill_slot(request.id, 0, PROOF, collateral - 1))
    assert isinstance(error, TokenAllowanceError)
    assert error.reason == "TestToken_InsufficientAllowance"
    poor = Account.create()
    await world.w3.provider.make_request(
        "anvil_setBalance",  # type: ignore[arg-type]
        [poor.address, hex(10**20)],
    )
    broke = OnChainClient(world.w3, world.contracts.marketplace, poor.key.hex(), poll_interval=0.01)
    assert await broke.reserve_slot(request.id, 1) is not None
    error = await raises(TokenBalanceError, broke.fill_slot(request.id, 1, PROOF, collateral))
    assert isinstance(error, TokenBalanceError) and error.reason == "TestToken_InsufficientBalance"


async def test_configuration_and_requests_are_cached(chain_world: ChainWorld) -> None:  # noqa: F811
    """MKT-8 (config once) and MKT-10 (LRU of requests, unknown ids not cached)."""
    world = chain_world
    requests = [await requested(world, slots=1, max_slot_loss=0) for _ in range(3)]
    market = _market(world, 3, request_cache_size=2)
    calls: list[bytes] = []
    original = market._call_raw

    async def counting(data: bytes, **kw: Any) -> bytes:
        calls.append(data[:4])
        return await original(data, **kw)

    market._call_raw = counting  # type: ignore[method-assign]
    config = await market.configuration()
    assert config == await market.configuration() == world.config
    assert calls.count(keccak(b"configuration()")[:4]) == 1
    for r in requests[:2]:
        assert await market.get_request(r.id) == r
    reads = len(calls)
    assert await market.get_request(requests[0].id) == requests[0]
    assert await market.get_request(requests[1].id) == requests[1]
    assert len(calls) == reads  # both served from the cache
    assert await market.get_request(requests[2].id) == requests[2]  # evicts the oldest
    reads = len(calls)
    assert await market.get_request(requests[0].id) == requests[0]
    assert len(calls) == reads + 1


async def test_mkt4_reads_use_the_pending_block(chain_world: ChainWorld) -> None:  # noqa: F811
    world = chain_world
    request = await requested(world, slots=1, max_slot_loss=0)
    market = _market(world, 3)
    tags: dict[str, str] = {}
    original = market.w3.eth.call

    async def recording(tx: Any, block: Any = None, *a: Any, **kw: Any) -> Any:
        tags[bytes(tx["data"][:4]).hex()] = block
        return await original(tx, block, *a, **kw)

    market.w3.eth.call = recording  # type: ignore[method-assign,assignment]
    try:
        sid = slot_id(request.id, 0)
        await market.get_pointer(sid)
        await market.get_challenge(sid)
        await market.is_proof_required(sid)
        await market.will_proof_be_required(sid)
        await market.slot_state(sid)
        await market.request_state(request.id)
        await market.can_mark_proof_as_missing(sid, 1)
        await market.request_end(request.id)
        await market.get_host(sid)
        await market.can_reserve_slot(request.id, 0)
    finally:
        market.w3.eth.call = original  # type: ignore[method-assign]

    def tag(signature: str) -> str:
        return tags[keccak(signature.encode())[:4].hex()]

    for pending in ("getPointer", "getChallenge", "isProofRequired", "willProofBeRequired",
                    "slotState", "requestState"):  # fmt: skip
        assert tag(f"{pending}(bytes32)") == "pending", pending
    assert tag("canMarkProofAsMissing(bytes32,uint64)") == "pending"
    assert tag("requestEnd(bytes32)") == "latest"
    assert tag("getHost(bytes32)") == "latest"
    assert tag("canReserveSlot(bytes32,uint64)") == "latest"


async def test_proving_snapshot_reads_everything_at_one_block(chain_world: ChainWorld) -> None:  # noqa: F811
    """The period's facts come from ONE block N (ARCHITECTURE §8): its timestamp, the slot's
    and request's state and host, and a pointer and challenge that agree with each other, so a
    proof for this challenge is valid until the pointer wraps."""
    world = chain_world
    request = await requested(world, slots=1, max_slot_loss=0, proof_probability=1)
    host = world.markets[1]
    await reserve_and_fill(world, host, request, 0)
    sid = slot_id(request.id, 0)
    await world.advance(world.config.proofs.period)
    snap = await host.proving_snapshot(sid, request.id)
    block = await world.w3.eth.get_block(snap.block_number)
    assert snap.timestamp == int(block["timestamp"])
    assert (snap.slot_state, snap.request_state) == (SlotState.Filled, RequestState.Started)
    assert snap.host is not None and snap.host.lower() == (await host.get_signer()).lower()
    period = snap.timestamp // world.config.proofs.period
    dp = world.config.proofs.downtime_product
    expected = (snap.block_number % 256 + period * dp % 256 + to_bytes(sid)[-1]) % 256
    assert snap.pointer == expected, "the pointer of block N itself, not of the pending block"
    source = await world.w3.eth.get_block(snap.block_number - 1 - snap.pointer)
    assert snap.challenge == "0x" + keccak(bytes(source["hash"])).hex()
    assert snap.proof_required == (snap.pointer >= world.config.proofs.downtime)
    assert snap.seconds_per_block >= 1.0
    unknown = await host.proving_snapshot(sid, "0x" + "ab" * 32)
    assert unknown.request_state is None, "a request the chain does not know reads as None"


async def test_validator_marks_a_missed_proof(chain_world: ChainWorld) -> None:  # noqa: F811
    """§8/§10: a required proof not submitted is marked missing, slashed and rewarded once."""
    world = chain_world
    config = world.config
    period, downtime = config.proofs.period, config.proofs.downtime
    # proofProbability 1 -> slotProbability 0 -> a proof is required in every period
    request = await requested(world, slots=1, max_slot_loss=0, proof_probability=1)
    host, validator = world.markets[1], world.markets[4]
    await reserve_and_fill(world, host, request, 0)
    sid = slot_id(request.id, 0)
    now = await host.current_time()
    fill_period = now // period
    # next period: exactly one of "required now" / "required after downtime" holds
    await world.advance(period)
    latest = await world.w3.eth.get_block("latest")
    pointer = await host.get_pointer(sid)
    p = int(latest["timestamp"]) // period
    # the pending block is one second later (the fixture's timestamp interval): its period
    # can already be the next one
    pending_p = (int(latest["timestamp"]) + 1) // period
    expected = ((latest["number"] + 1) % 256 + pending_p * config.proofs.downtime_product % 256
                + to_bytes(sid)[-1]) % 256  # fmt: skip
    assert pointer == expected  # the pending block's pointer
    # challenge = keccak256(blockhash(pending - 1 - pointer)) (MARKETPLACE_ABI.md §2)
    source = await world.w3.eth.get_block(int(latest["number"]) - pointer)
    assert await host.get_challenge(sid) == "0x" + keccak(bytes(source["hash"])).hex()
    assert await host.is_proof_required(sid) == (pointer >= downtime)
    assert await host.will_proof_be_required(sid) == (pointer < downtime)
    assert not await validator.can_mark_proof_as_missing(sid, p)  # period not ended
    await raises(ContractRevertError, validator.mark_proof_as_missing(sid, p), "PeriodNotEnded")
    # pick a later period whose pointer at the marking block is outside the downtime
    block = int(latest["number"])
    target = p
    while True:
        marking_block = block + 2  # the advance mines one block, the marking tx the next
        pointer = (marking_block % 256 + target * config.proofs.downtime_product % 256
                   + to_bytes(sid)[-1]) % 256  # fmt: skip
        if downtime + 2 <= pointer <= 250 and target > fill_period:
            break
        target += 1
    await world.advance((target + 1) * period + 1 - int(latest["timestamp"]))
    assert await host.slot_state(sid) == SlotState.Filled
    assert await validator.can_mark_proof_as_missing(sid, target)
    balance = await validator.token_balance()
    assert await validator.mark_proof_as_missing(sid, target) is not None
    slashed = request.ask.collateral_per_slot * config.collateral.slash_percentage // 100
    reward = slashed * config.collateral.validator_reward_percentage // 100
    assert await validator.token_balance() == balance + reward
    assert await host.current_collateral(sid) == request.ask.collateral_per_slot - slashed
    assert await host.missing_proofs(sid) == 1
    assert not await validator.can_mark_proof_as_missing(sid, target)
    again = validator.mark_proof_as_missing(sid, target)
    await raises(ContractRevertError, again, "Proofs_ProofAlreadyMarkedMissing")


async def test_reward_recipient_gets_the_payout(chain_world: ChainWorld) -> None:  # noqa: F811
    """MKT-6: freeSlot(id, rewardRecipient, signer) pays the reward elsewhere, collateral back."""
    world = chain_world
    recipient = world.node.accounts[9].address
    host = _market(world, 2, reward_recipient=recipient)
    request = await requested(world, slots=1, max_slot_loss=0)
    await reserve_and_fill(world, host, request, 0)
    filled = next(e for e in await world.events() if e.kind == "SlotFilled").block_timestamp
    end = await host.request_end(request.id)
    await world.advance(request.ask.duration + 5)
    host_before = await host.token_balance()
    recipient_before = await host.token_balance(recipient)
    assert await host.free_slot(slot_id(request.id, 0)) is not None
    assert await host.token_balance() == host_before + request.ask.collateral_per_slot
    payout = (end - filled) * request.ask.price_per_slot_per_second
    assert await host.token_balance(recipient) == recipient_before + payout


async def test_free_slot_on_a_free_slot_is_a_state_mismatch(chain_world: ChainWorld) -> None:  # noqa: F811
    """MKT-3: freeSlot's SlotIsFree becomes SlotStateMismatchError."""
    request = await requested(chain_world, slots=1, max_slot_loss=0)
    host = chain_world.markets[1]
    await raises(SlotStateMismatchError, host.free_slot(slot_id(request.id, 0)), "SlotIsFree")


async def test_current_time_is_the_latest_block_time(chain_world: ChainWorld) -> None:  # noqa: F811
    await chain_world.advance(1234)
    latest = await chain_world.w3.eth.get_block("latest")
    market = chain_world.markets[1]
    assert await market.current_time() == latest["timestamp"]
    assert await market.get_signer() == chain_world.node.accounts[2].address


async def test_dead_endpoint_is_unavailable_not_unknown() -> None:
    """An RPC outage must not read as "unknown request" (that would end sales); it is transient."""
    provider = AsyncHTTPProvider("http://127.0.0.1:9", exception_retry_configuration=None)
    w3 = AsyncWeb3(provider)
    key = "0x" + "11" * 32
    market = OnChainMarket(w3, "0x" + "22" * 20, key)
    with pytest.raises(ChainUnavailableError):
        await market.get_request("0x" + "33" * 32)
    with pytest.raises(ChainUnavailableError):
        await market.reserve_slot("0x" + "33" * 32, 0)
    assert key[2:] not in repr(market) and key not in repr(market)
    await w3.provider.disconnect()


async def test_fake_and_contract_agree_on_the_dispersal_window(chain_world: ChainWorld) -> None:  # noqa: F811
    """ARCHITECTURE §5: with the window on, the fake's canReserveSlot is the contract's."""
    world = chain_world
    window = DispersalWindow(initial_bits=250, window_percent=100)
    deployed = deploy_marketplace(
        world.node.rpc_url,
        world.node.accounts[0].private_key,
        DeployConfig.model_validate(world.config.model_dump()),
        dispersal=window,
        fund=[a.address for a in world.node.accounts[1:]],
    )
    keys = [a.private_key for a in world.node.accounts[1:]]
    markets = [OnChainClient(world.w3, deployed.marketplace, k, poll_interval=0.01) for k in keys]
    client = markets[0]
    request = make_request(client.address, slots=2, max_slot_loss=1, expiry=256)
    assert await client.request_storage(request) is not None
    created = await client.request_expires_at(request.id) - request.expiry
    fake = FakeChain(world.config, now=created, dispersal=window)
    fakes = [fake.market(m.address) for m in markets]
    for market in fakes:
        fake.mint(market.address, MINT)
    assert await fakes[0].request_storage(request) is not None
    seen: set[bool] = set()
    for elapsed in (0, 60, 120, 180, 230, 250, 256):
        latest = await world.w3.eth.get_block("latest")
        if created + elapsed > latest["timestamp"]:
            await world.advance(created + elapsed - int(latest["timestamp"]))
        now = await client.current_time()
        fake.set_time(now)
        for index in (0, 1):
            sid = slot_id(request.id, index)
            for chain_market, fake_market in zip(markets, fakes, strict=True):
                on_chain = await chain_market.can_reserve_slot(request.id, index)
                assert on_chain == await fake_market.can_reserve_slot(request.id, index)
                assert on_chain == is_eligible(
                    window, sid, chain_market.address, created, request.expiry, now
                )
                seen.add(on_chain)
    assert seen == {True, False}  # the window really was partly closed, then open
