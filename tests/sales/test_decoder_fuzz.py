"""Fuzzing the request and event decoders (issue 13 point 8, for requests and events).

Hostile logs — wrong types in every field, truncated and oversized data, wrong topic counts,
flipped bytes in well-formed logs — must each end in a typed `LogDecodeError` or a well-formed
event, and leave the log they were given as it was. Request structs as the marketplace returns
them (every field over its ABI range) go through the struct decoder, the gate and the freed-slot
item builder with typed errors only: that is the SlotFreed path from the chain to the queue.
"""

import copy
import random
from typing import Any

from eth_abi.abi import decode, encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.router import push_for
from chain.events import TOPICS, AnyEvent, LogDecodeError, StorageRequested, decode_log
from chain.onchain import request_from_abi
from sales.errors import SlotsOutOfRangeError
from sales.models import StorageAsk, repair_collateral
from sales.queue import item_for_freed_slot, take_request
from sales.queue_api import PushItems
from sales.uint import UINT64_MAX, UINT256_MAX
from sales.validation import RequestRefusedError, check_ask
from tests.sales.test_validation import asks, edgy

MARKET = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
ASK = "(uint256,uint256,uint256,uint64,uint64,uint64,uint64)"
REQUEST = f"(address,{ASK},(bytes,bytes32),uint64,bytes32)"
"""The Request struct as getRequest returns it (MARKETPLACE_ABI.md §1)."""

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**300),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=300),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
hexes = st.one_of(st.binary(max_size=400).map(lambda b: "0x" + b.hex()), st.binary(max_size=400))
topic_lists = st.lists(st.one_of(st.sampled_from(sorted(TOPICS.values())), hexes, junk), max_size=5)
hostile_logs = st.fixed_dictionaries(
    {},
    optional={
        "address": st.one_of(st.just(MARKET), hexes, junk),
        "topics": topic_lists,  # a non-list is the follower's RPC boundary (chain/events.py)
        "data": st.one_of(hexes, junk),
        "blockNumber": st.one_of(st.integers(-5, 2**70), junk),
        "transactionHash": st.one_of(hexes, junk),
        "logIndex": st.one_of(st.integers(-5, 2**70), junk),
        "removed": junk,
    },
)


def decoded(log: dict[str, Any], timestamp: int) -> AnyEvent | None:
    """decode_log, asserting it raises only LogDecodeError and leaves its input unchanged."""
    before = copy.deepcopy(log)
    try:
        return decode_log(log, marketplace=MARKET, block_timestamp=timestamp)
    except LogDecodeError:
        return None
    finally:
        assert log == before, "the decoder must not change the log it reads"


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(log=hostile_logs, timestamp=st.integers(-10, 2**70))
def test_hostile_logs_get_a_typed_error(log: dict[str, Any], timestamp: int) -> None:
    """Any field of any type, any length: LogDecodeError or a well-formed event, nothing else."""
    decoded(log, timestamp)


def well_formed(name: str, rng: random.Random) -> dict[str, Any]:
    """A valid log of event ``name`` with random values."""
    ask = tuple(rng.choice([0, 1, 2**63]) for _ in range(7))
    data = {
        "StorageRequested": encode(["bytes32", ASK, "uint64"], [b"\x01" * 32, ask, 10**9]),
        "ProofSubmitted": encode(["bytes32"], [b"\x02" * 32]),
    }.get(name, encode(["uint64"], [rng.randrange(2**64)]))
    topics = [TOPICS[name]]
    if name not in ("StorageRequested", "ProofSubmitted"):
        topics.append("0x" + "ab" * 32)
        if name in ("RequestFulfilled", "RequestFailed", "RequestCancelled"):
            data = b""
    return {
        "address": MARKET,
        "topics": topics,
        "data": "0x" + data.hex(),
        "blockNumber": rng.randrange(2**32),
        "transactionHash": "0x" + "cd" * 32,
        "logIndex": rng.randrange(1000),
    }


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(sorted(TOPICS)),
    seed=st.integers(0, 2**32),
    cut=st.integers(0, 400),
    extra=st.binary(max_size=64),
    flips=st.lists(st.integers(0, 400), max_size=4),
    drop_topic=st.booleans(),
)
def test_mutated_event_logs_get_a_typed_error_or_a_valid_event(
    name: str, seed: int, cut: int, extra: bytes, flips: list[int], drop_topic: bool
) -> None:
    """Truncated, oversized and bit-flipped logs of every event: typed errors only, and a
    StorageRequested that survives goes through the gate and the queue's intake typed too."""
    log = well_formed(name, random.Random(seed))
    data = bytearray(bytes.fromhex(log["data"][2:])[:cut] + extra)
    for flip in flips:
        if flip < len(data):
            data[flip] ^= 0xFF
    log["data"] = "0x" + data.hex()
    if drop_topic:
        log["topics"] = log["topics"][:-1]
    event = decoded(log, 1_700_000_000)
    if isinstance(event, StorageRequested):
        try:
            push = push_for(event)
        except RequestRefusedError:
            return
        take_request(
            [], [], push.request_id, push.ask, push.expires_at, push.collateral, random.Random(0), 8
        )


@settings(max_examples=300, deadline=None)
@given(
    ask=asks,
    expiry=edgy(UINT64_MAX),
    slot_index=edgy(UINT64_MAX),
    percentage=st.integers(0, 100),  # the configuration refuses more (Codex's constructor)
    cid=st.binary(max_size=80),
)
def test_request_structs_decode_to_a_gated_freed_slot_item(
    ask: StorageAsk, expiry: int, slot_index: int, percentage: int, cid: bytes
) -> None:
    """The SlotFreed path: a Request struct over its whole ABI range decodes (the model's types
    are the ABI's), and gate → repair collateral → item → PushItems raise typed errors only."""
    fields = tuple(getattr(ask, name) for name in StorageAsk.model_fields)
    raw = encode(
        [REQUEST],
        [("0x" + "70" * 20, fields, (cid, b"\x11" * 32), expiry, b"\x07" * 32)],
    )
    (value,) = decode([REQUEST], raw)
    request = request_from_abi(value)
    assert request.ask == ask
    try:
        check_ask(request.ask)
    except RequestRefusedError:
        return
    discounted = repair_collateral(request.ask.collateral_per_slot, percentage)
    assert 0 <= discounted <= UINT256_MAX
    try:
        item = item_for_freed_slot(request, slot_index, discounted, 10**9, 1_700_000_000)
    except SlotsOutOfRangeError:
        assert slot_index > 65535
        return
    PushItems(key="0xtx:1", items=[item]).model_dump_json()
