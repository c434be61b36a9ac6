"""The development circuit for Codex's statement accepts exactly the inputs Python builds.

proofs/circuits/codex/codex_storage.circom (CodexStorageProof(16, 8, 5, 67, 5)) and
proofs/poseidon2/circuit_input.py were both written from Codex's spec; computing witnesses with
the committed wasm checks they agree: valid inputs (odd nodes in a 5-slot dataset tree, a
one-slot dataset of a one-block slot, a slot padded with zero blocks) give a witness, and a
changed cell element, a wrong slot root or a sampled index moved by one do not. The wasm checks
every `===` while computing the witness, so no proving key is needed here.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from proofs.circuits.codex import build
from proofs.poseidon2 import layout
from proofs.poseidon2.circuit_input import CircuitParams, circuit_input
from proofs.poseidon2.layout import BLOCK_BYTES

REPO = Path(__file__).resolve().parents[2]
WASM = REPO / "proofs" / "circuits" / "codex" / "artifacts" / "codex_storage.wasm"
PARAMS = CircuitParams(max_depth=16, max_log2_n_slots=8, n_samples=5)

CHECK = """
const snarkjs = require("snarkjs");
(async () => {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const job = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const out = [];
  for (const input of job.inputs) {
    try { await snarkjs.wtns.calculate(input, job.wasm, { type: "mem" }); out.push(true); }
    catch (e) { out.push(false); }
  }
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
})();
"""


def witnesses(inputs: list[dict[str, Any]]) -> list[bool]:
    job = json.dumps({"wasm": str(WASM), "inputs": inputs})
    done = subprocess.run(
        ["node", "-e", CHECK], input=job.encode(), cwd=REPO, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def make(n_slots: int, blocks: int, size: int, index: int, entropy: int) -> dict[str, Any]:
    rnd = random.Random(n_slots * 100 + blocks)
    data = [rnd.randbytes(size) for _ in range(n_slots)]
    trees = [layout.slot_tree(d) for d in data]
    assert trees[index].n_blocks == blocks
    return circuit_input(
        PARAMS,
        entropy,
        index,
        [t.root for t in trees],
        trees[index],
        lambda b: data[index][b * BLOCK_BYTES : (b + 1) * BLOCK_BYTES],
    )


@pytest.mark.skipif(not WASM.exists(), reason="build with python -m proofs.circuits.codex.build")
def test_circuit_accepts_python_inputs_and_rejects_tampered_ones() -> None:
    """Odd nodes, singletons and zero-block padding agree; any tampering fails the witness."""
    five = make(5, 2, 2 * BLOCK_BYTES, 4, 2**200 + 5)
    one = make(1, 1, 5000, 0, 99)
    padded = make(3, 4, 3 * BLOCK_BYTES - 100, 1, 1234567)
    bad_cell = {**five, "cellData": [["7", *five["cellData"][0][1:]], *five["cellData"][1:]]}
    bad_root = {**padded, "slotRoot": str(int(padded["slotRoot"]) + 1)}
    moved = [list(p) for p in padded["merklePaths"]]
    moved[0][0], moved[1][0] = moved[1][0], moved[0][0]
    bad_path = {**padded, "merklePaths": moved}
    results = witnesses([five, one, padded, bad_cell, bad_root, bad_path])
    assert results == [True, True, True, False, False, False]


def test_committed_wasm_is_compiled_from_the_committed_sources() -> None:
    """Editing the .circom files (or the parameters) without rebuilding the wasm fails here:
    run `python -m proofs.circuits.codex.build --compile-only`."""
    assert (WASM.parent / "SOURCES.sha256").read_text() == build.source_sums()


def test_circuit_round_constants_are_the_reference_ones() -> None:
    """poseidon2_constants.circom holds exactly proofs/poseidon2/constants.py, in order."""
    import re

    from proofs.poseidon2 import constants

    text = (REPO / "proofs" / "circuits" / "codex" / "poseidon2_constants.circom").read_text()
    numbers = [int(n) for n in re.findall(r"\b\d{20,}\b", text)]
    assert numbers == [*constants.INITIAL, *constants.INTERNAL, *constants.FINAL]
