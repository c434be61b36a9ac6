"""The log decoder against crafted logs (MKT-11): good logs decode, bad ones say why."""

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest
from eth_abi.abi import encode
from hexbytes import HexBytes

from chain.events import (
    TOPICS,
    LogDecodeError,
    SlotFilled,
    StorageRequested,
    decode_log,
    to_chain_event,
)
from chain.follower import BlockHeader, ChainFollower, Cursor, MemoryFollowerStore
from sales.hexbytes import to_hex
from sales.models import StorageAsk

MARKET = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
OTHER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
REQUEST_ID = "0x" + "ab" * 32
TX = "0x" + "cd" * 32
ASK = StorageAsk(
    proof_probability=4,
    price_per_byte_per_second=1,
    collateral_per_byte=1,
    slots=4,
    slot_size=2**30,
    duration=36_000,
    max_slot_loss=2,
)


def test_topics_match_the_abi_document() -> None:
    """MARKETPLACE_ABI.md §4 lists the topic0 of each event."""
    assert TOPICS == {
        "StorageRequested": "0x1bf9c457accf8703dbf7cdf1b58c2f74ddf2e525f98155c70b3d318d74609bd8",
        "RequestFulfilled": "0x85e1543bf2f84fe80c6badbce3648c8539ad1df4d2b3d822938ca0538be727e6",
        "RequestFailed": "0x4769361a442504ecaf038f35e119bcccdd5e42096b24c09e3c17fd17c6684c02",
        "SlotFilled": "0x8f301470a994578b52323d625dfbf827ca5208c81747d3459be7b8867baec3ec",
        "SlotFreed": "0x33ba8f7627565d89f7ada2a6b81ea532b7aa9b11e91a78312d6e1fca0bfcd1dc",
        "RequestCancelled": "0xf903f4774c7bd27355f9d7fcbc382b079b164a697a44ac5d95267a4c3cb3bb22",
        "ProofSubmitted": "0x3b989d183b84b02259d7c14b34a9c9eb0fccb4c355a920d25e581e25aef4993d",
        "SlotReservationsFull": (
            "0xc8e6c955744189a19222ec226b72ac1435d88d5745252dac56e6f679f64c037a"
        ),
    }


def rpc_log(
    name: str, topics: list[str], data: bytes, *, block: int = 7, index: int = 0, **extra: Any
) -> dict[str, Any]:
    """A log as JSON-RPC returns it: hex strings everywhere."""
    return {
        "address": MARKET.lower(),
        "topics": [TOPICS[name], *topics],
        "data": to_hex(data),
        "blockNumber": hex(block),
        "transactionHash": TX,
        "logIndex": hex(index),
        "removed": False,
        **extra,
    }


def storage_requested_data(ask: StorageAsk = ASK, expires_at: int = 1234) -> bytes:
    words = tuple(ask.model_dump().values())
    return encode(
        ["bytes32", "(uint256,uint256,uint256,uint64,uint64,uint64,uint64)", "uint64"],
        [bytes.fromhex(REQUEST_ID[2:]), words, expires_at],
    )


def decode(log: Mapping[str, Any]) -> Any:
    return decode_log(log, marketplace=MARKET, block_timestamp=99)


def test_storage_requested_decodes_ask_and_absolute_expiry() -> None:
    event = decode(rpc_log("StorageRequested", [], storage_requested_data(), index=3))
    assert isinstance(event, StorageRequested)
    assert (event.request_id, event.ask, event.expires_at) == (REQUEST_ID, ASK, 1234)
    assert (event.block_number, event.block_timestamp, event.log_index) == (7, 99, 3)
    assert event.key == f"{TX}:3"


