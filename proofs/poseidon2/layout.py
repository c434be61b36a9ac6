"""Codex's storage layout: cells, blocks, the slot tree, the dataset tree and the sampler.

From the README of codex-storage/codex-storage-proofs-circuits:

- a slot is split into cells of CELL_BYTES = 2048 bytes; a cell's hash is the rate-2 sponge of
  its 67 field elements (31-byte little-endian chunks after `10*` byte padding);
- cells are grouped in network blocks of BLOCK_BYTES = 64 KiB = 32 cells; a block's hash is the
  root of the depth-5 Merkle tree over its 32 cell hashes;
- the slot root is the root of the Merkle tree over the slot's block hashes;
- the dataset root is the root of the Merkle tree over the slot roots (any number of slots:
  the odd-node convention covers a count that is not a power of two);
- all trees use the keyed compression (bottom-layer and odd-node bits, see `reference`);
- sample `counter` (1..nSamples) opens the cell
  `sponge2([entropy, slotRoot, counter]) mod nCells`.

The circuit needs nCells to be a power of two, so a slot's data is zero-padded to a whole block
and then to a power-of-two number of blocks with all-zero blocks (as Codex's slot builder pads
with empty blocks). `n_blocks` here is always that padded count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from proofs.poseidon2 import fast
from proofs.poseidon2.reference import bytes_to_elements, merkle_path

CELL_BYTES = 2048
BLOCK_BYTES = 65536
CELLS_PER_BLOCK = BLOCK_BYTES // CELL_BYTES
BLOCK_TREE_DEPTH = 5
FIELD_ELEMS_PER_CELL = (CELL_BYTES + 30) // 31  # 67: 2048 bytes + the 0x01 marker
ELEM = 32


class LayoutError(ValueError):
    """Data or an index that Codex's layout cannot represent."""


