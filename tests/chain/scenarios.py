"""One behaviour suite for every `Market`: the fake and OnChainMarket + the development contract.

`World` hides the differences (how time moves, where events come from); each `scenario_*`
coroutine drives a world through a marketplace flow and asserts what Codex's contract does
(MARKETPLACE_ABI.md §7-§10, MKT-*). test_market_scenarios.py runs every scenario on both worlds,
so the fake cannot drift from the contract.

Also here: the fixtures these tests share (a chain node, a fresh deployment per test, a fresh
database). They use the session fixtures of tests/conftest.py (`anvil`, `database_dsn`) when
those exist and otherwise start private ones on loopback.
"""

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3, Web3

from chain.client import MarketClient, OnChainClient
from chain.config import MarketplaceConfig as DeployConfig
from chain.deploy import deploy_marketplace
from chain.errors import ContractRevertError
from chain.events import SIGNATURES, AnyEvent, decode_log
from chain.fake import MOCK_CONFIG, FakeChain
from chain.follower import RpcLogSource
from chain.market import MarketError, SlotReservationNotAllowedError, SlotStateMismatchError
from sales.hexbytes import to_hex
from sales.ids import slot_id
from sales.models import (
    Fp2Element,
    G1Point,
    G2Point,
    Groth16Proof,
    MarketplaceConfig,
    RequestState,
    SlotState,
    StorageAsk,
    StorageContent,
    StorageRequest,
    repair_collateral,
)

ROOT = Path(__file__).resolve().parents[2]
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
MINT = 10**15

PROOF = Groth16Proof(
    a=G1Point(x=1, y=2),
    b=G2Point(x=Fp2Element(real=3, imag=4), y=Fp2Element(real=5, imag=6)),
    c=G1Point(x=7, y=8),
)
"""Accepted by the TestVerifier (anything but all zeros) and by the fake's default verifier."""


# --- chain node and database fixtures ---------------------------------------------------------


@dataclass(frozen=True)
class NodeAccount:
    address: str
    private_key: str


@dataclass(frozen=True)
class Node:
    rpc_url: str
    accounts: list[NodeAccount]


@pytest.fixture(scope="session")
def chain_node(anvil: Any) -> Node:
    """The session's shared anvil (tests/conftest.py), with its funded dev accounts."""
    accounts = [NodeAccount(a.address, a.private_key) for a in anvil.accounts]
    return Node(rpc_url=anvil.rpc_url, accounts=accounts)


@dataclass(frozen=True)
class Contracts:
    marketplace: str
    token: str
    block_number: int


def deploy(node: Node, config: MarketplaceConfig = MOCK_CONFIG) -> Contracts:
    """A fresh development marketplace (chain/deploy.py) with accounts 1.. funded."""
    deployed = deploy_marketplace(
        node.rpc_url,
        node.accounts[0].private_key,
        DeployConfig.model_validate(config.model_dump()),
        fund=[a.address for a in node.accounts[1:]],
        mint_amount=MINT,
    )
    return Contracts(deployed.marketplace, deployed.token, deployed.block_number)


_DEPLOYED: dict[str, Contracts] = {}


@pytest.fixture
def fresh_chain(chain_node: Node) -> Iterator[Contracts]:
    """One marketplace per session, untouched at the start of every test.

    State is snapshot before the test and reverted after it. Every block is one second after the
    previous (anvil_setBlockTimestampInterval) so wall-clock time never leaks into expiry and
    period arithmetic. The deployment is redone if another suite rewound the shared chain.
    """
    w3 = Web3(Web3.HTTPProvider(chain_node.rpc_url))
    contracts = _DEPLOYED.get(chain_node.rpc_url)
    if contracts is None or not w3.eth.get_code(Web3.to_checksum_address(contracts.marketplace)):
        contracts = _DEPLOYED[chain_node.rpc_url] = deploy(chain_node)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    w3.provider.make_request("anvil_setBlockTimestampInterval", [1])  # type: ignore[arg-type]
    try:
        yield contracts
    finally:
        w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        w3.provider.make_request("anvil_removeBlockTimestampInterval", [])  # type: ignore[arg-type]


@pytest.fixture
def cursor_dsn(database_dsn: str) -> str:
    """A fresh empty database (tests/conftest.py)."""
    return database_dsn


# --- worlds ------------------------------------------------------------------------------------


