"""Slot-queue rules as pure functions (SQ-11..16, SQ-19, SALES-7/8, Q-1..4).

The SlotQueue workflow holds a list of items; these functions rank, build and bound it. They
are deterministic, so the workflow can call them during replay. Request intake is bounded
(`take_request`): only the slots that fit are built, the rest is a `PendingRequest` that
`refill` draws from as room frees, so no step costs more than the queue's size.
"""

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sales.errors import SlotsOutOfRangeError
from sales.models import SlotQueueItem, StorageAsk, StorageRequest
from sales.queue_api import PendingRequest
from sales.uint import UINT16_MAX

PriorityKey = tuple[bool, int, int, int]


def priority_key(item: SlotQueueItem) -> PriorityKey:
    """SQ-11 as a sort key: smaller sorts first and has higher priority.

    Lexicographic over: unseen before seen; higher profitability; lower collateral; later
    expiry. With expiry always present (Q-2 decision) this is a strict weak order.
    """
    return (item.seen, -item.profitability, item.collateral, -item.expiry)


def has_priority(a: SlotQueueItem, b: SlotQueueItem) -> bool:
    """SQ-11 `a < b`: a is processed before b."""
    return priority_key(a) < priority_key(b)


def check_slot_count(slots: int) -> None:
    """SQ-15 / Q-3: 1..65535 slots, anything else is refused (no 16-bit truncation)."""
    if slots < 1:
        raise SlotsOutOfRangeError("A request needs at least one slot")
    if slots > UINT16_MAX:
        raise SlotsOutOfRangeError("Too many slots")


def items_for_request(
    request_id: str,
    ask: StorageAsk,
    expires_at: int,
    collateral: int,
    rng: random.Random,
    window_start: int = 0,
) -> list[SlotQueueItem]:
    """SQ-14, SALES-7: one unseen item per slot, shuffled so hosts spread over slots.

    ``rng`` is the workflow's deterministic random (``workflow.random()``).
    """
    check_slot_count(ask.slots)
    items = [
        SlotQueueItem(
            request_id=request_id,
            slot_index=index,
            slot_size=ask.slot_size,
            duration=ask.duration,
            price_per_byte_per_second=ask.price_per_byte_per_second,
            collateral=collateral,
            expiry=expires_at,
            window_start=window_start,
        )
        for index in range(ask.slots)
    ]
    rng.shuffle(items)
    return items


MAX_PENDING = 64
"""Requests whose rest the queue keeps implicit; beyond it the lowest-ranked one is dropped."""
MAX_SKIPPED = 256
"""Slot-level deletes remembered per pending request."""


@dataclass(frozen=True)
class Intake:
    """What a bounded push of one request did: the new queue, the implicit rest, and counts
    (never per-slot lists, so the answer stays small for 65,535 slots)."""

    queue: list[SlotQueueItem]
    pending: PendingRequest | None
    """The request's slots not queued now, to refill the queue later (None: nothing left)."""
    queued: int
    """Slots of the request now in the queue, in the request's random order."""
    exists: int
    """Slots of the request already queued or running (SQ-7), left alone."""
    not_queued: int
    """Slots that did not fit at the request's priority: kept implicit in ``pending``."""
    evicted: int
    """Lower-priority items the new ones pushed out of a full queue (Q-1)."""


def random_order(slots: int, rng: random.Random) -> tuple[int, int]:
    """(step, offset) of an affine permutation of range(slots), drawn from ``rng``."""
    step = 1
    if slots > 2:
        step = rng.randrange(1, slots)
        while math.gcd(step, slots) != 1:
            step = rng.randrange(1, slots)
    return step, rng.randrange(slots)


def _insertion_point(queue: Sequence[SlotQueueItem], key: PriorityKey) -> int:
    """Stable: after every item that ranks equal or higher."""
    for index, queued in enumerate(queue):
        if key < priority_key(queued):
            return index
    return len(queue)


def _draw(
    pending: PendingRequest, count: int, held: set[int]
) -> tuple[list[SlotQueueItem], PendingRequest]:
    """The next ``count`` slots of the pending request's order that are not held or skipped."""
    skipped = held | set(pending.skipped)
    position = pending.next
    picked: list[SlotQueueItem] = []
    while len(picked) < count and position < pending.slots:
        index = pending.slot_at(position)
        position += 1
        if index not in skipped:
            picked.append(pending.template.model_copy(update={"slot_index": index}))
    return picked, pending.model_copy(update={"next": position})


