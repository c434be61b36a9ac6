"""Proof timings: py_ecc verification and snarkjs proving (witness + Groth16) of the dev circuit.

    .venv/bin/python benchmarks/bench_proofs.py [--runs 3]

Prints the median of --runs for: py_ecc verification of Codex's real vector and of a dev proof,
witness + prove through the snarkjs backend (a node subprocess per proof, as onProve runs it),
and the Python side of onProve (commitment tree + witness input).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proofs import commitment
from proofs.prover import ProverConfig, SnarkjsBackend
from proofs.public_inputs import public_inputs
from proofs.snarkjs_io import load_proof, load_public, load_verification_key
from proofs.verifier import verify

CODEX_VECTOR = Path("/work/shared/vectors/codex-hardhat-groth16")


def timed(runs: int, fn: Callable[[], object]) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = args.runs

    if CODEX_VECTOR.exists():
        vk = load_verification_key(CODEX_VECTOR / "verification_key.json")
        proof = load_proof(CODEX_VECTOR / "proof.json")
        public = load_public(CODEX_VECTOR / "public.json")
        verify(vk, proof, public)  # warm the key cache (G2 subgroup checks)
        secs = timed(runs, lambda: verify(vk, proof, public))
        print(f"py_ecc verify, Codex vector:          {secs:6.2f} s")

    config = ProverConfig()
    dev_vk = load_verification_key(config.vk)
    backend = SnarkjsBackend(config.wasm, config.zkey)
    data = os.urandom(commitment.MAX_SLOT_BYTES * 2)
    committed = commitment.commit_dataset(data, 2)
    slot = commitment.split_slots(data, 2, committed.slot_size)[1]
    challenge = os.urandom(32)
    public = public_inputs(challenge, committed.merkle_root, 1)

    secs = timed(runs, lambda: commitment.witness_input(slot, 1, committed.slot_roots, public[0]))
    print(f"witness input in Python (full slot):  {secs:6.2f} s")
    circuit_input = commitment.witness_input(slot, 1, committed.slot_roots, public[0])

    results = []

    def prove() -> None:
        results.append(asyncio.run(backend.prove(circuit_input)))

    secs = timed(runs, prove)
    print(f"snarkjs witness + prove (subprocess): {secs:6.2f} s")
    proof, _ = results[-1]
    verify(dev_vk, proof, public)
    secs = timed(runs, lambda: verify(dev_vk, proof, public))
    print(f"py_ecc verify, dev proof:             {secs:6.2f} s")
    assert verify(dev_vk, proof, public)


if __name__ == "__main__":
    main()
