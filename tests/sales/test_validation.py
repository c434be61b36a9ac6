"""The validation gate for on-chain requests (issue 13 point 2) and bounded intake (point 1).

Each bound is pinned by an example that violates it and only it; property tests then walk the
whole request space (every field over its full ABI range, edges weighted) from an encoded
StorageRequested log through the decoder, the gate and the queue's intake, and show that the
only errors anywhere on that path are the typed ones (LogDecodeError, RequestRefusedError).
"""

import random
from typing import Any

import pytest
from eth_abi.abi import encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.router import push_for
from chain.events import TOPICS, LogDecodeError, StorageRequested, decode_log
from sales.errors import InvalidRequestError, SlotsOutOfRangeError
from sales.models import SlotQueueItem, StorageAsk
from sales.queue import take_request
from sales.queue_api import PushRequest, PushResult
from sales.uint import INT64_MAX, UINT64_MAX, UINT256_MAX
from sales.validation import (
    RULES,
    RequestBounds,
    RequestRefusedError,
    Terms,
    check_ask,
    check_new_request,
    refusal,
)
from tests.sales.conftest import example_request

MARKET = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
NOW = 1_700_000_000
GOOD = example_request().ask
"""4 slots of 1 GiB for 36,000 s, expiry 3,600 s: inside every bound."""

