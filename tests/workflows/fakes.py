"""A scripted in-memory chain + ledger + hooks, registered under the real activity names.

Chain time is the time-skipping server's virtual clock (the activity's scheduled time), so
durable timers in the workflow and the fake chain agree. Tests script each branch by setting
fields, failing an activity with a business `ErrorType`, or holding an activity on a gate.
"""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sales.api import (
    Activity,
    AvailabilityLookup,
    AvailabilitySaved,
    CloseReservationInput,
    CloseReservationResult,
    CreateReservationInput,
    ErrorType,
    FillSlotInput,
    FindAvailabilityInput,
    OnClearInput,
    OnExpiryUpdateInput,
    OnProveInput,
    OnStoreInput,
    OnStoreResult,
    ProvingStatus,
    RecordFillInput,
    RequestLookup,
    RequestRef,
    SlotIdRef,
    SlotRef,
    SlotStatus,
    SubmitProofInput,
    TxOutcome,
)
from sales.models import (
    Availability,
    FillRecord,
    G1Point,
    Groth16Proof,
    RequestState,
    Reservation,
    SlotQueueItem,
    SlotState,
    StorageAsk,
    StorageContent,
    StorageRequest,
)
from sales.periods import Periodicity

HOST = "0x1000000000000000000000000000000000000001"
OTHER_HOST = "0x2000000000000000000000000000000000000002"
PERIOD = 10
SLOT_SIZE = 100
COLLATERAL_PER_BYTE = 3


def make_request(expiry: int = 30, duration: int = 30, nonce: int = 1) -> StorageRequest:
    return StorageRequest(
        client="0x3000000000000000000000000000000000000003",
        ask=StorageAsk(
            proof_probability=1,
            price_per_byte_per_second=2,
            collateral_per_byte=COLLATERAL_PER_BYTE,
            slots=4,
            slot_size=SLOT_SIZE,
            duration=duration,
            max_slot_loss=1,
        ),
        content=StorageContent(cid="0x0155", merkle_root="0x" + "11" * 32),
        expiry=expiry,
        nonce="0x" + f"{nonce:064x}",
    )


def proof(n: int) -> Groth16Proof:
    """A distinguishable fake proof."""
    zero = Groth16Proof.zero()
    return zero.model_copy(update={"a": G1Point(x=n, y=n)})


def chain_now() -> int:
    return int(activity.info().current_attempt_scheduled_time.timestamp())


def fail(error: ErrorType, message: str = "scripted failure") -> ApplicationError:
    return ApplicationError(message, type=str(error), non_retryable=True)


@dataclass
class Gate:
    """Holds an activity until the test opens it; heartbeats so cancellation gets through."""

    skip: int = 0
    """Calls that pass before the gate starts holding."""
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    def open(self) -> None:
        self.opened.set()

    async def hold(self) -> None:
        """Hold one call (after `skip`); later calls pass, e.g. a retry after a cancel."""
        if self.skip > 0 or self.entered.is_set():
            self.skip = max(0, self.skip - 1)
            return
        self.entered.set()
        while not self.opened.is_set():
            activity.heartbeat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.opened.wait(), 0.05)


