"""Fuzzing the chain decoders (issue 13, point 8 for event logs and RPC results).

Hostile logs (truncated or oversized data, wrong types, hostile lengths, foreign topics, logs
outside the asked range) and hostile RPC results (wrong lengths, out-of-range enums, wrong JSON
types) must end in a typed error: `LogDecodeError` for a log (the follower skips it and
dead-letters it), `ChainUnavailableError` for an RPC result (retried). Nothing else escapes, and
the follower's state stays intact: the good events around the bad ones are delivered, in order,
and the cursor moves past the range.
"""

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from eth_abi.abi import encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import AsyncWeb3
from web3.providers.async_base import AsyncBaseProvider

from chain.events import TOPICS, AnyEvent, LogDecodeError, decode_log
from chain.follower import BlockHeader, ChainFollower, Cursor, MemoryFollowerStore
from chain.onchain import ChainUnavailableError, OnChainMarket
from sales.hexbytes import to_hex

MARKET = "0x" + "ab" * 20
TX = "0x" + "cd" * 32
REQUEST_ID = "0x" + "01" * 32
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.text(max_size=80),
    st.binary(max_size=400).map(to_hex),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
words = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.binary(max_size=100),
    st.integers(min_value=0, max_value=2**256 - 1).map(lambda n: n.to_bytes(32, "big")),
)


@st.composite
def hostile_logs(draw: st.DrawFn) -> dict[str, Any]:
    """A log that looks like one of ours in some fields and is garbage in others."""
    name = draw(st.sampled_from(sorted(TOPICS)))
    topics: Any = [TOPICS[name], *draw(st.lists(words.map(to_hex), max_size=4))]
    data: Any = b"".join(draw(st.lists(words, max_size=12)))
    log: dict[str, Any] = {
        "address": draw(st.sampled_from([MARKET, MARKET.upper(), "0x" + "00" * 20, "0x12"])),
        "topics": topics,
        "data": to_hex(data),
        "blockNumber": hex(draw(st.integers(min_value=0, max_value=9))),
        "transactionHash": TX,
        "logIndex": hex(draw(st.integers(min_value=0, max_value=2**70))),
    }
    for field in draw(st.sets(st.sampled_from([*sorted(log), "removed"]), max_size=3)):
        log[field] = draw(json_values)
    return log


@FUZZ
@given(hostile_logs())
def test_a_hostile_log_decodes_or_raises_log_decode_error(log: dict[str, Any]) -> None:
    """Point 8: every hostile log is an event or a LogDecodeError, never another exception."""
    try:
        event = decode_log(log, marketplace=MARKET, block_timestamp=1000)
    except LogDecodeError:
        return
    assert event.kind in TOPICS


@FUZZ
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_any_mapping_decodes_or_raises_log_decode_error(log: dict[str, Any]) -> None:
    with contextlib.suppress(LogDecodeError):
        decode_log(log, marketplace=MARKET, block_timestamp=0)


def good_log(block: int, index: int, slot: int) -> dict[str, Any]:
    return {
        "address": MARKET,
        "topics": [TOPICS["SlotFilled"], REQUEST_ID],
        "data": to_hex(encode(["uint64"], [slot])),
        "blockNumber": hex(block),
        "transactionHash": TX,
        "logIndex": hex(index),
        "blockHash": f"0x{block:064x}",
    }


class Source:
    """Blocks 0..9 with fixed hashes, serving whatever logs it was given for any range."""

    address = MARKET

    def __init__(self, logs: list[Mapping[str, Any]]) -> None:
        self._logs = logs

    async def head(self) -> int:
        return 9

    async def logs(self, from_block: int, to_block: int) -> list[Mapping[str, Any]]:
        return self._logs if from_block == 0 else []  # hostile: some lie outside the range

    async def block(self, block_number: int) -> BlockHeader | None:
        if not 0 <= block_number <= 9:
            return None
        return BlockHeader(block_number, f"0x{block_number:064x}", 1000 + block_number)


@FUZZ
@given(st.lists(hostile_logs() | json_scalars, max_size=6))
def test_hostile_logs_leave_the_follower_delivering_the_good_ones(bad: list[Any]) -> None:
    """Point 8: between hostile logs, the follower delivers exactly the good events, in order,
    skips (and dead-letters) the rest, and its cursor passes the range."""
    for log in bad:
        if isinstance(log, dict):
            log.pop("blockHash", None)  # a lying block hash is a reorg in progress: retried
    good = [good_log(2, 0, 0), good_log(5, 3, 1)]
    delivered: list[AnyEvent] = []

    async def sink(event: AnyEvent) -> None:
        delivered.append(event)

    async def follow() -> ChainFollower:
        store = MemoryFollowerStore()
        follower = ChainFollower(
            Source([*bad, *good]), store, sink, confirmations=1, batch_blocks=10
        )
        assert await follower.poll_once()
        return follower

    follower = asyncio.run(follow())
    positions = [e.position for e in delivered]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert {(2, 0), (5, 3)} <= set(positions)
    assert all(e.kind in TOPICS for e in delivered)
    assert follower.cursor == Cursor(block_number=10, block_hash=f"0x{9:064x}")


class HostileProvider(AsyncBaseProvider):
    """A JSON-RPC endpoint answering every request with one hostile result."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result

    async def make_request(self, method: Any, params: Any) -> Any:
        return {"jsonrpc": "2.0", "id": 1, "result": self.result}

    async def is_connected(self, show_traceback: bool = False) -> bool:
        return True


READS = [
    ("configuration", ()),
    ("token", ()),
    ("current_time", ()),
    ("get_request", (REQUEST_ID,)),
    ("request_state", (REQUEST_ID,)),
    ("slot_state", (REQUEST_ID,)),
    ("request_end", (REQUEST_ID,)),
    ("request_expires_at", (REQUEST_ID,)),
    ("get_host", (REQUEST_ID,)),
    ("current_collateral", (REQUEST_ID,)),
    ("get_active_slot", (REQUEST_ID,)),
    ("my_slots", ()),
    ("can_reserve_slot", (REQUEST_ID, 0)),
    ("slot_collateral", (REQUEST_ID, 0)),
    ("get_pointer", (REQUEST_ID,)),
    ("get_challenge", (REQUEST_ID,)),
    ("is_proof_required", (REQUEST_ID,)),
    ("missing_proofs", (REQUEST_ID,)),
    ("proving_snapshot", (REQUEST_ID, REQUEST_ID)),
]

hostile_results = st.one_of(
    json_values,
    st.binary(max_size=700).map(to_hex),  # truncated, oversized, hostile lengths
    st.lists(words, min_size=1, max_size=20).map(lambda ws: to_hex(b"".join(ws))),
    st.integers(min_value=0, max_value=255).map(lambda n: to_hex(n.to_bytes(32, "big"))),
)


@FUZZ
@given(st.sampled_from(READS), hostile_results)
def test_a_hostile_rpc_result_is_a_retryable_transport_error(
    read: tuple[str, tuple[Any, ...]], result: Any
) -> None:
    """Point 4/8: whatever the endpoint answers, a read returns a value or raises
    ChainUnavailableError (retryable), never a MarketError or an untyped exception."""
    name, args = read

    async def call() -> None:
        w3 = AsyncWeb3(HostileProvider(result))
        market = OnChainMarket(w3, MARKET, None, address="0x" + "11" * 20)
        try:
            await getattr(market, name)(*args)
        except ChainUnavailableError:
            # state intact: nothing half-read was cached for later calls
            assert market._config is None and not market._requests and market._token is None

    asyncio.run(call())
