"""Slot-queue rules as pure functions (SQ-11..16, SQ-19, SALES-7/8, Q-1..4).

The SlotQueue workflow holds a list of items; these functions rank, build and bound it. They
are deterministic, so the workflow can call them during replay.
"""

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sales.errors import SlotsOutOfRangeError
from sales.models import SlotQueueItem, StorageAsk, StorageRequest
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


@dataclass(frozen=True)
class Intake:
    """What a bounded push of one request did: the new queue and counts (never per-slot lists,
    so the answer stays small for 65,535 slots)."""

    queue: list[SlotQueueItem]
    queued: int
    """Slots of the request now in the queue, picked at random."""
    exists: int
    """Slots of the request already queued or running (SQ-7), left alone."""
    not_queued: int
    """Slots that did not fit at the request's priority: kept implicit, never materialised."""
    evicted: int
    """Lower-priority items the new ones pushed out of a full queue (Q-1)."""


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
    items that outrank them. Only that many slots are picked (``rng.sample``, the workflow's
    deterministic random) and built; the rest stay implicit, which is what pushing them one by
    one did too (each would have been evicted at once). Cost is O(queue + max_size), not
    O(slots); ``held`` are the keys already queued or running (SQ-7)."""
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
    key = priority_key(template)
    position = len(queue)
    for index, queued in enumerate(queue):
        if key < priority_key(queued):  # stable: after every item that ranks equal
            position = index
            break
    existing = {index for rid, index in held if rid == request_id and index < ask.slots}
    room = max(0, max_size - position)
    take = min(ask.slots - len(existing), room)
    drawn = rng.sample(range(ask.slots), min(ask.slots, take + len(existing))) if take else []
    picked = [index for index in drawn if index not in existing][:take]
    new = [template.model_copy(update={"slot_index": index}) for index in picked]
    ordered = [*queue[:position], *new, *queue[position:]]
    return Intake(
        queue=ordered[:max_size],
        queued=len(new),
        exists=len(existing),
        not_queued=ask.slots - len(existing) - len(new),
        evicted=max(0, len(ordered) - max_size),
    )


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
