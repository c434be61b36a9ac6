"""The follower's reorganisation and dead-letter rules on a crafted chain (no servers):
issue 13 points 3 and 1 in the cases anvil cannot stage cheaply."""

from collections.abc import Mapping
from typing import Any

import pytest
from eth_abi.abi import encode

from chain.events import TOPICS, AnyEvent
from chain.follower import BlockHeader, ChainFollower, Cursor, MemoryFollowerStore
from sales.hexbytes import to_hex

MARKET = "0x" + "ab" * 20
REQUEST_ID = "0x" + "01" * 32


class Chain:
    """Blocks 0..head; ``fork`` changes the hashes from a height on (a reorganisation)."""

    address = MARKET

    def __init__(self, head: int) -> None:
        self.head_number = head
        self.salt: dict[int, str] = {}
        self.events: dict[int, list[int]] = {}  # block -> slot indices filled in it
        self.lie_about: set[int] = set()  # logs of these blocks carry a stale block hash

    def hash(self, number: int) -> str:
        return "0x" + f"{self.salt.get(number, '')}{number}".encode().hex().rjust(64, "0")

    def fork(self, from_block: int, head: int) -> None:
        for number in range(from_block, head + 1):
            self.salt[number] = self.salt.get(number, "") + "x"
        self.events = {b: s for b, s in self.events.items() if b < from_block}
        self.head_number = head

    async def head(self) -> int:
        return self.head_number

    async def block(self, number: int) -> BlockHeader | None:
        if not 0 <= number <= self.head_number:
            return None
        return BlockHeader(number, self.hash(number), 1000 + number)

    async def logs(self, from_block: int, to_block: int) -> list[Mapping[str, Any]]:
        out: list[Mapping[str, Any]] = []
        for number in range(from_block, to_block + 1):
            for index, slot in enumerate(self.events.get(number, [])):
                stale = number in self.lie_about
                out.append(
                    {
                        "address": MARKET,
                        "topics": [TOPICS["SlotFilled"], REQUEST_ID],
                        "data": to_hex(encode(["uint64"], [slot])),
                        "blockNumber": hex(number),
                        "blockHash": "0x" + "ee" * 32 if stale else self.hash(number),
                        "transactionHash": "0x" + f"{self.hash(number)[2:34]}{index:032x}",
                        "logIndex": hex(index),
                    }
                )
        return out


class Sink:
    def __init__(self, failing: type[BaseException] | None = None) -> None:
        self.events: list[AnyEvent] = []
        self.failing = failing
        self.attempts = 0

    async def __call__(self, event: AnyEvent) -> None:
        if self.failing is not None:
            self.attempts += 1
            raise self.failing("refused")
        self.events.append(event)


async def catch_up(f: ChainFollower) -> None:
    for _ in range(100):
        if await f.poll_once():
            return
    raise AssertionError("no catch-up")


def make(chain: Chain, sink: Sink, store: MemoryFollowerStore, **kw: Any) -> ChainFollower:
    options: dict[str, Any] = {"confirmations": 1, "batch_blocks": 4, **kw}
    return ChainFollower(chain, store, sink, **options)


async def test_a_reorganisation_deeper_than_the_cursor_range_finds_the_fork_point() -> None:
    """Point 3: the cursor's block and several below it changed; the rewind goes to the newest
    remembered block whose hash the chain still has, and only from there is re-delivered."""
    chain = Chain(head=20)
    chain.events = {3: [0], 9: [1], 15: [2]}
    sink, store = Sink(), MemoryFollowerStore()
    f = make(chain, sink, store)
    await catch_up(f)
    assert [e.slot_index for e in sink.events] == [0, 1, 2]  # type: ignore[union-attr]
    chain.fork(from_block=10, head=22)
    chain.events[12] = [3]
    await catch_up(f)
    assert f.reorgs == 1
    assert [e.slot_index for e in sink.events] == [0, 1, 2, 3]  # type: ignore[union-attr]
    assert store.saved == Cursor(block_number=23, block_hash=chain.hash(22))
    assert all(chain.hash(n) == h for n, h in store.blocks.items())


async def test_a_chain_shorter_than_the_cursor_is_a_reorganisation() -> None:
    """Point 3: after a reorganisation the new chain may be shorter than the cursor; its
    missing block counts as a changed hash, not as an outage."""
    chain = Chain(head=10)
    sink, store = Sink(), MemoryFollowerStore()
    f = make(chain, sink, store)
    await catch_up(f)
    chain.fork(from_block=6, head=7)
    assert await f.poll_once() is False and f.reorgs == 1
    await catch_up(f)
    assert store.saved is not None and store.saved.block_hash == chain.hash(7)


async def test_a_reorganisation_beyond_memory_rewinds_below_the_oldest_remembered_block() -> None:
    """Point 3: when no remembered hash survives, the follower starts again below them all
    rather than guessing (re-delivery is idempotent, a gap would not be)."""
    chain = Chain(head=12)
    chain.events = {2: [0]}
    sink, store = Sink(), MemoryFollowerStore()
    f = make(chain, sink, store)
    await catch_up(f)
    chain.fork(from_block=0, head=12)
    chain.events = {2: [5]}
    await catch_up(f)
    assert f.reorgs == 1
    assert [e.slot_index for e in sink.events] == [0, 5]  # type: ignore[union-attr]


async def test_logs_with_a_stale_block_hash_are_read_again_not_delivered() -> None:
    """Point 3: a log whose block hash is not the block's (the chain moved during the read)
    fails the poll; nothing of that range is delivered until the read is consistent."""
    chain = Chain(head=6)
    chain.events = {2: [0], 4: [1]}
    chain.lie_about = {4}
    sink, store = Sink(), MemoryFollowerStore()
    f = make(chain, sink, store, batch_blocks=8)
    with pytest.raises(ConnectionError, match="reading the range again"):
        await f.poll_once()
    assert [e.slot_index for e in sink.events] == [0]  # type: ignore[union-attr]
    chain.lie_about = set()
    await catch_up(f)
    assert [e.slot_index for e in sink.events] == [0, 1]  # type: ignore[union-attr]


async def test_an_outage_of_the_sink_is_never_dead_lettered() -> None:
    """Point 1: transient sink errors (the queue unreachable) are retried without limit; only
    other failures count toward the dead-letter bound."""
    chain = Chain(head=3)
    chain.events = {1: [0]}
    sink, store = Sink(failing=ConnectionError), MemoryFollowerStore()
    f = make(chain, sink, store, dead_letter_after=2)
    for _ in range(5):
        with pytest.raises(ConnectionError):
            await f.poll_once()
    assert f.dead_lettered == 0 and await store.dead_letters() == []
    sink.failing = RuntimeError
    with pytest.raises(RuntimeError):
        await f.poll_once()
    await catch_up(f)  # the second non-transient failure dead-letters it
    (letter,) = await store.dead_letters()
    assert (letter.kind, letter.attempts, letter.block_number) == ("SlotFilled", 2, 1)
    assert f.dead_lettered == 1 and store.saved is not None and store.saved.block_number == 4
