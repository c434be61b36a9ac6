"""Build the development storage-proof circuit and its Groth16 trusted setup, ONCE.

Run `python -m proofs.circuits.build` from the repository root. It writes the committed artifacts
(storage.wasm, storage_final.zkey, verification_key.json, SHA256SUMS) to proofs/circuits/artifacts/.
Tests and the prover only read those artifacts; they never redo the setup. Re-running this script
makes a NEW setup (new toxic waste, new verification key): the development contract must then be
redeployed with the new verification_key.json.

Known traps handled here (ARCHITECTURE.md §6): circom2 cannot see includes above its working
directory, so circomlib is copied into the build directory; `snarkjs groth16 setup` exits 0 with an
empty zkey when the powers of tau are too small, so the zkey file itself is checked.
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
REPO = HERE.parent.parent
BUILD = HERE / "build"
ARTIFACTS = HERE / "artifacts"
CIRCUIT = "storage"
PTAU_POWER = 13
# Public, fixed "entropy": this ceremony is for development only and its toxic waste is known.
DEV_ENTROPY = "codex-sales-temporal development ceremony - NOT SECURE"


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
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _require_file(path: Path, min_bytes: int) -> None:
    if not path.exists() or path.stat().st_size < min_bytes:
        size = path.stat().st_size if path.exists() else "missing"
        raise BuildError(f"{path.name} is unusable ({size} bytes); powers of tau too small?")


def powers_of_tau() -> Path:
    """A local, single-contributor powers of tau (2^13 supports < 8192 constraints)."""
    final = BUILD / f"pot{PTAU_POWER}_final.ptau"
    if final.exists():
        return final
    snarkjs = _bin("snarkjs")
    _run([snarkjs, "powersoftau", "new", "bn128", str(PTAU_POWER), f"pot{PTAU_POWER}_0000.ptau"])
    _run(
        [
            snarkjs,
            "powersoftau",
            "contribute",
            f"pot{PTAU_POWER}_0000.ptau",
            f"pot{PTAU_POWER}_0001.ptau",
            "--name=codex-sales-temporal dev",
            f"-e={DEV_ENTROPY}",
        ]
    )
    partial = final.with_suffix(".partial")
    _run([snarkjs, "powersoftau", "prepare", "phase2", f"pot{PTAU_POWER}_0001.ptau", partial.name])
    _require_file(partial, 1_000_000)
    partial.rename(final)  # only a complete file counts as done
    return final


def compile_circuit() -> None:
    lib = BUILD / "circomlib" / "circuits"
    if lib.exists():
        shutil.rmtree(lib)
    shutil.copytree(REPO / "node_modules" / "circomlib" / "circuits", lib)
    shutil.copy(HERE / f"{CIRCUIT}.circom", BUILD / f"{CIRCUIT}.circom")
    _run([_bin("circom2"), f"{CIRCUIT}.circom", "--r1cs", "--wasm", "--O2", "-o", "."])


def setup(ptau: Path) -> dict[str, str]:
    snarkjs = _bin("snarkjs")
    zkey0 = BUILD / f"{CIRCUIT}_0000.zkey"
    final = BUILD / f"{CIRCUIT}_final.zkey"
    for stale in (zkey0, final):
        stale.unlink(missing_ok=True)
    _run([snarkjs, "groth16", "setup", f"{CIRCUIT}.r1cs", ptau.name, zkey0.name])
    _require_file(zkey0, 100_000)
    _run(
        [
            snarkjs,
            "zkey",
            "contribute",
            zkey0.name,
            final.name,
            "--name=codex-sales-temporal dev",
            f"-e={DEV_ENTROPY} phase 2",
        ]
    )
    _require_file(final, 100_000)
    _run([snarkjs, "zkey", "export", "verificationkey", final.name, "verification_key.json"])
    vk = json.loads((BUILD / "verification_key.json").read_text())
    if vk.get("nPublic") != 3:
        raise BuildError(f"verification key has nPublic={vk.get('nPublic')}, expected 3")

    ARTIFACTS.mkdir(exist_ok=True)
    outputs = {
        f"{CIRCUIT}.wasm": BUILD / f"{CIRCUIT}_js" / f"{CIRCUIT}.wasm",
        f"{CIRCUIT}_final.zkey": final,
        "verification_key.json": BUILD / "verification_key.json",
    }
    sums: dict[str, str] = {}
    for name, src in outputs.items():
        shutil.copy(src, ARTIFACTS / name)
        sums[name] = _sha256(ARTIFACTS / name)
    sums[f"{ptau.name} (not committed)"] = _sha256(ptau)
    sums[f"{CIRCUIT}.circom"] = _sha256(HERE / f"{CIRCUIT}.circom")
    lines = [f"{digest}  {name}" for name, digest in sums.items()]
    (ARTIFACTS / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return sums


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite committed artifacts")
    args = parser.parse_args(argv)
    if (ARTIFACTS / "verification_key.json").exists() and not args.force:
        print("artifacts exist; pass --force to make a NEW setup (the contract vk changes)")
        return 1
    BUILD.mkdir(exist_ok=True)
    ptau = powers_of_tau()
    compile_circuit()
    for name, digest in setup(ptau).items():
        print(f"{digest}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