class World(Protocol):
    name: str
    config: MarketplaceConfig
    client: MarketClient
    hosts: list[MarketClient]
    """Three hosts (maxReservations is 3)."""
    validator: MarketClient

    async def advance(self, seconds: int) -> None:
        """Move chain time forward and produce a block at the new time."""
        ...

    async def events(self) -> list[AnyEvent]:
        """Every marketplace event so far, in chain order."""
        ...


class FakeWorld:
    name = "fake"

    def __init__(self) -> None:
        self.chain = FakeChain(MOCK_CONFIG)
        self.config = MOCK_CONFIG
        signers = [Account.create().address for _ in range(5)]
        for signer in signers:
            self.chain.mint(signer, MINT)
        self.client: MarketClient = self.chain.market(signers[0])
        self.hosts: list[MarketClient] = [self.chain.market(s) for s in signers[1:4]]
        self.validator: MarketClient = self.chain.market(signers[4])

    async def advance(self, seconds: int) -> None:
        self.chain.advance(seconds)
        self.chain.block_number += 1

    async def events(self) -> list[AnyEvent]:
        return list(self.chain.events)


class ChainWorld:
    name = "onchain"

    def __init__(self, node: Node, contracts: Contracts) -> None:
        self.node = node
        self.contracts = contracts
        self.config = MOCK_CONFIG
        self.w3 = AsyncWeb3(AsyncHTTPProvider(node.rpc_url))
        keys = [a.private_key for a in node.accounts[1:6]]
        markets = [
            OnChainClient(self.w3, contracts.marketplace, key, poll_interval=0.01) for key in keys
        ]
        self.markets = markets
        """The concrete adapters: client, three hosts, validator."""
        self.client: MarketClient = markets[0]
        self.hosts: list[MarketClient] = list(markets[1:4])
        self.validator: MarketClient = markets[4]
        self.source = RpcLogSource(self.w3, contracts.marketplace, list(SIGNATURES))

    async def advance(self, seconds: int) -> None:
        latest = await self.w3.eth.get_block("latest")
        await self.w3.provider.make_request(
            "evm_setNextBlockTimestamp",  # type: ignore[arg-type]
            [int(latest["timestamp"]) + seconds],
        )
        await self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    async def events(self) -> list[AnyEvent]:
        head = await self.source.head()
        raw = await self.source.logs(self.contracts.block_number, head)
        result = []
        for log in raw:
            stamp = await self.source.block_timestamp(int(log["blockNumber"]))
            result.append(
                decode_log(log, marketplace=self.contracts.marketplace, block_timestamp=stamp)
            )
        return result


@pytest.fixture
async def chain_world(chain_node: Node, fresh_chain: Contracts) -> AsyncIterator[ChainWorld]:
    world = ChainWorld(chain_node, fresh_chain)
    yield world
    await world.w3.provider.disconnect()


# --- shared helpers ------------------------------------------------------------------------------


def make_request(
    client: str,
    *,
    slots: int = 4,
    slot_size: int = 1024,
    duration: int = 36_000,
    expiry: int = 3_600,
    max_slot_loss: int = 1,
    price: int = 1,
    collateral_per_byte: int = 1,
    proof_probability: int = 4,
) -> StorageRequest:
    """MOCK-11's example, with small slots, a random nonce and random merkle root."""
    return StorageRequest(
        client=client,
        ask=StorageAsk(
            proof_probability=proof_probability,
            price_per_byte_per_second=price,
            collateral_per_byte=collateral_per_byte,
            slots=slots,
            slot_size=slot_size,
            duration=duration,
            max_slot_loss=max_slot_loss,
        ),
        content=StorageContent(
            cid=b"zb2rhheVmk3bLks5MgzTqyznLu1zqGH5jrfTA1eAZXrjx7Vob",
            merkle_root=to_hex(secrets.token_bytes(32)),
        ),
        expiry=expiry,
        nonce=to_hex(secrets.token_bytes(32)),
    )


async def requested(world: World, **ask: int) -> StorageRequest:
    request = make_request(await world.client.get_signer(), **ask)
    assert await world.client.request_storage(request) is not None
    return request


async def reserve_and_fill(
    world: World, host: MarketClient, request: StorageRequest, index: int
) -> None:
    assert await host.reserve_slot(request.id, index) is not None
    collateral = await host.slot_collateral(request.id, index)
    assert await host.fill_slot(request.id, index, PROOF, collateral) is not None


