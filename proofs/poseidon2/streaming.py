"""The slot root computed while a slot streams in, in O(tree depth) memory.

`StreamingSlotHasher` takes the slot's bytes in order, in chunks of any size. Every complete
64 KiB block is hashed natively (its 32 cells and their depth-5 tree) and its hash goes to two
places: a `sink` (the block store's block-hash file, which the prover reads later, so proving
never rehashes the slot) and a Merkle frontier: at most one pending node per level of the slot
tree. Memory is one partial block plus the frontier, whatever the slot size.

The slot tree has a power-of-two number of leaves (`layout.padded_blocks`); blocks past the data
are all-zero blocks, and their subtrees are folded in level by level from the zero-block hash
without hashing any zeros (a zero subtree of height h has the same root everywhere).

A download that resumes after a crash rebuilds the hasher with `resume` from the block hashes
already stored and the bytes of the last partial block read back from disk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from proofs.poseidon2 import fast
from proofs.poseidon2.layout import BLOCK_BYTES, CELL_BYTES, LayoutError, zero_block_hash

KEY_BOTTOM = 1

BlockHashSink = Callable[[int, bytes], None]
"""sink(first_block_index, concatenated 32-byte little-endian block hashes)."""


class StreamingSlotHasher:
    def __init__(self, n_blocks: int, sink: BlockHashSink | None = None, threads: int = 1) -> None:
        """`n_blocks`: the padded (power-of-two) leaf count of the slot tree. `threads` > 1
        hashes the blocks of one update on that many threads (the native code releases the
        GIL; blocks are independent), for hosts with cores to spare."""
        if n_blocks < 1 or n_blocks & (n_blocks - 1):
            raise LayoutError(f"the slot tree needs a power-of-two block count, got {n_blocks}")
        self.n_blocks = n_blocks
        self._sink = sink
        self._pending = bytearray()  # bytes of the current, incomplete block
        self._frontier: list[int | None] = []  # level -> a left node waiting for its sibling
        self.blocks_done = 0
        self.bytes_seen = 0
        self._threads = max(1, threads)
        self._pool = ThreadPoolExecutor(self._threads) if self._threads > 1 else None

    @classmethod
    def resume(
        cls,
        n_blocks: int,
        stored_hashes: Sequence[int],
        partial_block: bytes,
        sink: BlockHashSink | None = None,
        threads: int = 1,
    ) -> StreamingSlotHasher:
        """A hasher that has seen the blocks whose hashes are stored, then `partial_block`."""
        if len(partial_block) >= BLOCK_BYTES:
            raise LayoutError("the partial block must be shorter than a block")
        hasher = cls(n_blocks, sink, threads)
        for h in stored_hashes:
            hasher._push(h)
        hasher.bytes_seen = len(stored_hashes) * BLOCK_BYTES + len(partial_block)
        hasher._pending = bytearray(partial_block)
        return hasher

    def _push(self, node: int, level: int = 0) -> None:
        """Add the root of a complete, aligned subtree of 2^level blocks (a block hash at 0)."""
        if self.blocks_done + (1 << level) > self.n_blocks:
            raise LayoutError(f"more than {self.n_blocks} blocks for this slot")
        self.blocks_done += 1 << level
        while level < len(self._frontier) and self._frontier[level] is not None:
            left = self._frontier[level]
            assert left is not None
            self._frontier[level] = None
            node = fast.compress(left, node, KEY_BOTTOM if level == 0 else 0)
            level += 1
        while len(self._frontier) <= level:
            self._frontier.append(None)
        self._frontier[level] = node

    def _hash_blocks(self, data: bytes | memoryview) -> None:
        n = len(data) // BLOCK_BYTES
        if self._pool is not None and n >= 2:
            per = -(-n // self._threads) * BLOCK_BYTES
            view = memoryview(data)
            parts = [view[i : i + per] for i in range(0, len(view), per)]
            hashed = self._pool.map(
                lambda part: fast.block_hashes_raw(part, BLOCK_BYTES, CELL_BYTES), parts
            )
            raw = b"".join(hashed)
        else:
            raw = fast.block_hashes_raw(data, BLOCK_BYTES, CELL_BYTES)
        if self._sink is not None:
            self._sink(self.blocks_done, raw)
        for h in fast.from_bytes(raw):
            self._push(h)

    def update(self, data: bytes | memoryview) -> None:
        """Absorb the next bytes of the slot (any length; releases the GIL while hashing)."""
        view = memoryview(data)
        self.bytes_seen += len(view)
        if self._pending:
            take = min(BLOCK_BYTES - len(self._pending), len(view))
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < BLOCK_BYTES:
                return
            self._hash_blocks(bytes(self._pending))
            self._pending.clear()
        whole = len(view) - len(view) % BLOCK_BYTES
        if whole:
            self._hash_blocks(view[:whole])
        self._pending += view[whole:]

    def finish(self) -> int:
        """The slot root: the last block zero-padded, then zero blocks up to n_blocks."""
        if self._pending or self.blocks_done == 0:
            self._hash_blocks(bytes(self._pending).ljust(BLOCK_BYTES, b"\0"))
            self._pending.clear()
        if self.n_blocks == 1:
            leaf = self._frontier[0]
            assert leaf is not None
            return fast.compress(leaf, 0, 3)  # a one-leaf tree is still compressed once
        zeros = [zero_block_hash()]  # zeros[h]: root of an all-zero subtree of 2^h blocks
        while self.blocks_done < self.n_blocks:
            # the next zero subtree is as big as the lowest set bit of blocks_done allows
            level = (self.blocks_done & -self.blocks_done).bit_length() - 1
            while len(zeros) <= level:
                h = len(zeros) - 1
                zeros.append(fast.compress(zeros[h], zeros[h], KEY_BOTTOM if h == 0 else 0))
            self._push(zeros[level], level)
        top = self._frontier[-1]
        assert top is not None and len(self._frontier) == self.n_blocks.bit_length()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return top
