"""An in-memory marketplace with the contract's semantics, for fast workflow tests (MOCK-*).

`FakeChain` is the shared world: one settable clock, the marketplace state, token balances and the
event log. `FakeMarket` is one signer's view of it and implements `Market` and `MarketClient`, so
a test can give a host, a client and a validator their own markets on the same chain.

Unlike the reference's MockMarket (MOCK-5 sets a freed slot to Free) this fake follows the
contract (MARKETPLACE_ABI.md §7-§10): computed request and slot states, reservations with
maxReservations, payouts, slashing, repair, the same reverts with the same typed errors, and the
same decoded events the follower produces. tests/chain/scenarios.py runs one suite against this
fake and the development contract so the two cannot drift apart.

Each transaction runs atomically: the state is snapshot first and restored if it reverts. Each
transaction is one block at the current clock time; its events get a synthetic tx hash.
"""

import copy
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from chain.errors import contract_error
from chain.events import (
    AnyEvent,
    ProofSubmitted,
    RequestCancelled,
    RequestFailed,
    RequestFulfilled,
    SlotFilled,
    SlotFreed,
    SlotReservationsFull,
    StorageRequested,
)
from chain.market import MarketError, OnSent, ProvingBatch, ProvingSnapshot
from sales.dispersal import DispersalWindow, is_eligible
from sales.hexbytes import to_bytes, to_hex
from sales.ids import slot_id as make_slot_id
from sales.models import (
    CollateralConfig,
    Groth16Proof,
    MarketplaceConfig,
    ProofConfig,
    RequestState,
    Slot,
    SlotReservationsConfig,
    SlotState,
    StorageRequest,
    repair_collateral,
)
from sales.uint import UINT64_MAX

MOCK_CONFIG = MarketplaceConfig(
    collateral=CollateralConfig(
        repair_reward_percentage=10,
        max_number_of_slashes=5,
        slash_percentage=10,
        validator_reward_percentage=20,
    ),
    proofs=ProofConfig(period=10, timeout=5, downtime=64, downtime_product=67),
    reservations=SlotReservationsConfig(max_reservations=3),
    request_duration_limit=2_592_000,
)
"""MOCK-1's configuration (also the development contract's "dev" preset)."""

EventListener = Callable[[AnyEvent], Awaitable[None]]


