"""The input JSON of Codex's storage-proof circuit for one slot and one challenge.

Codex's circuit is `SampleAndProve(maxDepth, maxLog2NSlots, blockTreeDepth, nFieldElemsPerCell,
nSamples)` with public inputs `[entropy, dataSetRoot, slotIndex]` (the marketplace's order,
proofs/public_inputs.py). Its inputs, with their shapes, as Codex's reference generators write
them (all field elements as decimal strings, because JavaScript cannot hold them as numbers):

    entropy, dataSetRoot, slotIndex          public
    slotRoot, nSlotsPerDataSet, nCellsPerSlot
    slotProof[maxLog2NSlots]                 slot root -> dataset root, zero-padded
    cellData[nSamples][nFieldElemsPerCell]   the sampled cells as field elements
    merklePaths[nSamples][maxDepth]          cell -> block root -> slot root, zero-padded

Sample j (1..nSamples) opens cell `layout.cell_index(entropy, slotRoot, j, nCellsPerSlot)`.
Proving reads only the sampled blocks and the stored block hashes: nothing rehashes the slot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from proofs.poseidon2 import layout
from proofs.poseidon2.layout import BLOCK_BYTES, CELL_BYTES, CELLS_PER_BLOCK, LayoutError, SlotTree


@dataclass(frozen=True)
class CircuitParams:
    """The circuit's compile-time parameters. Defaults: Codex's production circuit
    (nim-codex's DefaultMaxSlotDepth 32, DefaultMaxDatasetDepth 8, DefaultBlockDepth 5,
    DefaultCellElms 67, DefaultSamplesNum 5)."""

    max_depth: int = 32
    max_log2_n_slots: int = 8
    block_tree_depth: int = 5
    n_field_elems_per_cell: int = layout.FIELD_ELEMS_PER_CELL
    n_samples: int = 5

    def __post_init__(self) -> None:
        if self.block_tree_depth != layout.BLOCK_TREE_DEPTH:
            raise LayoutError("only 64 KiB blocks of 2 KiB cells (block tree depth 5) exist here")
        if self.n_field_elems_per_cell != layout.FIELD_ELEMS_PER_CELL:
            raise LayoutError("only 2 KiB cells (67 field elements) exist here")

    @property
    def max_slot_bytes(self) -> int:
        """The largest provable slot: 2^maxDepth cells of 2 KiB."""
        return (1 << self.max_depth) * CELL_BYTES

    @property
    def max_slots(self) -> int:
        return 1 << self.max_log2_n_slots

    def check(self, slot_tree: SlotTree, n_slots: int) -> None:
        if slot_tree.depth > self.max_depth:
            raise LayoutError(
                f"a slot of {slot_tree.n_cells} cells needs depth {slot_tree.depth} > maxDepth "
                f"{self.max_depth} (at most {self.max_slot_bytes} bytes)"
            )
        if not 1 <= n_slots <= self.max_slots:
            raise LayoutError(f"{n_slots} slots: the circuit takes 1..{self.max_slots}")


CODEX_PARAMS = CircuitParams()


def _pad(values: Sequence[int], n: int) -> list[str]:
    if len(values) > n:
        raise LayoutError(f"path of {len(values)} > {n}")
    return [str(v) for v in values] + ["0"] * (n - len(values))


def circuit_input(
    params: CircuitParams,
    entropy: int,
    slot_index: int,
    slot_roots: Sequence[int],
    slot_tree: SlotTree,
    read_block: Callable[[int], bytes],
) -> dict[str, Any]:
    """Codex's circuit input for slot `slot_index` (whose tree is `slot_tree`).

    `read_block(b)` returns the bytes of block b of the slot (shorter or empty past the stored
    data: zero padding). Raises LayoutError if the data does not match the stored hashes or the
    slot does not fit the circuit's parameters.
    """
    params.check(slot_tree, len(slot_roots))
    root = slot_tree.root
    dataset_root = layout.dataset_root(slot_roots)
    layout.check_slot_root(root, slot_index, slot_roots, dataset_root)
    cells: list[list[str]] = []
    paths: list[list[str]] = []
    blocks: dict[int, bytes] = {}
    for idx in layout.sample_indices(entropy, root, slot_tree.n_cells, params.n_samples):
        b, c = divmod(idx, CELLS_PER_BLOCK)
        if b not in blocks:
            blocks[b] = read_block(b).ljust(BLOCK_BYTES, b"\0")
        block = blocks[b]
        cells.append([str(e) for e in layout.cell_elements(block[c * CELL_BYTES :][:CELL_BYTES])])
        paths.append(_pad(slot_tree.cell_path(idx, block), params.max_depth))
    return {
        "entropy": str(entropy),
        "dataSetRoot": str(dataset_root),
        "slotIndex": str(slot_index),
        "slotRoot": str(root),
        "nSlotsPerDataSet": str(len(slot_roots)),
        "nCellsPerSlot": str(slot_tree.n_cells),
        "slotProof": _pad(layout.slot_proof(slot_roots, slot_index), params.max_log2_n_slots),
        "cellData": cells,
        "merklePaths": paths,
    }


def check_input(params: CircuitParams, inp: dict[str, Any]) -> None:
    """What the circuit checks, recomputed in Python (reference code): the dataset opening, each
    sample's index, cell hash and path. Raises LayoutError on the first failure. Tests use it;
    a prover may call it before spending seconds on a witness."""
    from proofs.poseidon2 import reference

    entropy, root = int(inp["entropy"]), int(inp["slotRoot"])
    n_cells, n_slots = int(inp["nCellsPerSlot"]), int(inp["nSlotsPerDataSet"])
    slot_index = int(inp["slotIndex"])
    depth = (n_cells - 1).bit_length()
    slot_depth = max(1, (n_slots - 1).bit_length())
    proof = [int(v) for v in inp["slotProof"]]
    if len(proof) != params.max_log2_n_slots or any(proof[slot_depth:]):
        raise LayoutError("slotProof has the wrong shape")
    if reference.root_from_path(root, slot_index, n_slots, proof[:slot_depth]) != int(
        inp["dataSetRoot"]
    ):
        raise LayoutError("the slot root does not open to the dataset root")
    if len(inp["cellData"]) != params.n_samples or len(inp["merklePaths"]) != params.n_samples:
        raise LayoutError("wrong number of samples")
    n_blocks = n_cells // CELLS_PER_BLOCK
    bd = params.block_tree_depth
    for j, (cell, path) in enumerate(zip(inp["cellData"], inp["merklePaths"], strict=True), 1):
        idx = reference.sponge([entropy, root, j], 2) % n_cells
        elems = [int(v) for v in cell]
        if len(elems) != params.n_field_elems_per_cell or len(path) != params.max_depth:
            raise LayoutError(f"sample {j} has the wrong shape")
        p = [int(v) for v in path]
        if any(p[depth:]):
            raise LayoutError(f"sample {j}: path not zero-padded past depth {depth}")
        leaf = reference.sponge(elems, 2)
        block_root = reference.root_from_path(leaf, idx % CELLS_PER_BLOCK, CELLS_PER_BLOCK, p[:bd])
        slot_path = p[bd:depth] if n_blocks > 1 else p[bd : bd + 1]
        got = reference.root_from_path(block_root, idx // CELLS_PER_BLOCK, n_blocks, slot_path)
        if got != root:
            raise LayoutError(f"sample {j} (cell {idx}) does not open to the slot root")