def take_request(
    queue: Sequence[SlotQueueItem],
    held: Iterable[tuple[str, int]],
    request_id: str,
    ask: StorageAsk,
    expires_at: int,
    collateral: int,
    rng: random.Random,
    max_size: int,
    window_start: int = 0,
) -> Intake:
    """SQ-14, SALES-7 with bounded work: a request's slots all rank equally (SQ-11 looks only at
    seen, price, collateral and expiry), so the queue can keep at most the room left below the
    items that outrank them. Only that many slots are built, the first of the request's random
    order (`random_order`, from the workflow's deterministic random); the rest stay implicit as
    a `PendingRequest`. Cost is O(queue + max_size), not O(slots); ``held`` are the keys already
    queued or running (SQ-7)."""
    check_slot_count(ask.slots)
    template = SlotQueueItem(
        request_id=request_id,
        slot_index=0,
        slot_size=ask.slot_size,
        duration=ask.duration,
        price_per_byte_per_second=ask.price_per_byte_per_second,
        collateral=collateral,
        expiry=expires_at,
        window_start=window_start,
    )
    position = _insertion_point(queue, priority_key(template))
    existing = {index for rid, index in held if rid == request_id and index < ask.slots}
    step, offset = random_order(ask.slots, rng)
    order = PendingRequest(template=template, slots=ask.slots, step=step, offset=offset)
    room = max(0, max_size - position)
    new, rest = _draw(order, min(ask.slots - len(existing), room), existing)
    ordered = [*queue[:position], *new, *queue[position:]]
    return Intake(
        queue=ordered[:max_size],
        pending=rest if rest.remaining else None,
        queued=len(new),
        exists=len(existing),
        not_queued=ask.slots - len(existing) - len(new),
        evicted=max(0, len(ordered) - max_size),
    )


def refill(
    queue: Sequence[SlotQueueItem],
    held: Iterable[tuple[str, int]],
    pending: Sequence[PendingRequest],
    max_size: int,
    now: int,
) -> tuple[list[SlotQueueItem], list[PendingRequest]]:
    """Fill the queue's free room from the pending requests, best-ranked first. Requests past
    their expiry are dropped (they can never start), exhausted ones removed. Pure and O(room +
    queue) per call, so the workflow can run it after every dispatch."""
    items = list(queue)
    keys = set(held)
    left: list[PendingRequest] = []
    for record in sorted(pending, key=lambda p: priority_key(p.template)):
        if record.template.expiry <= now:
            continue
        room = max_size - len(items)
        if room > 0:
            mine = {index for rid, index in keys if rid == record.request_id}
            new, record = _draw(record, room, mine)
            position = _insertion_point(items, priority_key(record.template))
            items = [*items[:position], *new, *items[position:]]  # all rank equal: one block
        if record.remaining:
            left.append(record)
    return items, left


def add_pending(
    pending: Sequence[PendingRequest], record: PendingRequest
) -> tuple[list[PendingRequest], PendingRequest | None]:
    """Keep ``record`` with the others, best first, at most MAX_PENDING: returns the list and
    the dropped lowest-ranked record, if any."""
    ordered = sorted([*pending, record], key=lambda p: priority_key(p.template))
    if len(ordered) > MAX_PENDING:
        return ordered[:MAX_PENDING], ordered[MAX_PENDING]
    return ordered, None


def delete_pending(
    pending: Sequence[PendingRequest], request_id: str, slot_index: int | None
) -> list[PendingRequest]:
    """SQ-17 for the implicit rest: a whole request goes, or one slot is remembered as skipped."""
    if slot_index is None:
        return [p for p in pending if p.request_id != request_id]
    kept = []
    for record in pending:
        if record.request_id == request_id and slot_index < record.slots:
            skipped = [*record.skipped, slot_index][-MAX_SKIPPED:]
            record = record.model_copy(update={"skipped": skipped})
        kept.append(record)
    return kept


def item_for_freed_slot(
    request: StorageRequest,
    slot_index: int,
    repair_collateral: int,
    expires_at: int,
    freed_at: int,
) -> SlotQueueItem:
    """SALES-8: a freed slot, ranked with the discounted collateral and an absolute expiry (Q-2)."""
    if slot_index > UINT16_MAX:
        raise SlotsOutOfRangeError("Slot index out of range")
    return SlotQueueItem(
        request_id=request.id,
        slot_index=slot_index,
        slot_size=request.ask.slot_size,
        duration=request.ask.duration,
        price_per_byte_per_second=request.ask.price_per_byte_per_second,
        collateral=repair_collateral,
        expiry=expires_at,
        window_start=freed_at,
        repair=True,
    )


def insert_bounded(
    queue: Sequence[SlotQueueItem], item: SlotQueueItem, max_size: int
) -> tuple[list[SlotQueueItem], SlotQueueItem | None]:
    """Insert by priority (stable among equals) and evict the lowest priority beyond max_size.

    Returns the new queue and the evicted item, which may be the pushed one (Q-1 decision: the
    lowest-priority item goes, unlike the reference's arbitrary leaf).
    """
    key = priority_key(item)
    position = len(queue)
    for index, queued in enumerate(queue):
        if key < priority_key(queued):
            position = index
            break
    ordered = [*queue[:position], item, *queue[position:]]
    if len(ordered) > max_size:
        return ordered[:max_size], ordered[max_size]
    return ordered, None


def clear_seen(queue: Iterable[SlotQueueItem]) -> list[SlotQueueItem]:
    """SQ-19 with a full re-sort (Q-4 decision)."""
    items = [item.model_copy(update={"seen": False}) for item in queue]
    return sorted(items, key=priority_key)