class Revert(Exception):
    """Internal: the named custom error, turned into a typed error by the market method."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _RequestContext:
    request: StorageRequest
    state: RequestState
    funds_to_return: int
    slots_filled: int
    started_at: int
    ends_at: int
    expires_at: int


@dataclass
class _Slot:
    state: SlotState = SlotState.Free
    request_id: str | None = None
    filled_at: int = 0
    slot_index: int = 0
    current_collateral: int = 0
    host: str | None = None


@dataclass
class _State:
    requests: dict[str, _RequestContext] = field(default_factory=dict)
    slots: dict[str, _Slot] = field(default_factory=dict)
    reservations: dict[str, list[str]] = field(default_factory=dict)
    freed_at: dict[str, int] = field(default_factory=dict)
    slot_starts: dict[str, int] = field(default_factory=dict)
    received: set[tuple[str, int]] = field(default_factory=set)
    missing: set[tuple[str, int]] = field(default_factory=set)
    missing_count: dict[str, int] = field(default_factory=dict)
    my_requests: dict[str, list[str]] = field(default_factory=dict)
    my_slots: dict[str, list[str]] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)


def _key(address: str) -> str:
    return address.lower()


class FakeChain:
    """The shared in-memory chain: clock, marketplace state, token balances and event log."""

    def __init__(
        self,
        config: MarketplaceConfig = MOCK_CONFIG,
        *,
        now: int = 1_700_000_000,
        block_number: int = 300,
        dispersal: DispersalWindow | None = None,
    ) -> None:
        self.config = config
        self.dispersal = dispersal or DispersalWindow()
        """The development contract's reservation window (ARCHITECTURE §5); off by default."""
        self.now = now
        self.block_number = block_number
        self.state = _State()
        self.events: list[AnyEvent] = []
        self._listeners: list[EventListener] = []
        self._tx_count = 0
        self._pending: list[AnyEvent] = []
        self.mined: list[str] = []
        """Hashes of every committed transaction, in order."""
        # proof requirement: settable sets (MOCK-7) or a deterministic rule per (slot, period)
        self.proofs_required: set[str] = set()
        self.proofs_will_be_required: set[str] = set()
        self.proof_rule: Callable[[str, int], bool] | None = None
        self.pointers: dict[str, int] = {}
        self.verifier: Callable[[Groth16Proof], bool] = lambda proof: proof != Groth16Proof.zero()

    # --- clock and funds -----------------------------------------------------------------------

    def advance(self, seconds: int) -> None:
        self.set_time(self.now + seconds)

    def set_time(self, now: int) -> None:
        if now < self.now:
            raise ValueError("the chain's clock never goes back")
        self.now = now

    def mint(self, address: str, amount: int) -> None:
        key = _key(address)
        self.state.balances[key] = self.state.balances.get(key, 0) + amount

    def balance_of(self, address: str) -> int:
        return self.state.balances.get(_key(address), 0)

    def add_listener(self, listener: EventListener) -> None:
        """Called with every event after its transaction commits, in chain order."""
        self._listeners.append(listener)

    def market(self, signer: str) -> "FakeMarket":
        return FakeMarket(self, signer)

    # --- periods -------------------------------------------------------------------------------

    def period_of(self, t: int) -> int:
        return t // self.config.proofs.period

    def period_end(self, period: int) -> int:
        return (period + 1) * self.config.proofs.period

    # --- computed states (MARKETPLACE_ABI.md §7) -----------------------------------------------

    def request_state(self, request_id: str) -> RequestState:
        ctx = self.state.requests.get(request_id)
        if ctx is None:
            raise Revert("Marketplace_UnknownRequest")
        if ctx.state == RequestState.New and self.now > ctx.expires_at:
            return RequestState.Cancelled
        if ctx.state in (RequestState.Started, RequestState.New) and self.now > ctx.ends_at:
            return RequestState.Finished
        return ctx.state

    def slot_state(self, slot_id: str) -> SlotState:
        slot = self.state.slots.get(slot_id)
        if slot is None or slot.request_id is None:
            return SlotState.Free
        if slot.state == SlotState.Paid:
            return SlotState.Paid
        state = self.request_state(slot.request_id)
        mapped = {
            RequestState.Cancelled: SlotState.Cancelled,
            RequestState.Finished: SlotState.Finished,
            RequestState.Failed: SlotState.Failed,
        }
        return mapped.get(state, slot.state)

    def request_end(self, request_id: str) -> int:
        state = self.request_state(request_id)
        ctx = self.state.requests[request_id]
        if state in (RequestState.New, RequestState.Started):
            return ctx.ends_at
        if state == RequestState.Cancelled:
            return ctx.expires_at
        return min(self.now, ctx.ends_at)

    # --- proofs (MARKETPLACE_ABI.md §8, with settable requirements) ----------------------------

    def pointer(self, slot_id: str) -> int:
        if slot_id in self.pointers:
            return self.pointers[slot_id]
        period = self.period_of(self.now)
        product = self.config.proofs.downtime_product
        return (self.block_number % 256 + period * product % 256 + to_bytes(slot_id)[-1]) % 256

    def challenge(self, slot_id: str) -> str:
        period = self.period_of(self.now)
        return to_hex(keccak(to_bytes(slot_id) + period.to_bytes(8, "big")))

    def _requirement(self, slot_id: str, period: int) -> tuple[bool, int]:
        started = self.state.slot_starts.get(slot_id, 0)
        if self.slot_state(slot_id) != SlotState.Filled or period <= self.period_of(started):
            return (False, 0)
        ruled = self.proof_rule is not None and self.proof_rule(slot_id, period)
        return (ruled, self.pointer(slot_id))

    def is_proof_required(self, slot_id: str) -> bool:
        required, pointer = self._requirement(slot_id, self.period_of(self.now))
        if slot_id in self.proofs_required and self.slot_state(slot_id) == SlotState.Filled:
            return True
        return required and pointer >= self.config.proofs.downtime

    def will_proof_be_required(self, slot_id: str) -> bool:
        required, pointer = self._requirement(slot_id, self.period_of(self.now))
        if slot_id in self.proofs_will_be_required and self.slot_state(slot_id) == SlotState.Filled:
            return True
        return required and pointer < self.config.proofs.downtime

    def _was_required(self, slot_id: str, period: int) -> bool:
        if slot_id in self.proofs_required:
            return True
        required, pointer = self._requirement(slot_id, period)
        return required and pointer >= self.config.proofs.downtime

    # --- transactions --------------------------------------------------------------------------

    async def transact(self, operation: str, body: Callable[[], None]) -> str:
        """Run ``body`` atomically as one block; reverts become the typed error (MKT-3)."""
        snapshot = copy.deepcopy(self.state)
        self._pending = []
        try:
            body()
        except Revert as exc:
            self.state = snapshot
            self._pending = []
            raise contract_error(operation, exc.reason) from None
        self._tx_count += 1
        self.block_number += 1
        tx_hash = to_hex(keccak(f"fake-tx:{self._tx_count}".encode()))
        self.mined.append(tx_hash)
        events = [
            event.model_copy(
                update={
                    "block_number": self.block_number,
                    "block_timestamp": self.now,
                    "tx_hash": tx_hash,
                    "log_index": index,
                }
            )
            for index, event in enumerate(self._pending)
        ]
        self._pending = []
        self.events.extend(events)
        for event in events:
            for listener in self._listeners:
                await listener(event)
        return tx_hash

    def emit(self, event: AnyEvent) -> None:
        self._pending.append(event)

    def _transfer_from(self, sender: str, amount: int) -> None:
        key = _key(sender)
        if self.state.balances.get(key, 0) < amount:
            raise Revert("Marketplace_TransferFailed")
        self.state.balances[key] -= amount

    def _transfer(self, recipient: str, amount: int) -> None:
        self.mint(recipient, amount)

    def _slot_payout(self, request_id: str, start: int, end: int | None = None) -> int:
        ctx = self.state.requests[request_id]
        stop = ctx.ends_at if end is None else end
        if start >= stop:
            raise Revert("Marketplace_StartNotBeforeExpiry")
        return (stop - start) * ctx.request.ask.price_per_slot_per_second

    def _slot(self, slot_id: str) -> _Slot:
        return self.state.slots.setdefault(slot_id, _Slot())

    @staticmethod
    def _add(index: dict[str, list[str]], owner: str, value: str) -> None:
        values = index.setdefault(_key(owner), [])
        if value not in values:
            values.append(value)

    @staticmethod
    def _remove(index: dict[str, list[str]], owner: str, value: str) -> None:
        """Swap-and-pop, like the contract's Bytes32Set, so list order matches too."""
        values = index.get(_key(owner), [])
        if value in values:
            position = values.index(value)
            values[position] = values[-1]
            values.pop()

    def request_storage(self, sender: str, request: StorageRequest) -> None:
        ask = request.ask
        if _key(request.client) != _key(sender):
            raise Revert("Marketplace_InvalidClientAddress")
        request_id = request.id
        if request_id in self.state.requests:
            raise Revert("Marketplace_RequestAlreadyExists")
        if request.expiry == 0 or request.expiry >= ask.duration:
            raise Revert("Marketplace_InvalidExpiry")
        if ask.slots == 0:
            raise Revert("Marketplace_InsufficientSlots")
        if ask.max_slot_loss > ask.slots:
            raise Revert("Marketplace_InvalidMaxSlotLoss")
        if ask.duration == 0:
            raise Revert("Marketplace_InsufficientDuration")
        if ask.proof_probability == 0:
            raise Revert("Marketplace_InsufficientProofProbability")
        if ask.collateral_per_byte == 0:  # slotSize 0 is accepted, as by Codex
            raise Revert("Marketplace_InsufficientCollateral")
        if ask.price_per_byte_per_second == 0:
            raise Revert("Marketplace_InsufficientReward")
        if len(to_bytes(request.content.cid)) == 0:
            raise Revert("Marketplace_InvalidCid")
        if ask.duration > self.config.request_duration_limit:
            raise Revert("Marketplace_DurationExceedsLimit")
        if self.now + ask.duration > UINT64_MAX:
            raise Revert("Panic")
        amount = ask.total_price
        self.state.requests[request_id] = _RequestContext(
            request=request,
            state=RequestState.New,
            funds_to_return=amount,
            slots_filled=0,
            started_at=0,
            ends_at=self.now + ask.duration,
            expires_at=self.now + request.expiry,
        )
        self._add(self.state.my_requests, request.client, request_id)
        self._transfer_from(sender, amount)
        self.emit(
            StorageRequested(
                **_PLACEHOLDER,
                request_id=request_id,
                ask=ask,
                expires_at=self.now + request.expiry,
            )
        )

    def can_reserve_slot(self, sender: str, request_id: str, slot_index: int) -> bool:
        sid = make_slot_id(request_id, slot_index)
        members = self.state.reservations.get(sid, [])
        return (
            self.slot_state(sid) in (SlotState.Free, SlotState.Repair)
            and len(members) < self.config.reservations.max_reservations
            and _key(sender) not in members
            and self._dispersal_eligible(request_id, sid, sender)
        )

    def _dispersal_eligible(self, request_id: str, slot_id: str, sender: str) -> bool:
        if not self.dispersal.enabled:
            return True
        ctx = self.state.requests.get(request_id)
        expiry = 0 if ctx is None else ctx.request.expiry
        start = self.state.freed_at.get(slot_id) or (0 if ctx is None else ctx.expires_at - expiry)
        return is_eligible(self.dispersal, slot_id, sender, start, expiry, self.now)

    def reserve_slot(self, sender: str, request_id: str, slot_index: int) -> None:
        if not self.can_reserve_slot(sender, request_id, slot_index):
            raise Revert("SlotReservations_ReservationNotAllowed")
        sid = make_slot_id(request_id, slot_index)
        members = self.state.reservations.setdefault(sid, [])
        members.append(_key(sender))
        if len(members) == self.config.reservations.max_reservations:
            self.emit(
                SlotReservationsFull(**_PLACEHOLDER, request_id=request_id, slot_index=slot_index)
            )

    def fill_slot(self, sender: str, request_id: str, slot_index: int, proof: Groth16Proof) -> None:
        ctx = self.state.requests.get(request_id)
        if ctx is None:
            raise Revert("Marketplace_UnknownRequest")
        if slot_index >= ctx.request.ask.slots:
            raise Revert("Marketplace_InvalidSlot")
        sid = make_slot_id(request_id, slot_index)
        if _key(sender) not in self.state.reservations.get(sid, []):
            raise Revert("Marketplace_ReservationRequired")
        slot = self._slot(sid)
        slot.request_id = request_id
        slot.slot_index = slot_index
        state = self.slot_state(sid)
        if state not in (SlotState.Free, SlotState.Repair):
            raise Revert("Marketplace_SlotNotFree")
        slot.host = sender
        slot.filled_at = self.now
        self.state.slot_starts[sid] = self.now
        self.submit_proof(sender, sid, proof)
        ctx.slots_filled += 1
        ctx.funds_to_return -= self._slot_payout(request_id, slot.filled_at)
        full = ctx.request.ask.collateral_per_slot
        amount = full
        if state == SlotState.Repair:
            amount = repair_collateral(full, self.config.collateral.repair_reward_percentage)
        self._transfer_from(sender, amount)
        slot.current_collateral = full
        self._add(self.state.my_slots, sender, sid)
        slot.state = SlotState.Filled
        self.emit(SlotFilled(**_PLACEHOLDER, request_id=request_id, slot_index=slot_index))
        if ctx.slots_filled == ctx.request.ask.slots and ctx.state == RequestState.New:
            ctx.state = RequestState.Started
            ctx.started_at = self.now
            self.emit(RequestFulfilled(**_PLACEHOLDER, request_id=request_id))

    def submit_proof(self, sender: str, slot_id: str, proof: Groth16Proof) -> None:
        slot = self.state.slots.get(slot_id)
        if slot is None or slot.request_id not in self.state.requests:
            raise Revert("Marketplace_UnknownRequest")
        if slot.host is None or _key(slot.host) != _key(sender):
            raise Revert("Marketplace_ProofNotSubmittedByHost")
        period = self.period_of(self.now)
        if (slot_id, period) in self.state.received:
            raise Revert("Proofs_ProofAlreadySubmitted")
        if not self.verifier(proof):
            raise Revert("Proofs_InvalidProof")
        self.state.received.add((slot_id, period))
        self.emit(ProofSubmitted(**_PLACEHOLDER, slot_id=slot_id))

    def free_slot(self, sender: str, slot_id: str, reward_to: str, collateral_to: str) -> None:
        slot = self.state.slots.get(slot_id)
        if slot is None or slot.state == SlotState.Free:
            raise Revert("Marketplace_SlotIsFree")
        if slot.host is None or _key(slot.host) != _key(sender):
            raise Revert("Marketplace_InvalidSlotHost")
        state = self.slot_state(slot_id)
        assert slot.request_id is not None
        ctx = self.state.requests[slot.request_id]
        if state == SlotState.Paid:
            raise Revert("Marketplace_AlreadyPaid")
        if state == SlotState.Finished:
            ctx.state = RequestState.Finished
            self._remove(self.state.my_requests, ctx.request.client, slot.request_id)
            self._remove(self.state.my_slots, slot.host, slot_id)
            payout = self._slot_payout(slot.request_id, slot.filled_at)
            self._pay(slot, reward_to, payout, collateral_to)
        elif state == SlotState.Cancelled:
            self._remove(self.state.my_slots, slot.host, slot_id)
            payout = self._slot_payout(slot.request_id, slot.filled_at, ctx.expires_at)
            self._pay(slot, reward_to, payout, collateral_to)
        elif state == SlotState.Failed:
            self._remove(self.state.my_slots, sender, slot_id)
        elif state == SlotState.Filled:
            self._forcibly_free(slot_id)

    def _pay(self, slot: _Slot, reward_to: str, payout: int, collateral_to: str) -> None:
        slot.state = SlotState.Paid
        self._transfer(reward_to, payout)
        self._transfer(collateral_to, slot.current_collateral)

    def _forcibly_free(self, slot_id: str) -> None:
        slot = self.state.slots[slot_id]
        assert slot.request_id is not None and slot.host is not None
        request_id = slot.request_id
        ctx = self.state.requests[request_id]
        ctx.funds_to_return += self._slot_payout(request_id, slot.filled_at)
        self._remove(self.state.my_slots, slot.host, slot_id)
        self.state.reservations.pop(slot_id, None)
        self.state.freed_at[slot_id] = self.now
        slot.state = SlotState.Repair
        slot.filled_at = 0
        slot.current_collateral = 0
        slot.host = None
        ctx.slots_filled -= 1
        self.emit(SlotFreed(**_PLACEHOLDER, request_id=request_id, slot_index=slot.slot_index))
        self.state.missing_count[slot_id] = 0
        lost = ctx.request.ask.slots - ctx.slots_filled
        if lost > ctx.request.ask.max_slot_loss and ctx.state == RequestState.Started:
            ctx.state = RequestState.Failed
            ctx.ends_at = self.now - 1
            self.emit(RequestFailed(**_PLACEHOLDER, request_id=request_id))

    def check_mark_missing(self, slot_id: str, period: int) -> None:
        if self.slot_state(slot_id) != SlotState.Filled:
            raise Revert("Marketplace_SlotNotAcceptingProofs")
        end = self.period_end(period)
        if end >= self.now:
            raise Revert("Proofs_PeriodNotEnded")
        if self.now >= end + self.config.proofs.timeout:
            raise Revert("Proofs_ValidationTimedOut")
        if (slot_id, period) in self.state.received:
            raise Revert("Proofs_ProofNotMissing")
        if not self._was_required(slot_id, period):
            raise Revert("Proofs_ProofNotRequired")
        if (slot_id, period) in self.state.missing:
            raise Revert("Proofs_ProofAlreadyMarkedMissing")

    def mark_proof_as_missing(self, sender: str, slot_id: str, period: int) -> None:
        self.check_mark_missing(slot_id, period)
        self.state.missing.add((slot_id, period))
        count = self.state.missing_count.get(slot_id, 0) + 1
        self.state.missing_count[slot_id] = count
        slot = self.state.slots[slot_id]
        assert slot.request_id is not None
        ask = self.state.requests[slot.request_id].request.ask
        collateral = self.config.collateral
        slashed = ask.collateral_per_slot * collateral.slash_percentage // 100
        reward = slashed * collateral.validator_reward_percentage // 100
        self._transfer(sender, reward)
        if slot.current_collateral < slashed:
            raise Revert("Panic")
        slot.current_collateral -= slashed
        if count >= collateral.max_number_of_slashes:
            self._forcibly_free(slot_id)

    def withdraw_funds(self, sender: str, request_id: str) -> None:
        ctx = self.state.requests.get(request_id)
        if ctx is None:
            raise Revert("Marketplace_UnknownRequest")
        if _key(ctx.request.client) != _key(sender):
            raise Revert("Marketplace_InvalidClientAddress")
        state = self.request_state(request_id)
        if state not in (RequestState.Cancelled, RequestState.Failed, RequestState.Finished):
            raise Revert("Marketplace_InvalidState")
        if ctx.funds_to_return == 0:
            raise Revert("Marketplace_NothingToWithdraw")
        if state == RequestState.Cancelled:
            ctx.state = RequestState.Cancelled
            self.emit(RequestCancelled(**_PLACEHOLDER, request_id=request_id))
            ctx.funds_to_return += ctx.slots_filled * self._slot_payout(request_id, ctx.expires_at)
        elif state == RequestState.Failed:
            ctx.funds_to_return = ctx.request.ask.total_price
        else:
            ctx.state = RequestState.Finished
        self._remove(self.state.my_requests, ctx.request.client, request_id)
        amount = ctx.funds_to_return
        ctx.funds_to_return = 0
        self._transfer(sender, amount)


