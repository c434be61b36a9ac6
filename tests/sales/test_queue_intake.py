"""Bounded request intake as pure functions (issue 13 point 1): the random slot order, the
implicit rest of a request, and how it refills the queue."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sales.queue import (
    MAX_PENDING,
    add_pending,
    delete_pending,
    random_order,
    refill,
    take_request,
)
from sales.queue_api import PendingRequest
from tests.sales.conftest import example_request

FAR = 4 * 10**9


@settings(max_examples=200, deadline=None)
@given(slots=st.integers(1, 3000), seed=st.integers(0, 2**32))
def test_the_random_order_offers_every_slot_exactly_once(slots: int, seed: int) -> None:
    """SQ-14 with O(1) state: the affine order is a permutation of the request's slots."""
    step, offset = random_order(slots, random.Random(seed))
    template = take_request([], [], "0x" + "aa" * 32, example_request(slots=1).ask, FAR, 1,
                            random.Random(0), 1).queue[0]  # fmt: skip
    order = PendingRequest(template=template, slots=slots, step=step, offset=offset)
    assert sorted(order.slot_at(i) for i in range(slots)) == list(range(slots))


def test_orders_differ_between_hosts() -> None:
    """Hosts draw their own order, so they spread over a request's slots (SQ-14)."""
    orders = {random_order(65535, random.Random(seed)) for seed in range(20)}
    assert len(orders) == 20


def run_to_the_end(slots: int, max_size: int, seed: int) -> list[int]:
    """Push a request, then repeatedly dispatch the queue's head and refill: the slot indices
    in the order they were offered."""
    request = example_request(slots=slots, max_slot_loss=0)
    intake = take_request(
        [], [], request.id, request.ask, FAR, 1, random.Random(seed), max_size=max_size
    )
    queue, pending = intake.queue, [intake.pending] if intake.pending else []
    offered = []
    while queue:
        offered.append(queue.pop(0).slot_index)
        queue, pending = refill(queue, [], pending, max_size, now=0)
    assert not pending
    return offered


@settings(max_examples=100, deadline=None)
@given(slots=st.integers(1, 500), max_size=st.integers(1, 64), seed=st.integers(0, 2**32))
def test_take_then_refill_offers_each_slot_once(slots: int, max_size: int, seed: int) -> None:
    """Issue 13 point 1: what does not fit stays implicit and comes later, never twice."""
    offered = run_to_the_end(slots, max_size, seed)
    assert sorted(offered) == list(range(slots))


def pending_of(slots: int, expiry: int = FAR, nonce: int = 7) -> PendingRequest:
    request = example_request(nonce=nonce, slots=slots, max_slot_loss=0)
    intake = take_request([], [], request.id, request.ask, expiry, 1, random.Random(1), 1)
    assert intake.pending is not None
    return intake.pending


def test_held_and_deleted_slots_are_skipped_and_a_deleted_request_goes() -> None:
    """SQ-7/SQ-17 for the implicit rest: a slot already held, or deleted by SlotFilled, is not
    offered again; a request-level delete (fulfilled, cancelled, failed) drops the rest."""
    record = pending_of(10)
    request_id = record.request_id
    skipped = record.slot_at(record.next)
    held = record.slot_at(record.next + 1)
    (record,) = delete_pending([record], request_id, skipped)
    queue, left = refill([], [(request_id, held)], [record], 100, now=0)
    offered = {item.slot_index for item in queue}
    assert skipped not in offered and held not in offered and not left
    assert len(offered) == record.remaining - 2
    assert delete_pending([record], request_id, None) == []


def test_an_expired_request_is_dropped_from_pending() -> None:
    """A request past its expiry can never start: its rest refills nothing."""
    queue, left = refill([], [], [pending_of(10, expiry=100)], 100, now=100)
    assert queue == [] and left == []


def test_pending_requests_are_bounded_and_keep_the_best() -> None:
    """At most MAX_PENDING records; the lowest-ranked one is dropped, not the newcomer always."""
    pending: list[PendingRequest] = []
    for nonce in range(MAX_PENDING):
        pending, dropped = add_pending(pending, pending_of(5, nonce=nonce))
        assert dropped is None
    better = pending_of(5, nonce=999).model_copy(
        update={"template": pending[0].template.model_copy(update={"collateral": 0})}
    )
    pending, dropped = add_pending(pending, better)
    assert len(pending) == MAX_PENDING and pending[0] == better and dropped is not None
