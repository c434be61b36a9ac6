"""Proof costs at the development parameters of Codex's statement (maxDepth 16, 5 samples).

    .venv/bin/python benchmarks/bench_codex_proof.py [--mib 16]

A slot of `--mib` MiB in Codex's layout: the time to build the circuit input from block hashes
and the sampled blocks (what onProve does), and the witness time with the committed wasm
(proofs/circuits/codex/artifacts). When the development setup exists (codex_storage_final.zkey),
also the Groth16 proof with snarkjs and its local verification; otherwise it says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proofs.poseidon2 import layout
from proofs.poseidon2.circuit_input import CircuitParams, circuit_input
from proofs.poseidon2.layout import BLOCK_BYTES
from proofs.prover import SnarkjsBackend, StorageProver
from proofs.snarkjs_io import load_verification_key

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "proofs" / "circuits" / "codex" / "artifacts"
PARAMS = CircuitParams(max_depth=16, max_log2_n_slots=8, n_samples=5)

WITNESS = """
const snarkjs = require("snarkjs");
(async () => {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const job = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const t0 = Date.now();
  await snarkjs.wtns.calculate(job.input, job.wasm, { type: "mem" });
  process.stdout.write(String((Date.now() - t0) / 1000));
  process.exit(0);
})();
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=16)
    args = parser.parse_args()
    size = args.mib << 20
    data = random.Random(16).randbytes(size)
    t0 = time.perf_counter()
    tree = layout.slot_tree(data)
    commit_s = time.perf_counter() - t0
    roots = [tree.root, 12345, 67890]

    def read_block(b: int) -> bytes:
        return data[b * BLOCK_BYTES : (b + 1) * BLOCK_BYTES]

    t0 = time.perf_counter()
    inp = circuit_input(PARAMS, 1234567, 0, roots, tree, read_block)
    input_s = time.perf_counter() - t0
    job = json.dumps({"wasm": str(ARTIFACTS / "codex_storage.wasm"), "input": inp})
    done = subprocess.run(
        ["node", "-e", WITNESS], input=job.encode(), cwd=REPO, capture_output=True, check=True
    )
    witness_s = float(done.stdout)
    print(
        f"codex statement (maxDepth 16, 5 samples), {args.mib} MiB slot: commitment "
        f"{commit_s:.1f} s, circuit input {input_s * 1000:.0f} ms, witness {witness_s:.2f} s "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    zkey = ARTIFACTS / "codex_storage_final.zkey"
    if not zkey.exists():
        print(
            "  no development setup committed yet (proofs/circuits/codex/README.md): no proof time"
        )
        return
    prover = StorageProver(
        SnarkjsBackend(ARTIFACTS / "codex_storage.wasm", zkey),
        load_verification_key(ARTIFACTS / "verification_key.json"),
        "codex",
        PARAMS,
    )
    expected = [int(inp["entropy"]), int(inp["dataSetRoot"]), 0]
    t0 = time.perf_counter()
    asyncio.run(prover.prove_input(inp, expected))
    print(f"  Groth16 witness + prove + local verify: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