def kinds(events: list[AnyEvent], *, without_proofs: bool = True) -> list[str]:
    return [e.kind for e in events if not (without_proofs and e.kind == "ProofSubmitted")]


async def raises(
    exc_type: type[BaseException], awaitable: Any, reason: str | None = None
) -> BaseException:
    try:
        await awaitable
    except exc_type as exc:
        if reason is not None:
            assert reason in str(exc), f"expected {reason} in {exc!r}"
        return exc
    raise AssertionError(f"expected {exc_type.__name__}")


# --- scenarios ------------------------------------------------------------------------------------


async def scenario_request_storage(world: World) -> None:
    """MKT-7: the client pays the total price; StorageRequested carries the absolute expiry."""
    client = world.client
    before = await client.token_balance()
    request = await requested(world)
    assert await client.token_balance() == before - request.ask.total_price
    assert await client.get_request(request.id) == request
    assert await client.request_state(request.id) == RequestState.New
    assert request.id in await client.my_requests()
    expires_at = await client.request_expires_at(request.id)
    end = await client.request_end(request.id)
    assert end - expires_at == request.ask.duration - request.expiry
    (event,) = [e for e in await world.events() if e.kind == "StorageRequested"]
    assert event.kind == "StorageRequested"
    assert (event.request_id, event.ask, event.expires_at) == (request.id, request.ask, expires_at)
    assert event.block_timestamp == expires_at - request.expiry
    # a retry of the same request is a no-op, not a second payment
    assert await client.request_storage(request) is None
    assert await client.token_balance() == before - request.ask.total_price
    for index in range(request.ask.slots):
        assert await client.slot_state(slot_id(request.id, index)) == SlotState.Free


async def scenario_invalid_requests(world: World) -> None:
    """MARKETPLACE_ABI §5: requestStorage's validations, in order, as typed errors."""
    client = world.client
    signer = await client.get_signer()
    cases = [
        (make_request(signer, expiry=0), "Marketplace_InvalidExpiry"),
        (make_request(signer, expiry=36_000), "Marketplace_InvalidExpiry"),
        (make_request(signer, max_slot_loss=5), "Marketplace_InvalidMaxSlotLoss"),
        (make_request(signer, proof_probability=0), "Marketplace_InsufficientProofProbability"),
        (make_request(signer, collateral_per_byte=0), "Marketplace_InsufficientCollateral"),
        (make_request(signer, duration=world.config.request_duration_limit + 1),
         "Marketplace_DurationExceedsLimit"),
    ]  # fmt: skip
    for request, reason in cases:
        exc = await raises(ContractRevertError, client.request_storage(request), reason)
        assert isinstance(exc, ContractRevertError) and exc.reason == reason
    foreign = make_request(await world.hosts[0].get_signer())
    await raises(MarketError, client.request_storage(foreign), "client is not the signer")
    assert await world.events() == []


async def scenario_zero_slot_size_is_accepted(world: World) -> None:
    """Issue 13 point 2: the real Codex marketplace accepts slotSize 0 (checked by deploying it),
    so the fake and the development contract do too, and hosts meet such requests: the request
    is posted, paid nothing, and its StorageRequested carries slotSize 0."""
    client = world.client
    before = await client.token_balance()
    request = make_request(await client.get_signer(), slot_size=0)
    await client.request_storage(request)
    assert await client.request_state(request.id) == RequestState.New
    assert await client.token_balance() == before, "a zero-size request costs nothing"
    (event,) = [e for e in await world.events() if e.kind == "StorageRequested"]
    assert event.kind == "StorageRequested" and event.ask.slot_size == 0


async def scenario_unknown_ids(world: World) -> None:
    """MKT-3: unknown requests and free slots read as None/False/Free, not as errors."""
    market = world.hosts[0]
    unknown = to_hex(secrets.token_bytes(32))
    sid = slot_id(unknown, 0)
    assert await market.get_request(unknown) is None
    assert await market.request_state(unknown) is None
    assert await market.request_expires_at(unknown) == 0
    assert await market.slot_state(sid) == SlotState.Free
    assert await market.get_host(sid) is None
    assert await market.get_active_slot(sid) is None
    assert await market.current_collateral(sid) == 0
    assert await market.is_proof_required(sid) is False
    assert await market.will_proof_be_required(sid) is False
    await raises(MarketError, market.slot_collateral(unknown, 0), "unknown request")
    await raises(MarketError, market.request_end(unknown))
    assert await market.my_slots() == []


