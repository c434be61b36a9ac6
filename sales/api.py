"""The contract between workflows and activities: task queues, names, payloads, errors.

Workflows call activities by these names with these pydantic models, so workflow code never
imports chain/, ledger/, proofs/ or store/ (ARCHITECTURE.md §2). Activity classes register
methods under the same names. Payloads carry ids and numbers only, never secrets.
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from sales.dispersal import DispersalWindow
from sales.hexbytes import Address, Bytes32, HexData
from sales.models import (
    Availability,
    FillRecord,
    Groth16Proof,
    RequestState,
    Slot,
    SlotQueueItem,
    SlotState,
    StorageRequest,
)
from sales.uint import Timestamp, Uint64, Uint256


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- task queues -------------------------------------------------------------------------------

SALES_TASK_QUEUE = "sales"
"""Workflows, ledger operations, chain reads and the data hooks."""
CHAIN_TX_TASK_QUEUE = "chain-tx"
"""Transactions: one signer and its nonce manager live behind this queue."""
PROVING_TASK_QUEUE = "proving"
"""CPU-bound proof generation, on its own workers with a concurrency limit."""


# --- activity names ----------------------------------------------------------------------------


class Activity(StrEnum):
    # market reads (SALES_TASK_QUEUE)
    MARKET_CONFIG = "market_config"
    MARKET_GET_REQUEST = "market_get_request"
    MARKET_SLOT_STATUS = "market_slot_status"
    MARKET_CAN_RESERVE_SLOT = "market_can_reserve_slot"
    MARKET_SLOT_COLLATERAL = "market_slot_collateral"
    MARKET_PROVING_STATUS = "market_proving_status"
    MARKET_MY_SLOTS = "market_my_slots"
    # market transactions (CHAIN_TX_TASK_QUEUE)
    MARKET_RESERVE_SLOT = "market_reserve_slot"
    MARKET_FILL_SLOT = "market_fill_slot"
    MARKET_SUBMIT_PROOF = "market_submit_proof"
    MARKET_FREE_SLOT = "market_free_slot"
    # ledger (SALES_TASK_QUEUE)
    LEDGER_FIND_AVAILABILITY = "ledger_find_availability"
    LEDGER_CREATE_RESERVATION = "ledger_create_reservation"
    LEDGER_CLOSE_RESERVATION = "ledger_close_reservation"
    LEDGER_LIST_RESERVATIONS = "ledger_list_reservations"
    LEDGER_RECORD_FILL = "ledger_record_fill"
    # data hooks (SALES_TASK_QUEUE)
    STORE_ON_STORE = "store_on_store"
    STORE_ON_EXPIRY_UPDATE = "store_on_expiry_update"
    STORE_ON_CLEAR = "store_on_clear"
    STORE_ON_SALE = "store_on_sale"
    # proofs (PROVING_TASK_QUEUE)
    PROVER_ON_PROVE = "prover_on_prove"


class ErrorType(StrEnum):
    """``ApplicationError.type`` of business errors; all non-retryable.

    The sale workflow maps them to the spec's next states (e.g. SlotStateMismatch → Ignored).
    """

    MARKET = "MarketError"
    SLOT_STATE_MISMATCH = "SlotStateMismatch"
    SLOT_RESERVATION_NOT_ALLOWED = "SlotReservationNotAllowed"
    PROOF_INVALID = "ProofInvalid"
    BYTES_OUT_OF_BOUNDS = "BytesOutOfBounds"
    NOT_EXISTS = "NotExists"
    UNTIL_OUT_OF_BOUNDS = "UntilOutOfBounds"
    QUOTA_NOT_ENOUGH = "QuotaNotEnough"
    ARITHMETIC_RANGE = "ArithmeticRange"
    DATA_INVALID = "DataInvalid"
    PROVER_FAILED = "ProverFailed"
    LEDGER = "LedgerError"
    """Any other ledger refusal (invalid input, a broken invariant): the sale errors."""


# --- shared references -------------------------------------------------------------------------


class RequestRef(Message):
    request_id: Bytes32


class SlotRef(Message):
    request_id: Bytes32
    slot_index: Uint64

    @property
    def slot_id(self) -> str:
        from sales.ids import slot_id

        return slot_id(self.request_id, self.slot_index)


class SlotIdRef(Message):
    slot_id: Bytes32


# --- market payloads ---------------------------------------------------------------------------


class RequestLookup(Message):
    request: StorageRequest | None
    """None: unknown request (MKT-3 getRequest)."""


class SlotStatus(Message):
    """Everything a sale step reads about one slot, in one activity (fewer activities per sale)."""

    slot_state: SlotState
    request_state: RequestState | None
    request_end: Timestamp
    request_expires_at: Timestamp
    host: Address | None
    signer: Address
    current_collateral: Uint256
    chain_time: Timestamp
    """Latest block timestamp: periods and expiry are chain time, not the worker's clock."""