_PLACEHOLDER: dict[str, object] = {
    "block_number": 0,
    "block_timestamp": 0,
    "tx_hash": "0x" + "00" * 32,
    "log_index": 0,
}
"""Position fields of an event before its transaction commits (filled in by `transact`)."""


class FakeMarket:
    """One signer's `Market` (and `MarketClient`) on a `FakeChain`."""

    def __init__(
        self, chain: FakeChain, signer: str, *, reward_recipient: str | None = None
    ) -> None:
        self.chain = chain
        self.address: str = to_checksum_address(signer)
        self.reward_recipient = reward_recipient
        self.sent: list[str] = []
        """Hashes of the transactions this market sent (tests check retries send nothing)."""

    def __repr__(self) -> str:
        return f"FakeMarket(signer={self.address})"

    async def _send(self, operation: str, body: Callable[[], None], on_sent: OnSent | None) -> str:
        tx_hash = await self.chain.transact(operation, body)
        self.sent.append(tx_hash)
        if on_sent is not None:
            await on_sent(tx_hash)
        return tx_hash

    def _mined(self, sent: str | None) -> bool:
        return sent is not None and sent in self.chain.mined

    # --- Market --------------------------------------------------------------------------------

    async def get_signer(self) -> str:
        return self.address

    async def configuration(self) -> MarketplaceConfig:
        return self.chain.config

    async def current_time(self) -> int:
        return self.chain.now

    async def get_request(self, request_id: str) -> StorageRequest | None:
        ctx = self.chain.state.requests.get(request_id)
        return None if ctx is None else ctx.request

    async def request_state(self, request_id: str) -> RequestState | None:
        try:
            return self.chain.request_state(request_id)
        except Revert:
            return None

    async def slot_state(self, slot_id: str) -> SlotState:
        return self.chain.slot_state(slot_id)

    async def request_end(self, request_id: str) -> int:
        try:
            return self.chain.request_end(request_id)
        except Revert as exc:
            raise MarketError(f"Failed to read requestEnd: {exc.reason}") from None

    async def request_expires_at(self, request_id: str) -> int:
        ctx = self.chain.state.requests.get(request_id)
        return 0 if ctx is None else ctx.expires_at

    async def get_host(self, slot_id: str) -> str | None:
        slot = self.chain.state.slots.get(slot_id)
        return None if slot is None else slot.host

    async def current_collateral(self, slot_id: str) -> int:
        slot = self.chain.state.slots.get(slot_id)
        return 0 if slot is None else slot.current_collateral

    async def get_active_slot(self, slot_id: str) -> Slot | None:
        slot = self.chain.state.slots.get(slot_id)
        if slot is None or slot.state == SlotState.Free or slot.request_id is None:
            return None
        request = self.chain.state.requests[slot.request_id].request
        return Slot(request=request, slot_index=slot.slot_index)

    async def my_slots(self) -> list[str]:
        return list(self.chain.state.my_slots.get(_key(self.address), []))

    async def can_reserve_slot(self, request_id: str, slot_index: int) -> bool:
        return self.chain.can_reserve_slot(self.address, request_id, slot_index)

    async def slot_collateral(self, request_id: str, slot_index: int) -> int:
        request = await self.get_request(request_id)
        if request is None:
            raise MarketError(f"Failed to compute slot collateral: unknown request {request_id}")
        full = request.ask.collateral_per_slot
        if self.chain.slot_state(make_slot_id(request_id, slot_index)) != SlotState.Repair:
            return full
        return repair_collateral(full, self.chain.config.collateral.repair_reward_percentage)

    async def get_pointer(self, slot_id: str) -> int:
        return self.chain.pointer(slot_id)

    async def proving_snapshot(self, slot_id: str, request_id: str) -> ProvingSnapshot:
        """The fake chain has no blocks in between calls: every read is of the same state."""
        return ProvingSnapshot(
            block_number=self.chain.block_number,
            timestamp=self.chain.now,
            seconds_per_block=1.0,
            slot_state=await self.slot_state(slot_id),
            request_state=await self.request_state(request_id),
            host=await self.get_host(slot_id),
            pointer=await self.get_pointer(slot_id),
            challenge=await self.get_challenge(slot_id),
            proof_required=await self.is_proof_required(slot_id),
            proof_will_be_required=await self.will_proof_be_required(slot_id),
        )

    async def proving_snapshots(self, slots: Sequence[tuple[str, str]]) -> ProvingBatch:
        """Every snapshot of the same fake block (the fake chain has no blocks in between)."""
        snapshots = {sid: await self.proving_snapshot(sid, rid) for sid, rid in slots}
        return ProvingBatch(
            block_number=self.chain.block_number,
            timestamp=self.chain.now,
            seconds_per_block=1.0,
            snapshots=snapshots,
        )

    async def get_challenge(self, slot_id: str) -> str:
        return self.chain.challenge(slot_id)

    async def is_proof_required(self, slot_id: str) -> bool:
        return self.chain.is_proof_required(slot_id)

    async def will_proof_be_required(self, slot_id: str) -> bool:
        return self.chain.will_proof_be_required(slot_id)

    async def missing_proofs(self, slot_id: str) -> int:
        return self.chain.state.missing_count.get(slot_id, 0)

    async def reserve_slot(
        self,
        request_id: str,
        slot_index: int,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None:
        if self._mined(sent):
            return sent
        sid = make_slot_id(request_id, slot_index)
        if _key(self.address) in self.chain.state.reservations.get(sid, []):
            return None
        body = lambda: self.chain.reserve_slot(self.address, request_id, slot_index)  # noqa: E731
        return await self._send("reserveSlot", body, on_sent)

    async def fill_slot(
        self,
        request_id: str,
        slot_index: int,
        proof: Groth16Proof,
        collateral: int,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None:
        if self._mined(sent):
            return sent
        if await self.get_host(make_slot_id(request_id, slot_index)) == self.address:
            return None

        def body() -> None:
            self.chain.fill_slot(self.address, request_id, slot_index, proof)

        return await self._send("fillSlot", body, on_sent)

    async def submit_proof(
        self,
        slot_id: str,
        proof: Groth16Proof,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None:
        if self._mined(sent):
            return sent
        body = lambda: self.chain.submit_proof(self.address, slot_id, proof)  # noqa: E731
        try:
            return await self._send("submitProof", body, on_sent)
        except MarketError as exc:
            if "Proofs_ProofAlreadySubmitted" in str(exc):
                return None
            raise

    async def free_slot(
        self, slot_id: str, *, sent: str | None = None, on_sent: OnSent | None = None
    ) -> str | None:
        if self._mined(sent):
            return sent
        reward_to = self.reward_recipient or self.address

        def body() -> None:
            self.chain.free_slot(self.address, slot_id, reward_to, self.address)

        try:
            return await self._send("freeSlot", body, on_sent)
        except MarketError as exc:
            if "Marketplace_AlreadyPaid" in str(exc) and await self.get_host(slot_id) == (
                self.address
            ):
                return None
            raise

    # --- MarketClient ----------------------------------------------------------------------------

    async def request_storage(
        self, request: StorageRequest, *, sent: str | None = None, on_sent: OnSent | None = None
    ) -> str | None:
        if _key(request.client) != _key(self.address):
            raise MarketError("Failed to request storage: the request's client is not the signer")
        if self._mined(sent):
            return sent
        if request.id in self.chain.state.requests:
            return None
        body = lambda: self.chain.request_storage(self.address, request)  # noqa: E731
        return await self._send("requestStorage", body, on_sent)

    async def withdraw_funds(
        self, request_id: str, *, sent: str | None = None, on_sent: OnSent | None = None
    ) -> str | None:
        if self._mined(sent):
            return sent
        body = lambda: self.chain.withdraw_funds(self.address, request_id)  # noqa: E731
        return await self._send("withdrawFunds", body, on_sent)

    async def mark_proof_as_missing(
        self,
        slot_id: str,
        period: int,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None:
        if self._mined(sent):
            return sent
        body = lambda: self.chain.mark_proof_as_missing(self.address, slot_id, period)  # noqa: E731
        return await self._send("markProofAsMissing", body, on_sent)

    async def can_mark_proof_as_missing(self, slot_id: str, period: int) -> bool:
        try:
            self.chain.check_mark_missing(slot_id, period)
        except Revert:
            return False
        return True

    async def my_requests(self) -> list[str]:
        return list(self.chain.state.my_requests.get(_key(self.address), []))

    async def token_balance(self, address: str | None = None) -> int:
        return self.chain.balance_of(address or self.address)