async def scenario_reservations(world: World) -> None:
    """§9: maxReservations per slot, one per address, SlotReservationsFull on the last one."""
    request = await requested(world)
    a, b, c = world.hosts
    for host in (a, b):
        assert await host.can_reserve_slot(request.id, 0)
        assert await host.reserve_slot(request.id, 0) is not None
        assert not await host.can_reserve_slot(request.id, 0)
    # retried reservation by a holder: already done, nothing sent
    assert await a.reserve_slot(request.id, 0) is None
    assert kinds(await world.events()) == ["StorageRequested"]
    assert await c.reserve_slot(request.id, 0) is not None
    events = await world.events()
    assert kinds(events) == ["StorageRequested", "SlotReservationsFull"]
    full = events[-1]
    assert full.kind == "SlotReservationsFull"
    assert (full.request_id, full.slot_index) == (request.id, 0)
    # the client is a fourth address: the slot is full for it
    assert not await world.client.can_reserve_slot(request.id, 0)
    await raises(
        SlotReservationNotAllowedError,
        world.client.reserve_slot(request.id, 0),
        "SlotReservations_ReservationNotAllowed",
    )
    # other slots are unaffected
    assert await world.client.can_reserve_slot(request.id, 1)


async def scenario_fill_and_start(world: World) -> None:
    """§10 fillSlot: collateral, SlotFilled per slot, RequestFulfilled on the last, MKT-3 errors."""
    request = await requested(world, slots=2, max_slot_loss=1)
    a, b, c = world.hosts
    sid0, sid1 = slot_id(request.id, 0), slot_id(request.id, 1)
    # no reservation
    await raises(
        MarketError, a.fill_slot(request.id, 0, PROOF, 0), "Marketplace_ReservationRequired"
    )
    await raises(MarketError, a.fill_slot(request.id, 5, PROOF, 0), "Marketplace_InvalidSlot")
    assert await a.reserve_slot(request.id, 0) is not None
    assert await c.reserve_slot(request.id, 0) is not None
    # an invalid (all-zero) proof is rejected by the verifier
    await raises(MarketError, a.fill_slot(request.id, 0, Groth16Proof.zero(), 0), "InvalidProof")
    collateral = await a.slot_collateral(request.id, 0)
    assert collateral == request.ask.collateral_per_slot
    before = await a.token_balance()
    assert await a.fill_slot(request.id, 0, PROOF, collateral) is not None
    assert await a.token_balance() == before - collateral
    assert await a.slot_state(sid0) == SlotState.Filled
    assert await a.get_host(sid0) == await a.get_signer()
    assert await a.current_collateral(sid0) == collateral
    assert await a.my_slots() == [sid0]
    active = await a.get_active_slot(sid0)
    assert active is not None and active.request == request and active.slot_index == 0
    # retry by the same host: already filled by me, nothing sent
    assert await a.fill_slot(request.id, 0, PROOF, collateral) is None
    assert await a.token_balance() == before - collateral
    # another reserved host loses the race
    await raises(
        SlotStateMismatchError, c.fill_slot(request.id, 0, PROOF, collateral), "SlotNotFree"
    )
    assert await a.request_state(request.id) == RequestState.New
    await reserve_and_fill(world, b, request, 1)
    assert await b.request_state(request.id) == RequestState.Started
    assert await b.slot_state(sid1) == SlotState.Filled
    assert kinds(await world.events()) == [
        "StorageRequested", "SlotFilled", "SlotFilled", "RequestFulfilled",
    ]  # fmt: skip
    # fill emits ProofSubmitted before SlotFilled (§4)
    all_kinds = kinds(await world.events(), without_proofs=False)
    assert all_kinds[1:3] == ["ProofSubmitted", "SlotFilled"]