class ProvingStatus(Message):
    """What one proving period needs, read in a single batch (ARCHITECTURE §3, PRV-1).

    Every field comes from ONE block (`block_number`, whose timestamp is `chain_time`), so the
    period, the pointer and the challenge agree: a proof computed for this challenge is valid
    until the pointer wraps (256 - pointer blocks later) or the period ends.
    """

    slot_state: SlotState
    proof_required: bool
    proof_will_be_required: bool
    pointer: int
    challenge: Bytes32
    chain_time: Timestamp
    period_seconds: Uint64
    downtime: int
    block_number: Uint64 = 0
    seconds_per_block: float = 1.0
    """Recent average block interval: converts "blocks until the pointer wraps" into time."""
    request_state: RequestState | None = None
    """The request's state at the same block (None: not read, or the chain forgot it)."""
    host: Address | None = None
    """The slot's host at the same block."""


class MySlots(Message):
    slot_ids: list[Bytes32]
    """Active slots of this host (SALES-4: mySlots filtered by getActiveSlot)."""


class FillSlotInput(Message):
    slot: SlotRef
    proof: Groth16Proof
    collateral: Uint256


class SubmitProofInput(Message):
    slot_id: Bytes32
    proof: Groth16Proof


class TxOutcome(Message):
    tx_hash: Bytes32 | None
    already_done: bool = False
    """True when the chain already reflected this host's effect (a retry after success)."""


# --- ledger payloads ---------------------------------------------------------------------------


class FindAvailabilityInput(Message):
    slot_size: Uint64
    duration: Uint64
    price_per_byte_per_second: Uint256
    collateral_per_byte: Uint256
    valid_until: Timestamp


class AvailabilityLookup(Message):
    availability: Availability | None


class CreateReservationInput(Message):
    """RES-17; idempotent per (availability_id, request_id, slot_index)."""

    availability_id: Bytes32
    slot_size: Uint64
    request_id: Bytes32
    slot_index: Uint64
    collateral_per_byte: Uint256
    valid_until: Timestamp


class CloseReservationInput(Message):
    """SALES-6 step 1 in one transaction: return written bytes (RES-20), delete (RES-21).

    ``returned_collateral`` is what goes back to totalRemainingCollateral (COL-4 decisions in
    ARCHITECTURE §4). A reservation already gone is a successful no-op.
    """

    reservation_id: Bytes32
    availability_id: Bytes32
    returned_collateral: Uint256 | None = None


class AvailabilitySaved(Message):
    """RES-23, emitted only after commit (Q-10): the queue clears seen flags if enabled."""

    availability_id: Bytes32
    enabled: bool


class CloseReservationResult(Message):
    availability_saved: AvailabilitySaved | None


class RecordFillInput(Message):
    """The fill record on the reservation row moves forward (ARCHITECTURE §8); idempotent."""

    reservation_id: Bytes32
    fill: FillRecord


class ReservationSummary(Message):
    reservation_id: Bytes32
    availability_id: Bytes32
    request_id: Bytes32
    slot_index: Uint64