@dataclass
class FakeSale:
    request: StorageRequest = field(default_factory=make_request)
    created_at: int = 0
    slot_state: SlotState = SlotState.Free
    request_state: RequestState | None = RequestState.New
    request_known: bool = True
    host: str | None = None
    signer: str = HOST
    current_collateral: int = SLOT_SIZE * COLLATERAL_PER_BYTE
    can_reserve: bool = True
    availability: Availability | None = None
    pointers: list[int] = field(default_factory=list)
    """Pointer per proving-status read in InitialProving/Proving; 100 when exhausted."""
    proof_required: bool = True
    downtime: int = 64
    period: int = PERIOD
    prover_fails: bool = False
    finish_at: int | None = None
    """Chain time at which a Filled slot turns Finished (default: the request end)."""
    request_state_after_fill: RequestState = RequestState.Started
    slot_state_after_fill: SlotState = SlotState.Filled
    host_after_fill: str | None = None
    """Who the chain shows as host after our fill (default: us)."""
    fail_with: dict[Activity, ErrorType] = field(default_factory=dict)
    fail_once: dict[Activity, ErrorType] = field(default_factory=dict)
    """A business failure of the next call only."""
    transient: dict[Activity, int] = field(default_factory=dict)
    """How many next calls fail with a retryable fault (an RPC outage, say)."""
    gates: dict[Activity, Gate] = field(default_factory=dict)
    saved_notice: AvailabilitySaved | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    """Chain time of each call in `calls`."""
    proofs: int = 0
    challenges: int = 0
    fill_records: list[FillRecord] = field(default_factory=list)
    """What the sale wrote to its reservation row, in order."""

    @property
    def expires_at(self) -> int:
        return self.created_at + self.request.expiry

    @property
    def request_end(self) -> int:
        return self.created_at + self.request.ask.duration

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def payloads(self, name: Activity) -> list[Any]:
        return [arg for called, arg in self.calls if called == name]

    async def _enter(self, name: Activity, arg: Any) -> None:
        self.calls.append((str(name), arg))
        self.times.append(chain_now())
        gate = self.gates.get(name)
        if gate is not None:
            await gate.hold()
        error = self.fail_with.get(name) or self.fail_once.pop(name, None)
        if error is not None:
            raise fail(error)
        if self.transient.get(name, 0) > 0:
            self.transient[name] -= 1
            raise ConnectionError("scripted outage")

    def called_at(self, name: Activity) -> list[int]:
        """Chain times of the calls of `name`."""
        return [t for (called, _), t in zip(self.calls, self.times, strict=True) if called == name]

    def required(self, period: int) -> bool:
        """Whether the chain asks for a proof in `period` (subclasses script a pattern)."""
        return self.proof_required

    def reading(self, pointer: int = 100) -> ProvingStatus:
        """The slot's proving facts now, as one block shows them (no call recorded)."""
        now = chain_now()
        period = Periodicity(seconds=self.period).period_of(now)
        return ProvingStatus(
            slot_state=self._state(),
            proof_required=self.required(period),
            proof_will_be_required=False,
            pointer=pointer,
            challenge="0x" + f"{period:032x}{pointer:032x}",
            chain_time=now,
            period_seconds=self.period,
            downtime=self.downtime,
            block_number=now,
            seconds_per_block=1.0,
            request_state=self.request_state if self.request_known else None,
            host=self.host,
        )

    def _state(self) -> SlotState:
        end = self.finish_at if self.finish_at is not None else self.request_end
        if self.slot_state == SlotState.Filled and chain_now() >= end:
            self.slot_state = SlotState.Finished
        return self.slot_state

    # --- market reads ---

    @activity.defn(name=Activity.MARKET_GET_REQUEST)
    async def get_request(self, ref: RequestRef) -> RequestLookup:
        await self._enter(Activity.MARKET_GET_REQUEST, ref)
        return RequestLookup(request=self.request if self.request_known else None)

    @activity.defn(name=Activity.MARKET_SLOT_STATUS)
    async def slot_status(self, ref: SlotRef) -> SlotStatus:
        await self._enter(Activity.MARKET_SLOT_STATUS, ref)
        return SlotStatus(
            slot_state=self._state(),
            request_state=self.request_state,
            request_end=self.request_end,
            request_expires_at=self.expires_at,
            host=self.host,
            signer=self.signer,
            current_collateral=self.current_collateral,
            chain_time=chain_now(),
        )

    @activity.defn(name=Activity.MARKET_CAN_RESERVE_SLOT)
    async def can_reserve_slot(self, ref: SlotRef) -> bool:
        await self._enter(Activity.MARKET_CAN_RESERVE_SLOT, ref)
        return self.can_reserve

    @activity.defn(name=Activity.MARKET_SLOT_COLLATERAL)
    async def slot_collateral(self, ref: SlotRef) -> int:
        await self._enter(Activity.MARKET_SLOT_COLLATERAL, ref)
        return self.request.ask.collateral_per_slot

    @activity.defn(name=Activity.MARKET_PROVING_STATUS)
    async def proving_status(self, ref: SlotRef) -> ProvingStatus:
        await self._enter(Activity.MARKET_PROVING_STATUS, ref)
        pointer = self.pointers.pop(0) if self.pointers else 100
        self.challenges += 1
        return self.reading(pointer)

    # --- market transactions ---

    @activity.defn(name=Activity.MARKET_RESERVE_SLOT)
    async def reserve_slot(self, ref: SlotRef) -> TxOutcome:
        await self._enter(Activity.MARKET_RESERVE_SLOT, ref)
        return TxOutcome(tx_hash="0x" + "01" * 32)

    @activity.defn(name=Activity.MARKET_FILL_SLOT)
    async def fill_slot(self, fill: FillSlotInput) -> TxOutcome:
        await self._enter(Activity.MARKET_FILL_SLOT, fill)
        self.slot_state = self.slot_state_after_fill
        self.host = self.host_after_fill or self.signer
        self.request_state = self.request_state_after_fill
        return TxOutcome(tx_hash="0x" + "02" * 32)

    @activity.defn(name=Activity.MARKET_SUBMIT_PROOF)
    async def submit_proof(self, submit: SubmitProofInput) -> TxOutcome:
        await self._enter(Activity.MARKET_SUBMIT_PROOF, submit)
        if submit.proof == Groth16Proof.zero():
            raise fail(ErrorType.PROOF_INVALID, "invalid proof")
        return TxOutcome(tx_hash="0x" + "03" * 32)

    @activity.defn(name=Activity.MARKET_FREE_SLOT)
    async def free_slot(self, ref: SlotIdRef) -> TxOutcome:
        await self._enter(Activity.MARKET_FREE_SLOT, ref)
        if self.slot_state == SlotState.Finished:
            self.slot_state = SlotState.Paid
        self.host = None
        return TxOutcome(tx_hash="0x" + "04" * 32)

    # --- ledger ---

    @activity.defn(name=Activity.LEDGER_FIND_AVAILABILITY)
    async def find_availability(self, find: FindAvailabilityInput) -> AvailabilityLookup:
        await self._enter(Activity.LEDGER_FIND_AVAILABILITY, find)
        return AvailabilityLookup(availability=self.availability)

    @activity.defn(name=Activity.LEDGER_CREATE_RESERVATION)
    async def create_reservation(self, create: CreateReservationInput) -> Reservation:
        await self._enter(Activity.LEDGER_CREATE_RESERVATION, create)
        return Reservation(
            id="0x" + "aa" * 32,
            availability_id=create.availability_id,
            size=create.slot_size,
            request_id=create.request_id,
            slot_index=create.slot_index,
            valid_until=create.valid_until,
        )

    @activity.defn(name=Activity.LEDGER_CLOSE_RESERVATION)
    async def close_reservation(self, close: CloseReservationInput) -> CloseReservationResult:
        await self._enter(Activity.LEDGER_CLOSE_RESERVATION, close)
        return CloseReservationResult(availability_saved=self.saved_notice)

    @activity.defn(name=Activity.LEDGER_RECORD_FILL)
    async def record_fill(self, record: RecordFillInput) -> None:
        await self._enter(Activity.LEDGER_RECORD_FILL, record)
        self.fill_records.append(record.fill)

    # --- hooks and prover ---

    @activity.defn(name=Activity.STORE_ON_STORE)
    async def on_store(self, store: OnStoreInput) -> OnStoreResult:
        await self._enter(Activity.STORE_ON_STORE, store)
        return OnStoreResult(bytes_written=store.request.ask.slot_size, batches=1)

    @activity.defn(name=Activity.STORE_ON_EXPIRY_UPDATE)
    async def on_expiry_update(self, update: OnExpiryUpdateInput) -> None:
        await self._enter(Activity.STORE_ON_EXPIRY_UPDATE, update)

    @activity.defn(name=Activity.STORE_ON_CLEAR)
    async def on_clear(self, clear: OnClearInput) -> None:
        await self._enter(Activity.STORE_ON_CLEAR, clear)

    @activity.defn(name=Activity.STORE_ON_SALE)
    async def on_sale(self, sale: OnClearInput) -> None:
        await self._enter(Activity.STORE_ON_SALE, sale)

    @activity.defn(name=Activity.PROVER_ON_PROVE)
    async def on_prove(self, prove: OnProveInput) -> Groth16Proof:
        await self._enter(Activity.PROVER_ON_PROVE, prove)
        if self.prover_fails:
            raise fail(ErrorType.PROVER_FAILED)
        self.proofs += 1
        return proof(self.proofs)

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.get_request,
            self.slot_status,
            self.can_reserve_slot,
            self.slot_collateral,
            self.proving_status,
            self.reserve_slot,
            self.fill_slot,
            self.submit_proof,
            self.free_slot,
            self.find_availability,
            self.create_reservation,
            self.close_reservation,
            self.record_fill,
            self.on_store,
            self.on_expiry_update,
            self.on_clear,
            self.on_sale,
            self.on_prove,
        ]


def an_availability() -> Availability:
    return Availability(
        id="0x" + "bb" * 32,
        total_size=1000,
        free_size=1000,
        duration=100_000,
        min_price_per_byte_per_second=1,
        total_collateral=10_000,
        total_remaining_collateral=10_000,
    )


def item_for(fake: FakeSale, slot_index: int) -> SlotQueueItem:
    ask = fake.request.ask
    return SlotQueueItem(
        request_id=fake.request.id,
        slot_index=slot_index,
        slot_size=ask.slot_size,
        duration=ask.duration,
        price_per_byte_per_second=ask.price_per_byte_per_second,
        collateral=ask.collateral_per_slot,
        expiry=fake.expires_at,
        window_start=fake.created_at,
    )
