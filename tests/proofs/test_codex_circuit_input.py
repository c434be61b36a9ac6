"""Codex's circuit input: names, shapes, zero padding, and every sample opening (point 3)."""

from __future__ import annotations

import random

import pytest

from proofs.poseidon2 import layout
from proofs.poseidon2.circuit_input import (
    CODEX_PARAMS,
    CircuitParams,
    check_input,
    circuit_input,
)
from proofs.poseidon2.layout import BLOCK_BYTES, LayoutError

DEV = CircuitParams(max_depth=16, max_log2_n_slots=4, n_samples=5)


def dataset(slots: int, blocks: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(blocks * BLOCK_BYTES - 100) for _ in range(slots)]


@pytest.mark.parametrize(("params", "slots", "blocks"), [(CODEX_PARAMS, 3, 3), (DEV, 5, 1)])
def test_input_has_codex_names_shapes_and_opens(params: CircuitParams, slots: int, blocks: int):
    """Keys and shapes as Codex's generator writes them; the Python re-check of what the circuit
    checks passes (dataset opening, sampled indices, cell hashes, paths)."""
    data = dataset(slots, blocks, seed=slots)
    trees = [layout.slot_tree(d) for d in data]
    roots = [t.root for t in trees]
    entropy = 1234567
    inp = circuit_input(
        params,
        entropy,
        2,
        roots,
        trees[2],
        lambda b: data[2][b * BLOCK_BYTES : (b + 1) * BLOCK_BYTES],
    )
    assert list(inp) == [
        "entropy",
        "dataSetRoot",
        "slotIndex",
        "slotRoot",
        "nSlotsPerDataSet",
        "nCellsPerSlot",
        "slotProof",
        "cellData",
        "merklePaths",
    ]
    assert inp["dataSetRoot"] == str(layout.dataset_root(roots))
    assert inp["nCellsPerSlot"] == str(trees[2].n_cells)
    assert len(inp["slotProof"]) == params.max_log2_n_slots
    assert [len(c) for c in inp["cellData"]] == [67] * params.n_samples
    assert [len(p) for p in inp["merklePaths"]] == [params.max_depth] * params.n_samples
    assert all(isinstance(v, str) for p in inp["merklePaths"] for v in p)
    check_input(params, inp)


def test_tampered_input_fails_the_python_check():
    """A changed cell element or a wrong slot root is caught before any witness is computed."""
    data = dataset(2, 2, seed=9)
    trees = [layout.slot_tree(d) for d in data]
    roots = [t.root for t in trees]
    inp = circuit_input(
        CODEX_PARAMS,
        5,
        0,
        roots,
        trees[0],
        lambda b: data[0][b * BLOCK_BYTES : (b + 1) * BLOCK_BYTES],
    )
    bad = {**inp, "cellData": [["1", *inp["cellData"][0][1:]], *inp["cellData"][1:]]}
    with pytest.raises(LayoutError, match="sample 1"):
        check_input(CODEX_PARAMS, bad)
    with pytest.raises(LayoutError, match="dataset root"):
        check_input(CODEX_PARAMS, {**inp, "slotRoot": str(roots[1])})


def test_slot_too_deep_for_the_parameters_is_refused():
    """maxDepth bounds the slot: 2^maxDepth cells of 2 KiB (a 16-deep circuit: 128 MiB)."""
    small = CircuitParams(max_depth=6, max_log2_n_slots=2)
    assert DEV.max_slot_bytes == 128 << 20
    data = [bytes(4 * BLOCK_BYTES)]
    tree = layout.slot_tree(data[0])
    with pytest.raises(LayoutError, match="maxDepth"):
        circuit_input(small, 1, 0, [tree.root], tree, lambda b: bytes(BLOCK_BYTES))