def test_web3_formatted_logs_decode_too() -> None:
    """web3's get_logs gives HexBytes and ints instead of hex strings."""
    log = {
        "address": MARKET,
        "topics": [HexBytes(TOPICS["SlotFilled"]), HexBytes(REQUEST_ID)],
        "data": HexBytes(encode(["uint64"], [2])),
        "blockNumber": 11,
        "transactionHash": HexBytes(TX),
        "logIndex": 0,
    }
    event = decode(log)
    assert isinstance(event, SlotFilled)
    assert (event.request_id, event.slot_index, event.block_number) == (REQUEST_ID, 2, 11)


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("RequestFulfilled", {"request_id": REQUEST_ID}),
        ("RequestFailed", {"request_id": REQUEST_ID}),
        ("RequestCancelled", {"request_id": REQUEST_ID}),
        ("SlotFilled", {"request_id": REQUEST_ID, "slot_index": 5}),
        ("SlotFreed", {"request_id": REQUEST_ID, "slot_index": 5}),
        ("SlotReservationsFull", {"request_id": REQUEST_ID, "slot_index": 5}),
    ],
)
def test_indexed_events_decode(name: str, fields: dict[str, Any]) -> None:
    data = encode(["uint64"], [5]) if "slot_index" in fields else b""
    event = decode(rpc_log(name, [REQUEST_ID], data))
    assert event.kind == name
    assert {k: getattr(event, k) for k in fields} == fields


def test_proof_submitted_decodes_the_slot_id() -> None:
    event = decode(rpc_log("ProofSubmitted", [], bytes.fromhex("ef" * 32)))
    assert event.kind == "ProofSubmitted" and event.slot_id == "0x" + "ef" * 32


BAD_LOGS = [
    ("another contract", rpc_log("SlotFilled", [REQUEST_ID], encode(["uint64"], [1]),
                                 address=OTHER)),
    ("unknown event topic", {**rpc_log("SlotFilled", [REQUEST_ID], b""),
                             "topics": ["0x" + "12" * 32, REQUEST_ID]}),
    ("without topics", {**rpc_log("SlotFilled", [], b""), "topics": []}),
    ("needs 2 topics", rpc_log("SlotFilled", [], encode(["uint64"], [1]))),
    ("needs 2 topics", rpc_log("RequestFailed", [REQUEST_ID, REQUEST_ID], b"")),
    ("not 32 bytes", rpc_log("RequestFailed", ["0x1234"], b"")),
    ("data is 16 bytes", rpc_log("SlotFilled", [REQUEST_ID], b"\x00" * 16)),
    ("data is 64 bytes", rpc_log("SlotFilled", [REQUEST_ID], b"\x00" * 64)),
    ("data is 100 bytes", rpc_log("StorageRequested", [], storage_requested_data()[:100])),
    ("does not decode", rpc_log("SlotFilled", [REQUEST_ID], (2**64).to_bytes(32, "big"))),
    ("does not decode", rpc_log("StorageRequested", [],
                                storage_requested_data()[:32 * 4] + b"\xff" * 32
                                + storage_requested_data()[32 * 5:])),
    ("removed by a reorg", rpc_log("RequestFailed", [REQUEST_ID], b"", removed=True)),
    ("not hex", {**rpc_log("RequestFailed", [REQUEST_ID], b""), "data": "0xzz"}),
    ("not a number", {**rpc_log("RequestFailed", [REQUEST_ID], b""), "logIndex": "0xq"}),
]  # fmt: skip


@pytest.mark.parametrize(("reason", "log"), BAD_LOGS)
def test_malformed_or_foreign_logs_are_rejected_with_a_reason(
    reason: str, log: dict[str, Any]
) -> None:
    with pytest.raises(LogDecodeError, match=reason):
        decode(log)


def test_out_of_range_ask_fields_are_rejected() -> None:
    """StorageAsk.slots is uint64 in the ABI; a word that only fits uint256 must not pass."""
    data = bytearray(storage_requested_data())
    data[32 * 4 : 32 * 5] = (2**64 + 1).to_bytes(32, "big")  # ask.slots
    with pytest.raises(LogDecodeError):
        decode(rpc_log("StorageRequested", [], bytes(data)))


