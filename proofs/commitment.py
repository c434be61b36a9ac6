"""The development data commitment: cells, Poseidon Merkle trees and the circuit's witness input.

Layout (mirrors proofs/circuits/storage.circom; see proofs/circuits/README.md):
- a dataset is split into `slots` slots of `slot_size` bytes each (the last ones zero-padded);
- a slot is split into cells of CELL_BYTES = 8 x 31 bytes; each 31-byte chunk is a field element
  read little-endian (as Codex reads bytes into field elements); a cell's leaf is
  Poseidon(8 elements). The slot tree has exactly 2^SLOT_DEPTH leaves: missing cells are
  all-zero cells. So a provable slot holds at most 256 x 248 = 63,488 bytes;
- the dataset tree has 2^DATASET_DEPTH leaves: the slot roots, then zeros;
- inner nodes are Poseidon(left, right), circomlib's Poseidon (light-poseidon computes the same);
- sample j (j = 0..N_SAMPLES-1) opens the cell at index
  Poseidon(entropy, slotRoot, j + 1) mod 2^SLOT_DEPTH.
The content root a client puts in Content.merkleRoot is the dataset root as 32 bytes
little-endian, because the contract reads it with int.from_bytes(root, "little").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from light_poseidon_python import Hasher  # type: ignore[import-untyped]

from proofs.public_inputs import SNARK_SCALAR_FIELD, merkle_root_from_dataset_root

ELEM_BYTES = 31
CELL_ELEMS = 8
CELL_BYTES = ELEM_BYTES * CELL_ELEMS
SLOT_DEPTH = 8
CELLS_PER_SLOT = 1 << SLOT_DEPTH
MAX_SLOT_BYTES = CELL_BYTES * CELLS_PER_SLOT
DATASET_DEPTH = 4
MAX_SLOTS = 1 << DATASET_DEPTH
N_SAMPLES = 2


class CommitmentError(ValueError):
    """Data that the development commitment cannot represent (too big, too many slots)."""


@cache
def _hasher(arity: int) -> Hasher:
    return Hasher(arity)


def poseidon(inputs: Sequence[int]) -> int:
    """circomlib-compatible Poseidon over BN254 field elements (1..12 inputs)."""
    for v in inputs:
        if not 0 <= v < SNARK_SCALAR_FIELD:
            raise CommitmentError(f"Poseidon input {v} is not a field element")
    digest = _hasher(len(inputs)).hash_bytes_be([v.to_bytes(32, "big") for v in inputs])
    return int(digest, 16)


def cell_elements(cell: bytes) -> list[int]:
    if len(cell) > CELL_BYTES:
        raise CommitmentError(f"a cell holds at most {CELL_BYTES} bytes, got {len(cell)}")
    cell = cell.ljust(CELL_BYTES, b"\0")
    return [
        int.from_bytes(cell[i : i + ELEM_BYTES], "little") for i in range(0, CELL_BYTES, ELEM_BYTES)
    ]


def cell_leaf(cell: bytes) -> int:
    return poseidon(cell_elements(cell))


@cache
def _zero_leaf() -> int:
    return cell_leaf(b"")


def merkle_levels(leaves: Sequence[int], depth: int) -> list[list[int]]:
    """All levels bottom-up of a full binary tree of 2^depth leaves (caller pads)."""
    if len(leaves) != 1 << depth:
        raise CommitmentError(f"need exactly {1 << depth} leaves, got {len(leaves)}")
    levels = [list(leaves)]
    for _ in range(depth):
        prev = levels[-1]
        levels.append([poseidon([prev[i], prev[i + 1]]) for i in range(0, len(prev), 2)])
    return levels


def merkle_path(levels: Sequence[Sequence[int]], index: int) -> list[int]:
    """Siblings bottom-up for leaf `index`."""
    path = []
    for level in levels[:-1]:
        path.append(level[index ^ 1])
        index >>= 1
    return path


def root_from_path(leaf: int, index: int, path: Sequence[int]) -> int:
    node = leaf
    for sibling in path:
        node = poseidon([sibling, node] if index & 1 else [node, sibling])
        index >>= 1
    return node


def slot_leaves(slot: bytes) -> list[int]:
    if len(slot) > MAX_SLOT_BYTES:
        raise CommitmentError(
            f"slot of {len(slot)} bytes exceeds the development circuit's {MAX_SLOT_BYTES}"
        )
    zero = _zero_leaf()
    leaves = [cell_leaf(slot[i : i + CELL_BYTES]) for i in range(0, len(slot), CELL_BYTES)]
    return leaves + [zero] * (CELLS_PER_SLOT - len(leaves))


def slot_tree(slot: bytes) -> list[list[int]]:
    return merkle_levels(slot_leaves(slot), SLOT_DEPTH)


def slot_root(slot: bytes) -> int:
    return slot_tree(slot)[-1][0]


def dataset_levels(slot_roots: Sequence[int]) -> list[list[int]]:
    if not 1 <= len(slot_roots) <= MAX_SLOTS:
        raise CommitmentError(f"the development circuit supports 1..{MAX_SLOTS} slots")
    return merkle_levels(list(slot_roots) + [0] * (MAX_SLOTS - len(slot_roots)), DATASET_DEPTH)


def dataset_root(slot_roots: Sequence[int]) -> int:
    return dataset_levels(slot_roots)[-1][0]


def cell_index(entropy: int, slot_root_: int, sample: int) -> int:
    return poseidon([entropy, slot_root_, sample + 1]) & (CELLS_PER_SLOT - 1)


def slot_size_for(dataset_size: int, slots: int) -> int:
    """Smallest whole-cell slot size that fits the dataset into `slots` slots."""
    if not 1 <= slots <= MAX_SLOTS:
        raise CommitmentError(f"the development circuit supports 1..{MAX_SLOTS} slots")
    per_slot = max(1, -(-dataset_size // slots))
    return -(-per_slot // CELL_BYTES) * CELL_BYTES


def split_slots(data: bytes, slots: int, slot_size: int) -> list[bytes]:
    if slots * slot_size < len(data):
        raise CommitmentError("slots x slot_size is smaller than the dataset")
    return [data[i * slot_size : (i + 1) * slot_size].ljust(slot_size, b"\0") for i in range(slots)]


@dataclass(frozen=True)
class DatasetCommitment:
    slots: int
    slot_size: int
    slot_roots: tuple[int, ...]
    root: int

    @property
    def merkle_root(self) -> bytes:
        """Content.merkleRoot: the dataset root as 32 bytes little-endian."""
        return merkle_root_from_dataset_root(self.root)

    def slot_proof(self, slot_index: int) -> list[int]:
        return merkle_path(dataset_levels(self.slot_roots), slot_index)


def commit_dataset(data: bytes, slots: int, slot_size: int | None = None) -> DatasetCommitment:
    size = slot_size if slot_size is not None else slot_size_for(len(data), slots)
    if size > MAX_SLOT_BYTES:
        raise CommitmentError(f"slot size {size} exceeds the dev circuit's {MAX_SLOT_BYTES}")
    roots = tuple(slot_root(s) for s in split_slots(data, slots, size))
    return DatasetCommitment(slots, size, roots, dataset_root(roots))


def check_slot(slot: bytes, slot_index: int, slot_roots: Sequence[int], root: int) -> int:
    """Recompute the slot root from the bytes and check it reaches `root` at `slot_index`.

    Returns the slot root. Raises CommitmentError on any mismatch (corrupted data, wrong index,
    manifest not matching the request's merkle root).
    """
    if not 0 <= slot_index < len(slot_roots):
        raise CommitmentError(f"slot index {slot_index} outside the dataset's {len(slot_roots)}")
    if dataset_root(slot_roots) != root:
        raise CommitmentError("the slot roots do not hash to the content's merkle root")
    computed = slot_root(slot)
    if computed != slot_roots[slot_index]:
        raise CommitmentError(f"slot {slot_index} data does not match its committed slot root")
    path = merkle_path(dataset_levels(slot_roots), slot_index)
    if root_from_path(computed, slot_index, path) != root:  # pragma: no cover - implied above
        raise CommitmentError("slot root does not reach the dataset root")
    return computed


def witness_input(
    slot: bytes, slot_index: int, slot_roots: Sequence[int], entropy: int
) -> dict[str, Any]:
    """The circuit's input JSON (decimal strings) for this slot and challenge entropy."""
    tree = slot_tree(slot)
    root = tree[-1][0]
    cells: list[list[str]] = []
    paths: list[list[str]] = []
    for j in range(N_SAMPLES):
        idx = cell_index(entropy, root, j)
        cell = slot[idx * CELL_BYTES : (idx + 1) * CELL_BYTES]
        cells.append([str(e) for e in cell_elements(cell)])
        paths.append([str(s) for s in merkle_path(tree, idx)])
    return {
        "entropy": str(entropy),
        "dataSetRoot": str(dataset_root(slot_roots)),
        "slotIndex": str(slot_index),
        "slotRoot": str(root),
        "slotProof": [str(s) for s in merkle_path(dataset_levels(slot_roots), slot_index)],
        "cellData": cells,
        "merklePaths": paths,
    }
