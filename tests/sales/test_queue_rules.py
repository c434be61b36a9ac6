"""SQ-11..16, SQ-19 and the Q-1..4 decisions, as pure functions."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sales.errors import SlotsOutOfRangeError
from sales.models import SlotQueueItem, repair_collateral
from sales.queue import (
    clear_seen,
    has_priority,
    insert_bounded,
    item_for_freed_slot,
    items_for_request,
    priority_key,
)
from tests.sales.conftest import example_request

RID = "0x" + "aa" * 32


def item(index: int = 0, **fields: object) -> SlotQueueItem:
    values: dict[str, object] = {
        "request_id": RID,
        "slot_index": index,
        "slot_size": 1,
        "duration": 1,
        "price_per_byte_per_second": 1,
        "collateral": 1,
        "expiry": 1,
    } | fields
    return SlotQueueItem.model_validate(values)


def test_sq_12_seen_outweighs_profitability() -> None:
    a = item(0, price_per_byte_per_second=2, seen=True)
    b = item(1, price_per_byte_per_second=1)
    assert has_priority(b, a) and not has_priority(a, b)


def test_sq_12_profitability_outweighs_collateral() -> None:
    a = item(0, price_per_byte_per_second=1, collateral=1)
    b = item(1, price_per_byte_per_second=2, collateral=2)
    assert has_priority(b, a)


def test_sq_12_collateral_outweighs_expiry() -> None:
    a = item(0, collateral=2, expiry=2)
    b = item(1, collateral=1, expiry=1)
    assert has_priority(b, a)


def test_sq_12_larger_slot_size_is_more_profitable() -> None:
    assert has_priority(item(0, slot_size=2), item(1, slot_size=1))


def test_sq_12_later_expiry_wins_all_else_equal() -> None:
    assert has_priority(item(0, expiry=7), item(1, expiry=3))


def test_sq_12_higher_collateral_has_lower_priority() -> None:
    assert has_priority(item(0, collateral=1), item(1, collateral=5))


def test_sq_12_profitability_decides_before_collateral_and_expiry() -> None:
    a = item(0, duration=1, price_per_byte_per_second=1, collateral=100000, expiry=1001)
    b = item(1, duration=100, price_per_byte_per_second=1000, collateral=1, expiry=1000)
    assert has_priority(b, a)


def test_sq_11_full_tie_is_neither_less_nor_greater() -> None:
    a, b = item(0), item(1)
    assert not has_priority(a, b) and not has_priority(b, a)


def test_sq_13_greater_is_the_mirror_of_less() -> None:
    a, b = item(0, expiry=9), item(1, expiry=2)
    assert has_priority(a, b) == (priority_key(b) > priority_key(a))


items_strategy = st.builds(
    item,
    index=st.integers(0, 65535),
    seen=st.booleans(),
    slot_size=st.integers(1, 2**20),
    duration=st.integers(1, 2**20),
    price_per_byte_per_second=st.integers(0, 2**40),
    collateral=st.integers(0, 2**40),
    expiry=st.integers(0, 2**40),
)


@given(items_strategy, items_strategy, items_strategy)
def test_sq_11_priority_is_a_strict_weak_order(a, b, c) -> None:  # type: ignore[no-untyped-def]
    assert not has_priority(a, a)  # irreflexive
    if has_priority(a, b):
        assert not has_priority(b, a)  # asymmetric
    if has_priority(a, b) and has_priority(b, c):
        assert has_priority(a, c)  # transitive

    def incomparable(x: SlotQueueItem, y: SlotQueueItem) -> bool:
        return not has_priority(x, y) and not has_priority(y, x)

    if incomparable(a, b) and incomparable(b, c):
        assert incomparable(a, c)  # incomparability is transitive


def test_sq_14_one_unseen_item_per_slot_shuffled_deterministically() -> None:
    request = example_request(slots=20)
    first = items_for_request(request.id, request.ask, 5000, 9, random.Random(1))
    again = items_for_request(request.id, request.ask, 5000, 9, random.Random(1))
    assert [i.slot_index for i in first] == [i.slot_index for i in again]
    assert sorted(i.slot_index for i in first) == list(range(20))
    assert [i.slot_index for i in first] != list(range(20))
    assert all(not i.seen and i.collateral == 9 and i.expiry == 5000 for i in first)


def test_sq_15_65535_slots_are_accepted_and_65536_refused() -> None:
    request = example_request(slots=65535)
    assert len(items_for_request(request.id, request.ask, 1, 1, random.Random(0))) == 65535
    with pytest.raises(SlotsOutOfRangeError, match="Too many slots"):
        items_for_request(request.id, example_request(slots=65536).ask, 1, 1, random.Random(0))


@pytest.mark.parametrize("slots", [0, 65537, 2**64 - 1])
def test_q_3_slot_counts_outside_1_to_65535_are_refused(slots: int) -> None:
    ask = example_request(slots=slots).ask
    with pytest.raises(SlotsOutOfRangeError):
        items_for_request("0x" + "00" * 32, ask, 1, 1, random.Random(0))


def test_sales_8_freed_slot_item_has_repair_collateral_and_absolute_expiry() -> None:
    """Q-2 decision: freed slots carry the absolute expiry too, unlike the reference."""
    request = example_request()
    freed = item_for_freed_slot(request, 2, repair_collateral(2**30, 10), 9000, 1234)
    assert freed.collateral == 966_367_642
    assert freed.expiry == 9000 and freed.window_start == 1234 and freed.repair


def test_sales_8_slot_index_beyond_uint16_is_refused() -> None:
    with pytest.raises(SlotsOutOfRangeError):
        item_for_freed_slot(example_request(), 65536, 1, 1, 1)


def test_q_1_a_full_queue_evicts_the_lowest_priority_item() -> None:
    queue: list[SlotQueueItem] = []
    for index, price in enumerate([5, 1, 3]):
        queue, evicted = insert_bounded(queue, item(index, price_per_byte_per_second=price), 3)
        assert evicted is None
    queue, evicted = insert_bounded(queue, item(9, price_per_byte_per_second=4), 3)
    assert evicted is not None and evicted.slot_index == 1
    assert [i.price_per_byte_per_second for i in queue] == [5, 4, 3]


def test_q_1_a_push_below_everything_in_a_full_queue_is_itself_evicted() -> None:
    queue = [item(0, price_per_byte_per_second=5)]
    queue, evicted = insert_bounded(queue, item(1, price_per_byte_per_second=1), 1)
    assert evicted is not None and evicted.slot_index == 1 and len(queue) == 1


def test_insert_keeps_push_order_among_equal_priorities() -> None:
    queue: list[SlotQueueItem] = []
    for index in range(4):
        queue, _ = insert_bounded(queue, item(index), 10)
    assert [i.slot_index for i in queue] == [0, 1, 2, 3]


def test_sq_19_q_4_clearing_seen_flags_fully_reorders() -> None:
    queue = [item(0, price_per_byte_per_second=1), item(1, price_per_byte_per_second=9, seen=True)]
    cleared = clear_seen(queue)
    assert [i.slot_index for i in cleared] == [1, 0]
    assert not any(i.seen for i in cleared)
