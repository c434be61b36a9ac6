"""The streaming slot hasher: same root as the whole-slot layout, any chunking, O(depth) state."""

from __future__ import annotations

import random

import pytest

from proofs.poseidon2 import layout
from proofs.poseidon2.layout import BLOCK_BYTES, LayoutError
from proofs.poseidon2.streaming import StreamingSlotHasher


@pytest.mark.parametrize(
    "size", [0, 1, 1000, BLOCK_BYTES, BLOCK_BYTES + 1, 3 * BLOCK_BYTES, 5 * BLOCK_BYTES + 77]
)
def test_streamed_root_equals_layout_root_for_any_chunking(size: int) -> None:
    """Chunks of 1 byte to several blocks, a short last block, zero-block padding: one root."""
    rnd = random.Random(size)
    data = rnd.randbytes(size)
    sunk: dict[int, bytes] = {}
    hasher = StreamingSlotHasher(
        layout.padded_blocks(size), sink=lambda i, raw: sunk.update({i: raw})
    )
    pos = 0
    while pos < len(data):
        step = rnd.choice([1, 100, 5000, BLOCK_BYTES, 70_000, 200_000])
        hasher.update(data[pos : pos + step])
        pos += step
    assert hasher.finish() == layout.slot_root(data)
    raw = b"".join(sunk[i] for i in sorted(sunk))
    assert raw[: 32 * len(layout.block_hashes(data))] == b"".join(
        h.to_bytes(32, "little") for h in layout.block_hashes(data)
    )


def test_threads_give_the_same_root_and_hashes() -> None:
    """Hashing the blocks of an update on 2 threads changes nothing but the speed."""
    data = random.Random(9).randbytes(7 * BLOCK_BYTES + 5)
    sunk: dict[int, bytes] = {}
    hasher = StreamingSlotHasher(8, sink=lambda i, raw: sunk.update({i: raw}), threads=2)
    hasher.update(data[:100])
    hasher.update(data[100:])
    assert hasher.finish() == layout.slot_root(data)
    raw = b"".join(sunk[i] for i in sorted(sunk))
    assert raw == b"".join(h.to_bytes(32, "little") for h in layout.block_hashes(data))


def test_state_is_one_node_per_level() -> None:
    """Memory is O(depth): the frontier never holds more than log2(n_blocks) + 1 nodes."""
    n = 64
    hasher = StreamingSlotHasher(n)
    block = bytes(BLOCK_BYTES)
    for _ in range(37):
        hasher.update(block)
        assert len(hasher._frontier) <= n.bit_length()
    assert len(hasher._pending) == 0


def test_resume_from_stored_hashes_and_partial_block() -> None:
    """Stored block hashes plus the partial block's bytes give the same root as no crash."""
    data = random.Random(3).randbytes(3 * BLOCK_BYTES + 1234)
    hashes = layout.block_hashes(data[: 2 * BLOCK_BYTES])
    hasher = StreamingSlotHasher.resume(4, hashes, data[2 * BLOCK_BYTES : 2 * BLOCK_BYTES + 999])
    hasher.update(data[2 * BLOCK_BYTES + 999 :])
    assert hasher.finish() == layout.slot_root(data)


def test_too_many_blocks_and_bad_counts_are_refused() -> None:
    """A slot tree needs a power-of-two block count, and no more data than it holds."""
    with pytest.raises(LayoutError):
        StreamingSlotHasher(3)
    hasher = StreamingSlotHasher(1)
    with pytest.raises(LayoutError):
        hasher.update(bytes(2 * BLOCK_BYTES))