class CraftedSource:
    """A LogSource serving fixed logs (good and bad) over blocks 0..head."""

    address = MARKET

    def __init__(self, logs: list[dict[str, Any]], head: int) -> None:
        self._logs = logs
        self._head = head

    async def head(self) -> int:
        return self._head

    async def logs(self, from_block: int, to_block: int) -> list[Mapping[str, Any]]:
        def block(log: Mapping[str, Any]) -> int:
            try:
                return int(log["blockNumber"], 16)
            except (ValueError, TypeError):
                return from_block  # a log with a broken position shows up in every range

        return [log for log in self._logs if from_block <= block(log) <= to_block]

    async def block(self, block_number: int) -> BlockHeader | None:
        if block_number > self._head:
            return None
        return BlockHeader(block_number, f"0x{block_number:064x}", 1000 + block_number)


def MemoryCursor() -> MemoryFollowerStore:
    return MemoryFollowerStore()


async def test_follower_skips_bad_logs_and_delivers_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """MKT-11: decoding errors are logged and skipped; the follower keeps going."""
    good = [
        rpc_log("SlotFilled", [REQUEST_ID], encode(["uint64"], [1]), block=2, index=1),
        rpc_log("RequestFulfilled", [REQUEST_ID], b"", block=4, index=0),
        rpc_log("SlotFilled", [REQUEST_ID], encode(["uint64"], [0]), block=2, index=0),
    ]
    bad = [dict(log) for _, log in BAD_LOGS]
    for position, log in enumerate(bad):  # spread them over blocks without good logs
        if log.get("blockNumber") == hex(7):
            log["blockNumber"] = hex((0, 1, 3, 5)[position % 4])
        if log.get("logIndex") == hex(0):
            log["logIndex"] = hex(10 + position)
    delivered: list[Any] = []

    async def sink(event: Any) -> None:
        delivered.append(event)

    follower = ChainFollower(
        CraftedSource(good + bad, head=5), MemoryCursor(), sink, batch_blocks=2, confirmations=1
    )
    with caplog.at_level(logging.WARNING, logger="chain.follower"):
        while not await follower.poll_once():
            pass
    assert [(e.block_number, e.log_index, e.kind) for e in delivered] == [
        (2, 0, "SlotFilled"), (2, 1, "SlotFilled"), (4, 0, "RequestFulfilled"),
    ]  # fmt: skip
    assert delivered[0].block_timestamp == 1002
    assert len(follower.skipped) >= len(bad)
    assert "skipping log" in caplog.text and "another contract" in caplog.text
    assert follower.cursor == Cursor(block_number=6, block_hash=f"0x{5:064x}")


async def test_a_failing_sink_is_retried_and_nothing_is_skipped() -> None:
    """The cursor only moves past an event once the sink has taken it."""
    logs = [
        rpc_log("SlotFilled", [REQUEST_ID], encode(["uint64"], [i]), block=1 + i, index=0)
        for i in range(4)
    ]
    taken: list[int] = []
    attempts = 0
    done = asyncio.Event()

    async def flaky(event: Any) -> None:
        nonlocal attempts
        attempts += 1
        if attempts in (2, 3):  # the second event fails twice before it is taken
            raise RuntimeError("workflow service unavailable")
        taken.append(event.slot_index)
        if len(taken) == 4:
            done.set()

    cursor = MemoryCursor()
    follower = ChainFollower(
        CraftedSource(logs, head=6),
        cursor,
        flaky,
        poll_interval=0.01,
        max_backoff=0.05,
        confirmations=1,
    )
    task = asyncio.create_task(follower.run(done))
    await asyncio.wait_for(task, timeout=10)
    assert taken == [0, 1, 2, 3]
    assert follower.failures == 2
    assert cursor.saved == Cursor(block_number=7, block_hash=f"0x{6:064x}")


def test_events_become_signal_payloads_with_their_dedupe_key() -> None:
    filled = decode(rpc_log("SlotFilled", [REQUEST_ID], encode(["uint64"], [3]), index=4))
    signal = to_chain_event(filled)
    assert signal is not None
    assert (signal.key, signal.request_id, signal.slot_index) == (f"{TX}:4", REQUEST_ID, 3)
    failed = to_chain_event(decode(rpc_log("RequestFailed", [REQUEST_ID], b"")))
    assert failed is not None and failed.slot_index is None
    assert to_chain_event(decode(rpc_log("ProofSubmitted", [], b"\x01" * 32))) is None
