"""Messages of the SlotQueue workflow (SQ-*, SALES-7..14): pushes, deletes, status.

Pushes are Updates: item pushes are answered per item (queued, exists, evicted), request
pushes with counts only (bounded intake: the answer stays small for 65,535 slots); deletes,
availability-saved and releases are Signals. Every chain-driven message carries the event key
so a re-delivered event changes nothing.
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sales.api import SaleSettings
from sales.hexbytes import Bytes32
from sales.models import SlotQueueItem, StorageAsk
from sales.uint import Uint16, Uint64, Uint256


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QueueSettings(Message):
    """SQ-1: maxWorkers in 1..maxSize, maxSize in 1..65535."""

    max_workers: int = Field(default=3, ge=1)
    max_size: int = Field(default=128, ge=1, le=65535)
    sale: SaleSettings = SaleSettings()
    events_per_run: int = Field(default=2000, ge=10)
    """Continue-as-new after this many handled messages (Temporal's per-run update limit)."""
    carried_check_seconds: int = Field(default=60, ge=1)
    """How often a run asks whether sales started by an earlier run (not its children, so not
    watched) have closed without releasing their worker."""

    @model_validator(mode="after")
    def _workers_fit(self) -> "QueueSettings":
        if self.max_workers > self.max_size:
            raise ValueError("maxWorkers must not exceed maxSize")
        return self


class Running(Message):
    """A dequeued item whose sale holds a worker until it signals `sale_released`."""

    item: SlotQueueItem
    workflow_id: str
    run_id: str | None = None


class PendingRequest(Message):
    """The implicit rest of a request that did not fit the queue: its terms once, and a
    position in a fixed pseudo-random order of its slots, instead of one item per slot.

    The order is the affine permutation ``slot(i) = (step * i + offset) mod slots`` with
    ``step`` coprime to ``slots``, both drawn from the workflow's random when the request is
    pushed: every slot comes exactly once, hosts draw different orders (SQ-14's spread), and
    the state stays a few numbers whatever the slot count."""

    template: SlotQueueItem
    """The request's item with slot index 0: every slot of it ranks the same (SQ-11)."""
    slots: int = Field(ge=1, le=65535)
    step: int = Field(ge=1)
    offset: int = Field(ge=0)
    next: int = Field(default=0, ge=0)
    """How many positions of the order have been used (offered or skipped)."""
    skipped: list[Uint16] = []
    """Slots deleted by a chain event (filled, reservations full) before being offered;
    bounded, so a forgotten one is offered and its sale finds it taken."""

    @property
    def request_id(self) -> str:
        return self.template.request_id

    @property
    def remaining(self) -> int:
        return self.slots - self.next

    def slot_at(self, position: int) -> int:
        return (self.step * position + self.offset) % self.slots


class QueueState(Message):
    """Everything carried across continue-as-new; bounded by maxSize + maxWorkers + keys +
    the pending requests (at most MAX_PENDING records of a few numbers each)."""

    items: list[SlotQueueItem] = []
    running: list[Running] = []
    paused: bool = True
    """SQ-3: a new queue is paused until an unseen item arrives."""
    recent_keys: list[str] = []
    """Event keys already applied, newest last, bounded (dedupes re-delivered chain events)."""
    pending: list[PendingRequest] = []
    """Requests with slots not yet in the queue, best first; they refill it as room frees."""


class QueueInput(Message):
    settings: QueueSettings = QueueSettings()
    state: QueueState | None = None


class PushRequest(Message):
    """SALES-7 StorageRequested: the workflow expands it into shuffled items (SQ-14)."""

    key: str
    request_id: Bytes32
    ask: StorageAsk
    expires_at: Uint64
    collateral: Uint256
    window_start: Uint64 = 0


class PushItems(Message):
    """SALES-8 freed slots, operator pushes, reprocessing."""

    key: str | None = None
    items: list[SlotQueueItem]


class PushOutcome(StrEnum):
    QUEUED = "queued"
    EXISTS = "exists"
    EVICTED = "evicted"
    DUPLICATE_EVENT = "duplicate-event"


class PushedItem(Message):
    slot_index: Uint16
    outcome: PushOutcome


class PushResult(Message):
    """Per-item outcomes for item pushes (and for request pushes of queues started before
    bounded intake); counts for request pushes, whatever the request's size."""

    request_id: Bytes32 | None
    items: list[PushedItem]
    queued: int = 0
    exists: int = 0
    evicted: int = 0
    """Items pushed out of a full queue: lower-priority ones, or (per item) the pushed one."""
    not_queued: int = 0
    """A request's slots that did not fit at its priority: never materialised as items."""
    duplicate_event: bool = False
    """The push's event key was applied before (a re-delivered chain event): nothing changed."""


class DeleteSlots(Message):
    """SQ-17: every slot of a request (slot_index None) or one slot."""

    key: str
    request_id: Bytes32
    slot_index: Uint64 | None = None


class QueueStatus(Message):
    items: list[SlotQueueItem]
    running: list[Running]
    paused: bool
    max_workers: int
    max_size: int
    pending_slots: int = 0
    """Slots of pushed requests kept implicit, to refill the queue as room frees."""


class QueueSignal(StrEnum):
    DELETE = "delete"
    AVAILABILITY_SAVED = "availability_saved"
    SALE_RELEASED = "sale_released"
    RESUME = "resume"
    STOP = "stop"


class QueueActivity(StrEnum):
    CLOSED_SALES = "queue_closed_sales"


class HeldSales(Message):
    """Sales holding workers that an earlier run of the queue started."""

    sales: list[Running]


class QueueUpdate(StrEnum):
    PUSH_REQUEST = "push_request"
    PUSH_ITEMS = "push_items"