class ReservationList(Message):
    reservations: list[ReservationSummary]


# --- hook payloads -----------------------------------------------------------------------------


class OnStoreInput(Message):
    """ST-DL-5: download the slot into the local store, releasing reserved bytes per batch."""

    request: StorageRequest
    slot_index: Uint64
    expiry: Timestamp
    reservation_id: Bytes32
    availability_id: Bytes32
    is_repairing: bool


class OnStoreResult(Message):
    bytes_written: Uint64
    batches: int


class OnExpiryUpdateInput(Message):
    cid: HexData
    expiry: Timestamp


class OnClearInput(Message):
    request: StorageRequest
    slot_index: Uint64


class OnProveInput(Message):
    slot: Slot
    challenge: Bytes32


# --- workflows ---------------------------------------------------------------------------------

SLOT_SALE_WORKFLOW = "SlotSale"
"""Acquisition: Preparing → Filling. Short; gives up with everything returned."""
SLOT_HOSTING_WORKFLOW = "SlotHosting"
"""Hosting: from the landed fill to the settlement. Never gives up on a transient fault."""
SALES_VISIBILITY_QUERY = (
    f"WorkflowType IN ('{SLOT_SALE_WORKFLOW}', '{SLOT_HOSTING_WORKFLOW}') "
    "AND ExecutionStatus != 'ContinuedAsNew'"
)
"""Visibility: every sale, by its current run only (a sale is one id over runs of both types;
runs that continued as new are history)."""
SLOT_QUEUE_WORKFLOW = "SlotQueue"
RECONCILE_WORKFLOW = "Reconcile"


def sale_workflow_id(slot_id: str) -> str:
    """One sale per slot: the workflow id is derived from the slot id (ARCHITECTURE §3)."""
    return f"sale-{slot_id}"


def queue_workflow_id(host_address: str) -> str:
    return f"slot-queue-{host_address.lower()}"


class SaleSettings(Message):
    simulate_proof_failures: int = 0
    """ST-SIM: submit an invalid proof every N-th period (0: off)."""
    periods_per_run: int = 100
    """Continue-as-new after this many proving periods so the history stays bounded."""
    proof_margin_seconds: int = 5
    """Time a proof submission needs to be mined: kept free before the next pointer wrap (on
    top of the last proof's duration) and before the period's end."""
    dispersal: DispersalWindow = DispersalWindow()
    scheduled_proving: bool = False
    """Hosting waits for the host's ProvingScheduler (workflows/scheduler.py) to say a proof is
    due or the chain moved, instead of reading the chain itself every period."""
    scheduler_silence_periods: int = Field(default=5, ge=1)
    """Scheduled hosting that hears nothing for this many periods reads the chain itself and
    registers again: a dead scheduler costs at most these periods, never the slot."""


class SaleInput(Message):
    request_id: Bytes32
    slot_index: Uint64
    item: SlotQueueItem | None = None
    """The queue item that started the sale; None for a recovery sale (SALES-4)."""
    queue_workflow_id: str | None = None
    """Where to signal `sale_released`; None when no queue waits for this sale."""
    settings: SaleSettings = SaleSettings()


class SaleReleased(Message):
    """Sale → queue: the worker slot is free (filled by this host, or the sale cleaned up)."""

    request_id: Bytes32
    slot_index: Uint64
    reprocess: bool = False
    item: SlotQueueItem | None = None
    """With reprocess, the queue pushes this item back as seen (SALES-6 step 2)."""


class ChainEvent(Message):
    """A decoded marketplace event routed to a workflow signal; ``key`` deduplicates."""

    key: str
    """txHash:logIndex of the log, unique per event."""
    request_id: Bytes32
    slot_index: Uint64 | None = None


class SaleSignal(StrEnum):
    REQUEST_CANCELLED = "request_cancelled"
    REQUEST_FAILED = "request_failed"
    REQUEST_FULFILLED = "request_fulfilled"
    SLOT_FILLED = "slot_filled"


SALE_RELEASED_SIGNAL = "sale_released"