async def scenario_proofs(world: World) -> None:
    """§8 submitProof: one per period, host only; MKT-3 ProofInvalidError; retries are success."""
    from chain.market import ProofInvalidError

    request = await requested(world, slots=1, max_slot_loss=0)
    a, b, _ = world.hosts
    period = world.config.proofs.period
    await world.advance(period - await a.current_time() % period)  # fill early in a period
    await reserve_and_fill(world, a, request, 0)
    sid = slot_id(request.id, 0)
    # the fill was this period's proof: a second one is "already submitted" = done
    assert await a.submit_proof(sid, PROOF) is None
    await world.advance(period)
    await raises(ProofInvalidError, a.submit_proof(sid, Groth16Proof.zero()), "Proofs_InvalidProof")
    await raises(MarketError, b.submit_proof(sid, PROOF), "Marketplace_ProofNotSubmittedByHost")
    sent = await a.submit_proof(sid, PROOF)
    assert sent is not None
    assert await a.submit_proof(sid, PROOF) is None
    proofs = [e for e in await world.events() if e.kind == "ProofSubmitted"]
    assert [p.slot_id for p in proofs] == [sid, sid]
    assert proofs[-1].tx_hash == sent


async def scenario_finish_and_payout(world: World) -> None:
    """§10 payout: after the end the host gets payment + collateral; the client the rest."""
    request = await requested(world, slots=2, max_slot_loss=1)
    a, b, _ = world.hosts
    await world.advance(5)  # hosts fill a little later: the client gets those seconds back
    await reserve_and_fill(world, a, request, 0)
    await reserve_and_fill(world, b, request, 1)
    filled = {
        e.slot_index: e.block_timestamp for e in await world.events() if e.kind == "SlotFilled"
    }
    end = await a.request_end(request.id)
    await world.advance(request.ask.duration + 10)
    sid0 = slot_id(request.id, 0)
    assert await a.request_state(request.id) == RequestState.Finished
    assert await a.slot_state(sid0) == SlotState.Finished
    before = await a.token_balance()
    assert await a.free_slot(sid0) is not None
    pps = request.ask.price_per_slot_per_second
    payout = (end - filled[0]) * pps
    assert await a.token_balance() == before + payout + request.ask.collateral_per_slot
    assert await a.slot_state(sid0) == SlotState.Paid
    assert await a.my_slots() == []
    # a retry after the payout is success without a second payment
    assert await a.free_slot(sid0) is None
    assert await a.token_balance() == before + payout + request.ask.collateral_per_slot
    # the other host is still owed; someone else cannot free its slot
    await raises(MarketError, a.free_slot(slot_id(request.id, 1)), "Marketplace_InvalidSlotHost")
    # the client gets back what was not earned: the time before each fill
    client_before = await world.client.token_balance()
    assert await world.client.withdraw_funds(request.id) is not None
    unearned = request.ask.total_price - sum((end - t) * pps for t in filled.values())
    assert await world.client.token_balance() == client_before + unearned
    await raises(
        MarketError, world.client.withdraw_funds(request.id), "Marketplace_NothingToWithdraw"
    )


async def scenario_cancel(world: World) -> None:
    """§7/§10: an unfilled request expires: partial payout, RequestCancelled on withdraw."""
    request = await requested(world, slots=2, max_slot_loss=1)
    a = world.hosts[0]
    await reserve_and_fill(world, a, request, 0)
    filled_at = next(e.block_timestamp for e in await world.events() if e.kind == "SlotFilled")
    await raises(MarketError, world.client.withdraw_funds(request.id), "Marketplace_InvalidState")
    expires_at = await a.request_expires_at(request.id)
    now = await a.current_time()
    await world.advance(expires_at - now + 1)
    sid0 = slot_id(request.id, 0)
    assert await a.request_state(request.id) == RequestState.Cancelled
    assert await a.slot_state(sid0) == SlotState.Cancelled
    assert await a.slot_state(slot_id(request.id, 1)) == SlotState.Free
    assert await a.request_end(request.id) == expires_at
    assert not await world.hosts[1].can_reserve_slot(request.id, 0)
    before = await a.token_balance()
    assert await a.free_slot(sid0) is not None
    pps = request.ask.price_per_slot_per_second
    assert await a.token_balance() == before + (expires_at - filled_at) * pps + (
        request.ask.collateral_per_slot
    )
    client_before = await world.client.token_balance()
    assert await world.client.withdraw_funds(request.id) is not None
    assert (
        await world.client.token_balance()
        == client_before + request.ask.total_price - (expires_at - filled_at) * pps
    )
    assert kinds(await world.events())[-1] == "RequestCancelled"
    assert await world.client.my_requests() == []


