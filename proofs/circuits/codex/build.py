"""Build the development circuit for Codex's statement and its Groth16 setup, ONCE.

    .venv/bin/python -m proofs.circuits.codex.build [--compile-only] [--force]

`codex_storage.circom` instantiated as `CodexStorageProof(16, 8, 5, 67, 5)`: slots up to 2^16
cells (128 MiB), datasets up to 256 slots, 5 samples; 67,401 non-linear constraints with --O2,
so powers of tau 2^17. The ceremony (phase 1 + `prepare phase2`, then the circuit's phase 2) takes
tens of minutes on 2 cores: it is never run in CI or tests. Both phases have one contributor with
a fixed public entropy string: the toxic waste is KNOWN and anyone can forge proofs. Development
chains only, like proofs/circuits/README.md says of the older development circuit.

Writes proofs/circuits/codex/artifacts/: codex_storage.wasm (committed even with --compile-only:
tests compute witnesses with it) with SOURCES.sha256 (what it was compiled from; a test fails
when a .circom file changes without a rebuild), and after the setup codex_storage_final.zkey,
verification_key.json and SHA256SUMS. The build directory (ptau, r1cs) is not committed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
BUILD = HERE / "build"
ARTIFACTS = HERE / "artifacts"
NAME = "codex_storage"
PARAMS = (16, 8, 5, 67, 5)  # maxDepth, maxLog2NSlots, blockTreeDepth, nFieldElemsPerCell, nSamples
PTAU_POWER = 17
ENTROPY = "codex-sales-temporal development ceremony for Codex's statement - NOT SECURE"


class BuildError(RuntimeError):
    """A build step failed or produced an unusable file."""


def _bin(name: str) -> str:
    path = REPO / "node_modules" / ".bin" / name
    if not path.exists():
        raise BuildError(f"{path} is missing: run `npm ci` in the repository root")
    return str(path)


def _run(args: list[str]) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, cwd=BUILD, check=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _require(path: Path, min_bytes: int) -> None:
    if not path.exists() or path.stat().st_size < min_bytes:
        raise BuildError(f"{path.name} is missing or too small; powers of tau too small?")


def compile_circuit() -> Path:
    """circom2 --O2 into BUILD; copies the wasm into ARTIFACTS; returns the r1cs."""
    BUILD.mkdir(exist_ok=True)
    lib = BUILD / "circomlib" / "circuits"
    if lib.exists():
        shutil.rmtree(lib)
    shutil.copytree(REPO / "node_modules" / "circomlib" / "circuits", lib)
    for src in HERE.glob("*.circom"):
        shutil.copy(src, BUILD / src.name)
    main = BUILD / f"{NAME}_main.circom"
    params = ", ".join(str(p) for p in PARAMS)
    main.write_text(
        "pragma circom 2.1.0;\n"
        'include "codex_storage.circom";\n'
        "component main {public [entropy, dataSetRoot, slotIndex]} = "
        f"CodexStorageProof({params});\n"
    )
    _run([_bin("circom2"), main.name, "--r1cs", "--wasm", "--O2", "-o", "."])
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(BUILD / f"{NAME}_main_js" / f"{NAME}_main.wasm", ARTIFACTS / f"{NAME}.wasm")
    (ARTIFACTS / "SOURCES.sha256").write_text(source_sums())
    return BUILD / f"{NAME}_main.r1cs"


def source_sums() -> str:
    """SHA-256 of the circuit sources and parameters the committed wasm was compiled from."""
    lines = [f"{_sha256(src)}  {src.name}\n" for src in sorted(HERE.glob("*.circom"))]
    params = hashlib.sha256(repr(PARAMS).encode()).hexdigest()
    return "".join(lines) + f"{params}  CodexStorageProof{PARAMS}\n"


def powers_of_tau() -> Path:
    final = BUILD / f"pot{PTAU_POWER}_final.ptau"
    if final.exists():
        return final
    snarkjs = _bin("snarkjs")
    p0, p1 = f"pot{PTAU_POWER}_0000.ptau", f"pot{PTAU_POWER}_0001.ptau"
    _run([snarkjs, "powersoftau", "new", "bn128", str(PTAU_POWER), p0])
    _run([snarkjs, "powersoftau", "contribute", p0, p1, "--name=dev", f"-e={ENTROPY}"])
    partial = final.with_suffix(".partial")
    _run([snarkjs, "powersoftau", "prepare", "phase2", p1, partial.name])
    _require(partial, 10_000_000)
    partial.rename(final)
    return final


def setup(r1cs: Path, ptau: Path) -> dict[str, str]:
    snarkjs = _bin("snarkjs")
    zkey0, final = BUILD / f"{NAME}_0000.zkey", BUILD / f"{NAME}_final.zkey"
    for stale in (zkey0, final):
        stale.unlink(missing_ok=True)
    _run([snarkjs, "groth16", "setup", r1cs.name, ptau.name, zkey0.name])
    _require(zkey0, 1_000_000)
    _run([snarkjs, "zkey", "contribute", zkey0.name, final.name, "--name=dev", f"-e={ENTROPY} 2"])
    _require(final, 1_000_000)
    _run([snarkjs, "zkey", "export", "verificationkey", final.name, "verification_key.json"])
    if json.loads((BUILD / "verification_key.json").read_text()).get("nPublic") != 3:
        raise BuildError("the verification key does not have 3 public inputs")
    shutil.copy(final, ARTIFACTS / f"{NAME}_final.zkey")
    shutil.copy(BUILD / "verification_key.json", ARTIFACTS / "verification_key.json")
    sums = {
        name: _sha256(ARTIFACTS / name)
        for name in (f"{NAME}.wasm", f"{NAME}_final.zkey", "verification_key.json")
    }
    sums[f"{ptau.name} (not committed)"] = _sha256(ptau)
    sums[f"{r1cs.name} (not committed)"] = _sha256(r1cs)
    for src in sorted(HERE.glob("*.circom")):
        sums[src.name] = _sha256(src)
    (ARTIFACTS / "SHA256SUMS").write_text("".join(f"{d}  {n}\n" for n, d in sums.items()))
    return sums


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compile-only", action="store_true", help="only the wasm (no setup)")
    parser.add_argument("--force", action="store_true", help="overwrite a committed setup")
    args = parser.parse_args(argv)
    if (ARTIFACTS / "verification_key.json").exists() and not (args.force or args.compile_only):
        print("a setup exists; pass --force to make a NEW one (the verifier's key changes)")
        return 1
    r1cs = compile_circuit()
    if args.compile_only:
        return 0
    for name, digest in setup(r1cs, powers_of_tau()).items():
        print(f"{digest}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