VIOLATIONS: list[tuple[dict[str, int], int, str]] = [
    ({"slots": 0, "max_slot_loss": 0}, 3600, "slots"),
    ({"slot_size": 0}, 3600, "zero_slot_size"),
    ({"duration": 0}, 3600, "zero_duration"),
    ({"duration": 11 * 365 * 24 * 3600}, 3600, "duration_too_long"),
    ({"proof_probability": 0}, 3600, "zero_proof_probability"),
    ({"price_per_byte_per_second": 0}, 3600, "zero_price"),
    ({"collateral_per_byte": 0}, 3600, "zero_collateral"),
    ({"max_slot_loss": 5}, 3600, "max_slot_loss_over_slots"),
    ({"price_per_byte_per_second": UINT256_MAX // 2**30}, 3600, "price_overflow"),
    ({"collateral_per_byte": UINT256_MAX}, 3600, "collateral_overflow"),
    ({}, 0, "expiry_not_after_creation"),
    ({}, 36000, "expiry_past_end"),
]
"""(ask overrides, expiry after creation, the bound it breaks) — one per rule but the quota's and
the int64 end's, which need bounds or a creation time of their own (tested below)."""


def test_the_example_request_passes_every_bound() -> None:
    check_new_request(GOOD, NOW + 3600, NOW)


@pytest.mark.parametrize(("overrides", "expiry", "name"), VIOLATIONS, ids=lambda v: str(v))
def test_each_bound_refuses_its_violation(
    overrides: dict[str, int], expiry: int, name: str
) -> None:
    """Issue 13 point 2: every term is checked against an explicit bound, and the refusal
    names the bound (the log reason and the metric label)."""
    ask = GOOD.model_copy(update=overrides)
    with pytest.raises(RequestRefusedError) as refused:
        check_new_request(ask, NOW + expiry, NOW)
    assert refused.value.rule.name == name
    assert isinstance(refused.value, InvalidRequestError)


def test_a_slot_beyond_the_host_quota_is_refused() -> None:
    """The host's store quota is a bound: a slot larger than the store can never be reserved."""
    with pytest.raises(RequestRefusedError) as refused:
        check_ask(GOOD, RequestBounds(max_slot_size=GOOD.slot_size - 1))
    assert refused.value.rule.name == "slot_size_over_quota"
    check_ask(GOOD, RequestBounds(max_slot_size=GOOD.slot_size))


def test_an_end_past_int64_seconds_is_refused() -> None:
    created = INT64_MAX - 10
    with pytest.raises(RequestRefusedError) as refused:
        check_new_request(GOOD, created + 3600, created)
    assert refused.value.rule.name == "end_past_timestamps"


def test_freed_slots_skip_the_expiry_bounds() -> None:
    """A freed slot's request has started: its expiry is past by design (repairs are sold)."""
    assert refusal(Terms(ask=GOOD)) is None


def test_every_bound_is_documented_and_pinned() -> None:
    """Bounds are data with reasons: each rule has a unique name, a reason, and an example."""
    names = [rule.name for rule in RULES]
    assert len(set(names)) == len(names) and all(rule.reason for rule in RULES)
    pinned = {name for _, _, name in VIOLATIONS} | {"slot_size_over_quota", "end_past_timestamps"}
    assert pinned == set(names)


# --- the whole request space ------------------------------------------------------------------


def edgy(maximum: int) -> st.SearchStrategy[int]:
    """Any value in 0..maximum, with zero, one, the maximum and powers of two weighted in."""
    powers = [2**k for k in range(maximum.bit_length()) if 2**k <= maximum]
    return st.one_of(
        st.sampled_from([0, 1, maximum, maximum - 1, *powers]),
        st.integers(0, 70_000),
        st.integers(0, maximum),
    )


asks = st.builds(
    StorageAsk,
    proof_probability=edgy(UINT256_MAX),
    price_per_byte_per_second=edgy(UINT256_MAX),
    collateral_per_byte=edgy(UINT256_MAX),
    slots=edgy(UINT64_MAX),
    slot_size=edgy(UINT64_MAX),
    duration=edgy(UINT64_MAX),
    max_slot_loss=edgy(UINT64_MAX),
)


def storage_requested_log(ask: StorageAsk, expires_at: int, block: int) -> dict[str, Any]:
    ask_tuple = tuple(getattr(ask, name) for name in StorageAsk.model_fields)
    data = encode(
        ["bytes32", "(uint256,uint256,uint256,uint64,uint64,uint64,uint64)", "uint64"],
        [b"\xab" * 32, ask_tuple, expires_at],
    )
    return {
        "address": MARKET,
        "topics": [TOPICS["StorageRequested"]],
        "data": "0x" + data.hex(),
        "blockNumber": block,
        "transactionHash": "0x" + "cd" * 32,
        "logIndex": 0,
    }


def queue_of(seed: int, size: int) -> list[SlotQueueItem]:
    rng = random.Random(seed)
    return sorted(
        (
            SlotQueueItem(
                request_id="0x" + f"{i:064x}",
                slot_index=i,
                slot_size=rng.choice([1, 2**30]),
                duration=rng.choice([1, 36000]),
                price_per_byte_per_second=rng.choice([0, 1, 5]),
                collateral=rng.choice([0, 1, 10**18]),
                expiry=rng.choice([0, 4 * 10**9]),
                seen=rng.random() < 0.3,
            )
            for i in range(size)
        ),
        key=lambda item: (item.seen, -item.profitability, item.collateral, -item.expiry),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ask=asks,
    expires_at=edgy(UINT64_MAX),
    created_at=edgy(INT64_MAX),
    max_size=st.integers(1, 64),
    queued=st.integers(0, 64),
    seed=st.integers(0, 2**32),
    quota=st.one_of(st.just(UINT64_MAX), st.integers(1, UINT64_MAX)),
)
def test_no_request_raises_an_untyped_error_from_decoding_to_the_queue(
    ask: StorageAsk,
    expires_at: int,
    created_at: int,
    max_size: int,
    queued: int,
    seed: int,
    quota: int,
) -> None:
    """Issue 13 point 2: for any request the chain could carry, the path log → decode → gate →
    PushRequest → the queue's intake ends in an event refused with a typed error or in a
    bounded intake whose counts add up; nothing else is raised anywhere on the way."""
    log = storage_requested_log(ask, expires_at, 7)
    try:
        event = decode_log(log, marketplace=MARKET, block_timestamp=created_at)
    except LogDecodeError:
        assert expires_at > INT64_MAX, "only an expiry past int64 seconds fails to decode"
        return
    assert isinstance(event, StorageRequested)
    try:
        push = push_for(event, RequestBounds(max_slot_size=quota))
    except RequestRefusedError:
        return
    assert push.ask.slot_size <= quota
    PushRequest.model_validate_json(push.model_dump_json())  # what the update carries
    queue = queue_of(seed, min(queued, max_size))
    intake = take_request(
        queue,
        [item.key for item in queue],
        push.request_id,
        push.ask,
        push.expires_at,
        push.collateral,
        random.Random(seed),
        max_size,
        push.window_start,
    )
    assert intake.queued + intake.exists + intake.not_queued == push.ask.slots
    assert len(intake.queue) <= max_size
    assert len({item.key for item in intake.queue}) == len(intake.queue)
    result = PushResult(request_id=push.request_id, items=[], queued=intake.queued)
    assert len(result.model_dump_json()) < 64 * 1024


@settings(max_examples=200, deadline=None)
@given(ask=asks)
def test_the_queue_validator_refuses_only_with_typed_errors(ask: StorageAsk) -> None:
    """The queue's update validator runs the slot count and the ask bounds: typed errors only."""
    try:
        check_ask(ask)
    except (RequestRefusedError, SlotsOutOfRangeError):
        return
    assert 1 <= ask.slots <= 65535 and ask.slot_size >= 1


@settings(max_examples=100, deadline=None)
@given(
    slots=st.integers(1, 65535),
    held=st.sets(st.integers(0, 65535), max_size=40),
    max_size=st.integers(1, 128),
    seed=st.integers(0, 2**32),
)
def test_intake_takes_distinct_unheld_slots_up_to_the_room(
    slots: int, held: set[int], max_size: int, seed: int
) -> None:
    """Issue 13 point 1: the picked slots are distinct, never already held, in range, and as
    many as fit (equal priority: a fresh queue takes min(unheld slots, max size))."""
    request = example_request(slots=slots, max_slot_loss=0)
    keys = [(request.id, index) for index in held]
    intake = take_request(
        [], keys, request.id, request.ask, 10**9, 1, random.Random(seed), max_size
    )
    picked = [item.slot_index for item in intake.queue]
    unheld = slots - len({i for i in held if i < slots})
    assert len(picked) == len(set(picked)) == min(unheld, max_size)
    assert not set(picked) & held and all(0 <= i < slots for i in picked)


def test_intake_respects_items_that_outrank_the_request() -> None:
    """Q-1 with bounded intake: items ranked above the request keep their places, lower ones
    are evicted to make room, and the request's slots stop at what fits."""
    request = example_request(slots=100, max_slot_loss=0)
    rich = [
        SlotQueueItem(
            request_id="0x" + "01" * 32,
            slot_index=i,
            slot_size=2**40,
            duration=10**6,
            price_per_byte_per_second=10,
            collateral=0,
            expiry=4 * 10**9,
        )
        for i in range(3)
    ]
    poor = [item.model_copy(update={"price_per_byte_per_second": 0}) for item in rich]
    poor = [item.model_copy(update={"request_id": "0x" + "02" * 32}) for item in poor]
    queue = [*rich, *poor]
    intake = take_request(
        queue, [], request.id, request.ask, 4 * 10**9, 1, random.Random(0), max_size=5
    )
    assert intake.queue[:3] == rich and (intake.queued, intake.evicted) == (2, 3)
    assert intake.not_queued == 98
