"""Codex's layout: 2 KiB cells, 64 KiB blocks, slot tree over block hashes, dataset tree, sampler.

Each test names the rule of the Codex storage-proof README it pins, checked against the pure
Python reference (reference.py) rather than against the native code that layout.py uses.
"""

from __future__ import annotations

import random

import pytest

from proofs.poseidon2 import layout, reference
from proofs.poseidon2.layout import BLOCK_BYTES, CELL_BYTES, LayoutError


def ref_block_hash(block: bytes) -> int:
    block = block.ljust(BLOCK_BYTES, b"\0")
    return reference.merkle_root(
        [reference.hash_bytes(block[i : i + CELL_BYTES]) for i in range(0, BLOCK_BYTES, CELL_BYTES)]
    )


def test_cell_is_67_field_elements() -> None:
    """A 2048-byte cell is 67 field elements: 66 full 31-byte chunks, then 2 bytes + 0x01."""
    cell = bytes(range(256)) * 8
    elems = layout.cell_elements(cell)
    assert len(elems) == layout.FIELD_ELEMS_PER_CELL == 67
    assert elems[-1] == int.from_bytes(cell[-2:] + b"\x01", "little")
    with pytest.raises(LayoutError):
        layout.cell_elements(cell[:-1])


def test_block_hash_is_depth_5_tree_of_cell_hashes() -> None:
    """A block's hash is the Merkle root of its 32 cell hashes (sponge rate 2 each)."""
    block = random.Random(1).randbytes(BLOCK_BYTES)
    assert layout.block_hash(block) == ref_block_hash(block)
    tree = layout.block_tree(block)
    assert len(tree) == 6 and tree[-1][0] == ref_block_hash(block)


def test_slot_padded_to_power_of_two_blocks_with_zero_blocks() -> None:
    """3 blocks of data (the last one short) make a 4-block slot: zero-padded, then a zero block."""
    data = random.Random(2).randbytes(2 * BLOCK_BYTES + 1000)
    tree = layout.slot_tree(data)
    blocks = [data[i : i + BLOCK_BYTES] for i in range(0, len(data), BLOCK_BYTES)]
    leaves = [ref_block_hash(b) for b in blocks] + [ref_block_hash(b"")]
    assert tree.n_blocks == 4 and tree.n_cells == 128 and tree.depth == 7
    assert tree.root == reference.merkle_root(leaves)
    assert layout.padded_blocks(len(data)) == 4
    assert layout.padded_blocks(0) == 1 and layout.padded_blocks(BLOCK_BYTES + 1) == 2


def test_single_block_slot_is_compressed_once() -> None:
    """A one-block slot's root is the singleton convention: compress(blockHash, 0, key 3)."""
    block = random.Random(3).randbytes(1000)
    assert layout.slot_root(block) == reference.compress(ref_block_hash(block), 0, 3)


def test_cell_paths_open_to_the_slot_root() -> None:
    """A cell's path is 5 siblings in its block then the block's path; it rebuilds the slot root."""
    data = random.Random(4).randbytes(3 * BLOCK_BYTES)
    tree = layout.slot_tree(data)
    for cell in [0, 31, 32, 70, 95, 96, 127]:
        b = cell // 32
        block = data[b * BLOCK_BYTES : (b + 1) * BLOCK_BYTES]
        path = tree.cell_path(cell, block)
        assert len(path) == tree.depth
        leaf = reference.hash_bytes(block.ljust(BLOCK_BYTES, b"\0")[(cell % 32) * 2048 :][:2048])
        block_root = reference.root_from_path(leaf, cell % 32, 32, path[:5])
        assert reference.root_from_path(block_root, b, tree.n_blocks, path[5:]) == tree.root
    with pytest.raises(LayoutError, match="does not match"):
        tree.cell_path(0, bytes(BLOCK_BYTES))


@pytest.mark.parametrize("n_slots", [1, 2, 3, 5, 6, 7, 8])
def test_dataset_tree_odd_nodes_and_openings(n_slots: int) -> None:
    """Any slot count: odd nodes compress with 0 (key 2/3); every slot opens to the root."""
    roots = [10_000 + i for i in range(n_slots)]
    root = layout.dataset_root(roots)
    assert root == reference.merkle_root(roots)
    for i in range(n_slots):
        layout.check_slot_root(roots[i], i, roots, root)
        path = layout.slot_proof(roots, i)
        assert reference.root_from_path(roots[i], i, n_slots, path) == root
    with pytest.raises(LayoutError):
        layout.check_slot_root(roots[0] + 1, 0, roots, root)
    with pytest.raises(LayoutError):
        layout.check_slot_root(roots[0], 0, roots, root + 1)


def test_sampler_is_sponge_of_entropy_root_counter_mod_ncells() -> None:
    """idx = sponge2([entropy, slotRoot, counter]) mod nCells, counter = 1..nSamples."""
    entropy, root = 1234567, 987654321
    idxs = layout.sample_indices(entropy, root, 512, 5)
    assert idxs == [reference.sponge([entropy, root, j], 2) % 512 for j in range(1, 6)]
    with pytest.raises(LayoutError):
        layout.cell_index(entropy, root, 1, 96)
