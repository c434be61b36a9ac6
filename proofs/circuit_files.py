"""Start-up checks of the prover's circuit files against each other and against the marketplace.

An operator points PROVER_WASM / PROVER_ZKEY / PROVER_R1CS / PROVER_VK at a circuit's files
(the development circuit by default, or Codex's published production files, as nim-codex takes
`--circom-wasm/--circom-zkey/--circom-r1cs`). A worker that would produce proofs the chain
rejects must not start, so `check_circuit_files` reads the files' headers and refuses:

- a zkey that is not Groth16 over BN254, or whose number of public inputs is not 3
  (`[entropy, dataSetRoot, slotIndex]`);
- a verification key (PROVER_VK, used to check every proof locally before it is submitted)
  that is not the zkey's own (alpha1, beta2, gamma2, delta2 and the public-input count);
- an R1CS (optional) over another field or with another number of public inputs;
- a zkey whose SHA-256 is not the marketplace's `configuration().proofs.zkeyHash`, when the
  marketplace carries one. Codex's ceremony names its published proving key by that hash
  (nim-codex fetches the files by it); the sources read here do not show how the hash is
  derived, so SHA-256 of the .zkey file is this project's assumption, and an operator can state
  the key's published name instead (PROVER_ZKEY_HASH, `zkey_id`). The development marketplace
  carries "", and then only the file-consistency checks apply.

Formats: snarkjs's binary files, "zkey"/"r1cs" magic, then (type u32, size u64, body) sections;
field elements little-endian, zkey points in Montgomery form (x * 2^256 mod q).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from proofs.public_inputs import BN254_BASE_FIELD, SNARK_SCALAR_FIELD
from proofs.snarkjs_io import Affine1, Affine2, VerificationKey

N_PUBLIC = 3


class CircuitFileError(ValueError):
    """Circuit files that do not fit together or do not match the marketplace's verifier."""


def _sections(f: BinaryIO, magic: bytes) -> dict[int, tuple[int, int]]:
    head = f.read(12)
    if len(head) < 12 or head[:4] != magic:
        raise CircuitFileError(f"not a snarkjs {magic.decode()} file")
    (n_sections,) = struct.unpack("<I", head[8:12])
    sections: dict[int, tuple[int, int]] = {}
    for _ in range(n_sections):
        raw = f.read(12)
        if len(raw) < 12:
            raise CircuitFileError(f"truncated {magic.decode()} file")
        kind, size = struct.unpack("<IQ", raw)
        sections.setdefault(kind, (f.tell(), size))
        f.seek(size, 1)
    return sections


@dataclass(frozen=True)
class ZkeyHeader:
    n_public: int
    domain_size: int
    alpha1: Affine1
    beta2: Affine2
    gamma2: Affine2
    delta2: Affine2


def read_zkey_header(path: Path) -> ZkeyHeader:
    with path.open("rb") as f:
        sections = _sections(f, b"zkey")
        if 1 not in sections or 2 not in sections:
            raise CircuitFileError(f"{path}: no zkey header sections")
        f.seek(sections[1][0])
        (protocol,) = struct.unpack("<I", f.read(4))
        if protocol != 1:
            raise CircuitFileError(f"{path}: protocol {protocol} is not Groth16")
        f.seek(sections[2][0])
        (n8q,) = struct.unpack("<I", f.read(4))
        q = int.from_bytes(f.read(n8q), "little")
        (n8r,) = struct.unpack("<I", f.read(4))
        r = int.from_bytes(f.read(n8r), "little")
        if (q, r) != (BN254_BASE_FIELD, SNARK_SCALAR_FIELD):
            raise CircuitFileError(f"{path}: not a BN254 key")
        _n_vars, n_public, domain_size = struct.unpack("<III", f.read(12))
        r_inv = pow(1 << (8 * n8q), -1, q)

        def elems(n: int) -> list[int]:
            raw = f.read(n * n8q)
            return [
                int.from_bytes(raw[i * n8q : (i + 1) * n8q], "little") * r_inv % q for i in range(n)
            ]

        def g2() -> Affine2:
            x0, x1, y0, y1 = elems(4)
            return (x0, x1), (y0, y1)

        a = elems(2)
        alpha1 = (a[0], a[1])
        elems(2)  # beta1
        beta2 = g2()
        gamma2 = g2()
        elems(2)  # delta1
        delta2 = g2()
    return ZkeyHeader(n_public, domain_size, alpha1, beta2, gamma2, delta2)


@dataclass(frozen=True)
class R1csHeader:
    prime: int
    n_wires: int
    n_pub_out: int
    n_pub_in: int
    n_prv_in: int
    n_constraints: int

    @property
    def n_public(self) -> int:
        return self.n_pub_out + self.n_pub_in


def read_r1cs_header(path: Path) -> R1csHeader:
    with path.open("rb") as f:
        sections = _sections(f, b"r1cs")
        if 1 not in sections:
            raise CircuitFileError(f"{path}: no r1cs header section")
        f.seek(sections[1][0])
        (n8,) = struct.unpack("<I", f.read(4))
        prime = int.from_bytes(f.read(n8), "little")
        n_wires, n_out, n_in, n_prv = struct.unpack("<IIII", f.read(16))
        _labels, n_constraints = struct.unpack("<QI", f.read(12))
    return R1csHeader(prime, n_wires, n_out, n_in, n_prv, n_constraints)


def zkey_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_circuit_files(
    zkey: Path,
    vk: VerificationKey,
    r1cs: Path | None = None,
    marketplace_zkey_hash: str | None = None,
    zkey_id: str | None = None,
) -> ZkeyHeader:
    """Raise CircuitFileError unless the files fit together (and the marketplace, if given)."""
    header = read_zkey_header(zkey)
    if header.n_public != N_PUBLIC:
        raise CircuitFileError(f"{zkey}: {header.n_public} public inputs, the marketplace uses 3")
    mine = (vk.alpha1, vk.beta2, vk.gamma2, vk.delta2, vk.n_public)
    theirs = (header.alpha1, header.beta2, header.gamma2, header.delta2, header.n_public)
    if mine != theirs:
        raise CircuitFileError(f"the verification key is not the one of {zkey}")
    if r1cs is not None:
        rh = read_r1cs_header(r1cs)
        if rh.prime != SNARK_SCALAR_FIELD or rh.n_public != N_PUBLIC:
            raise CircuitFileError(f"{r1cs}: not a BN254 circuit with 3 public inputs")
    if marketplace_zkey_hash:
        want = marketplace_zkey_hash.lower().removeprefix("0x")
        got = zkey_id.lower().removeprefix("0x") if zkey_id else zkey_sha256(zkey)
        if got != want:
            raise CircuitFileError(
                f"{zkey} is {got}, the marketplace's verifier configuration names zkeyHash {want}"
            )
    return header