def padded_blocks(data_bytes: int) -> int:
    """Blocks in a slot holding `data_bytes`: whole blocks, rounded up to a power of two."""
    if data_bytes < 0:
        raise LayoutError("negative size")
    blocks = max(1, -(-data_bytes // BLOCK_BYTES))
    return 1 << (blocks - 1).bit_length()


def cell_elements(cell: bytes) -> list[int]:
    """The 67 field elements of a cell, as the circuit's `cellData` takes them."""
    if len(cell) != CELL_BYTES:
        raise LayoutError(f"a cell is {CELL_BYTES} bytes, got {len(cell)}")
    return bytes_to_elements(cell)


def cell_hash(cell: bytes) -> int:
    if len(cell) != CELL_BYTES:
        raise LayoutError(f"a cell is {CELL_BYTES} bytes, got {len(cell)}")
    return fast.hash_bytes(cell)


def _full_block(block: bytes) -> bytes:
    if len(block) > BLOCK_BYTES:
        raise LayoutError(f"a block is at most {BLOCK_BYTES} bytes, got {len(block)}")
    return block.ljust(BLOCK_BYTES, b"\0")


def block_tree(block: bytes) -> list[list[int]]:
    """The depth-5 tree over a block's 32 cell hashes (a short block is zero-padded)."""
    return fast.merkle_levels(fast.hash_cells(_full_block(block), CELL_BYTES))


def block_hash(block: bytes) -> int:
    return int.from_bytes(
        fast.block_hashes_raw(_full_block(block), BLOCK_BYTES, CELL_BYTES), "little"
    )


@cache
def zero_block_hash() -> int:
    """The hash of an all-zero block: the leaf of every padding block."""
    return block_hash(b"")


def block_hashes(data: bytes) -> list[int]:
    """Hashes of the blocks of `data` (the last one zero-padded), without power-of-two padding."""
    if not data:
        return []
    return fast.from_bytes(fast.block_hashes_raw(_pad_to_block(data), BLOCK_BYTES, CELL_BYTES))


def _pad_to_block(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK_BYTES)


@dataclass(frozen=True)
class SlotTree:
    """The slot tree over (padded) block hashes; block trees are rebuilt per sampled block."""

    levels: tuple[tuple[int, ...], ...]

    @classmethod
    def from_block_hashes(cls, hashes: Sequence[int], data_blocks: int | None = None) -> SlotTree:
        """Pad `hashes` with zero-block hashes to a power of two and build the tree.

        `data_blocks` (default len(hashes)) checks that no padding block was passed as data.
        """
        count = len(hashes) if data_blocks is None else data_blocks
        if len(hashes) != count or count < 1:
            raise LayoutError(f"expected {count} >= 1 block hashes, got {len(hashes)}")
        n = 1 << (count - 1).bit_length()
        leaves = list(hashes) + [zero_block_hash()] * (n - count)
        return cls(tuple(tuple(level) for level in fast.merkle_levels(leaves)))

    @property
    def root(self) -> int:
        return self.levels[-1][0]

    @property
    def n_blocks(self) -> int:
        return len(self.levels[0])

    @property
    def n_cells(self) -> int:
        return self.n_blocks * CELLS_PER_BLOCK

    @property
    def depth(self) -> int:
        """Depth of the whole slot tree in cells: 5 + log2(n_blocks)."""
        return BLOCK_TREE_DEPTH + (self.n_blocks - 1).bit_length()

    def block_path(self, block_index: int) -> list[int]:
        return merkle_path(self.levels, block_index)

    def cell_path(self, cell_index: int, block: bytes) -> list[int]:
        """The cell's Merkle path to the slot root: 5 siblings in its block, then the block's.

        `block` is the data of the cell's block (the prover reads it from the block store); the
        block tree is rebuilt from it (32 cell hashes) instead of being stored.
        """
        if not 0 <= cell_index < self.n_cells:
            raise LayoutError(f"cell {cell_index} outside a slot of {self.n_cells} cells")
        b, c = divmod(cell_index, CELLS_PER_BLOCK)
        tree = block_tree(block)
        if tree[-1][0] != self.levels[0][b]:
            raise LayoutError(f"block {b} data does not match its stored block hash")
        return merkle_path(tree, c) + merkle_path(self.levels, b)


def slot_tree(data: bytes) -> SlotTree:
    """The slot tree of a whole slot's bytes (for tests and clients; stores stream instead)."""
    return SlotTree.from_block_hashes(block_hashes(data) or [zero_block_hash()])


def slot_root(data: bytes) -> int:
    return slot_tree(data).root


def dataset_levels(slot_roots: Sequence[int]) -> list[list[int]]:
    if not slot_roots:
        raise LayoutError("a dataset has at least one slot")
    return fast.merkle_levels(slot_roots)


def dataset_root(slot_roots: Sequence[int]) -> int:
    return dataset_levels(slot_roots)[-1][0]


def slot_proof(slot_roots: Sequence[int], slot_index: int) -> list[int]:
    """The slot root's path to the dataset root (0 for odd nodes), unpadded."""
    if not 0 <= slot_index < len(slot_roots):
        raise LayoutError(f"slot {slot_index} outside a dataset of {len(slot_roots)} slots")
    return merkle_path(dataset_levels(slot_roots), slot_index)


def check_slot_root(slot_root_: int, slot_index: int, slot_roots: Sequence[int], root: int) -> None:
    """Raise LayoutError unless `slot_root_` is the dataset's slot `slot_index` under `root`."""
    if not 0 <= slot_index < len(slot_roots):
        raise LayoutError(f"slot {slot_index} outside a dataset of {len(slot_roots)} slots")
    if slot_roots[slot_index] != slot_root_:
        raise LayoutError(f"slot {slot_index} data does not match its committed slot root")
    path = slot_proof(slot_roots, slot_index)
    if fast_root_from_path(slot_root_, slot_index, len(slot_roots), path) != root:
        raise LayoutError("the slot root does not open to the dataset root")


def fast_root_from_path(leaf: int, index: int, n_leaves: int, path: Sequence[int]) -> int:
    """reference.root_from_path with native compressions."""
    if not 0 <= index < n_leaves:
        raise LayoutError(f"leaf {index} outside a tree of {n_leaves} leaves")
    node, size = leaf, n_leaves
    for depth, sibling in enumerate(path):
        flag = 1 if depth == 0 else 0
        if index & 1:
            node = fast.compress(sibling, node, flag)
        elif index == size - 1:
            node = fast.compress(node, 0, flag | 2)
        else:
            node = fast.compress(node, sibling, flag)
        index >>= 1
        size = (size + 1) >> 1
    return node


def cell_index(entropy: int, slot_root_: int, counter: int, n_cells: int) -> int:
    """Codex's sampler: sponge2([entropy, slotRoot, counter]) mod nCells, counter from 1."""
    if n_cells < 1 or n_cells & (n_cells - 1):
        raise LayoutError(f"nCells must be a power of two, got {n_cells}")
    return fast.sponge([entropy, slot_root_, counter], rate=2) % n_cells


def sample_indices(entropy: int, slot_root_: int, n_cells: int, n_samples: int) -> list[int]:
    return [cell_index(entropy, slot_root_, j, n_cells) for j in range(1, n_samples + 1)]