async def scenario_free_repair_fail(world: World) -> None:
    """§10 forcible free: SlotFreed and its time, repair at a discount, then RequestFailed."""
    request = await requested(world, slots=3, max_slot_loss=1)
    a, b, c = world.hosts
    for host, index in ((a, 0), (b, 1), (c, 2)):
        await reserve_and_fill(world, host, request, index)
    assert await a.request_state(request.id) == RequestState.Started
    sid0 = slot_id(request.id, 0)
    before = await a.token_balance()
    assert await a.free_slot(sid0) is not None
    assert await a.token_balance() == before  # leaving early forfeits the collateral
    freed = [e for e in await world.events() if e.kind == "SlotFreed"]
    assert [(e.request_id, e.slot_index) for e in freed] == [(request.id, 0)]
    assert freed[0].block_timestamp == await a.current_time()
    assert await a.slot_state(sid0) == SlotState.Repair
    assert await a.get_host(sid0) is None
    assert await a.current_collateral(sid0) == 0
    assert await a.get_active_slot(sid0) is not None  # raw state Repair is still "active"
    assert await a.my_slots() == []
    await raises(MarketError, a.free_slot(sid0), "Marketplace_InvalidSlotHost")
    # repair: reservations were cleared; the repairing host pays the discounted collateral
    discounted = repair_collateral(
        request.ask.collateral_per_slot, world.config.collateral.repair_reward_percentage
    )
    assert await b.slot_collateral(request.id, 0) == discounted
    assert await b.can_reserve_slot(request.id, 0)
    await world.advance(world.config.proofs.period)  # a's fill proved this period already
    b_before = await b.token_balance()
    await reserve_and_fill(world, b, request, 0)
    assert await b.token_balance() == b_before - discounted
    assert await b.current_collateral(sid0) == request.ask.collateral_per_slot
    # losing two slots of three (maxSlotLoss 1) fails the request
    await world.advance(world.config.proofs.period)
    assert await b.free_slot(slot_id(request.id, 1)) is not None
    assert await b.request_state(request.id) == RequestState.Started
    assert await c.free_slot(slot_id(request.id, 2)) is not None
    assert await c.request_state(request.id) == RequestState.Failed
    assert kinds(await world.events())[-2:] == ["SlotFreed", "RequestFailed"]
    assert await b.slot_state(sid0) == SlotState.Failed
    # the remaining host may clean up (no payout), the client gets a full refund
    b_before = await b.token_balance()
    assert await b.free_slot(sid0) is not None
    assert await b.token_balance() == b_before
    assert await b.my_slots() == []
    client_before = await world.client.token_balance()
    assert await world.client.withdraw_funds(request.id) is not None
    assert await world.client.token_balance() == client_before + request.ask.total_price


async def scenario_retry_with_sent_hash(world: World) -> None:
    """ARCHITECTURE §3: a retry with the hash of a mined transaction sends nothing new."""
    request = await requested(world, slots=1, max_slot_loss=0)
    a = world.hosts[0]
    recorded: list[str] = []

    async def on_sent(tx_hash: str) -> None:
        recorded.append(tx_hash)

    first = await a.reserve_slot(request.id, 0, on_sent=on_sent)
    assert first is not None and recorded == [first]
    again = await a.reserve_slot(request.id, 0, sent=first, on_sent=on_sent)
    assert again == first and recorded == [first]
    collateral = await a.slot_collateral(request.id, 0)
    filled = await a.fill_slot(request.id, 0, PROOF, collateral, on_sent=on_sent)
    assert filled is not None and recorded == [first, filled]
    balance = await a.token_balance()
    assert await a.fill_slot(request.id, 0, PROOF, collateral, sent=filled) == filled
    assert await a.token_balance() == balance
    assert recorded == [first, filled]
    # a hash that never reached the chain is sent again
    bogus = to_hex(secrets.token_bytes(32))
    await world.advance(world.config.proofs.period)
    proof_tx = await a.submit_proof(slot_id(request.id, 0), PROOF, sent=bogus, on_sent=on_sent)
    assert proof_tx is not None and proof_tx != bogus and recorded[-1] == proof_tx


SCENARIOS = [
    scenario_request_storage,
    scenario_invalid_requests,
    scenario_zero_slot_size_is_accepted,
    scenario_unknown_ids,
    scenario_reservations,
    scenario_fill_and_start,
    scenario_proofs,
    scenario_finish_and_payout,
    scenario_cancel,
    scenario_free_repair_fail,
    scenario_retry_with_sent_hash,
]
