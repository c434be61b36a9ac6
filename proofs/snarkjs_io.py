"""snarkjs JSON <-> our types: proof.json, public.json and verification_key.json.

snarkjs writes G2 coordinates as `[[x0, x1], [y0, y1], ["1", "0"]]` with x = x0 + x1·u; Codex's
`G2ToStruct` maps x0 -> real, x1 -> imag (MARKETPLACE_ABI.md §11). Points are affine with a
trailing projective "1" (G1) or ["1", "0"] (G2), which we check and drop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proofs.types import Fp2, G1Point, G2Point, Groth16Proof


class SnarkjsFormatError(ValueError):
    """A snarkjs JSON document that does not have the expected shape."""


Affine1 = tuple[int, int]
Affine2 = tuple[tuple[int, int], tuple[int, int]]  # ((x.real, x.imag), (y.real, y.imag))


@dataclass(frozen=True)
class VerificationKey:
    """A Groth16 BN254 verification key; G2 values as ((real, imag), (real, imag))."""

    alpha1: Affine1
    beta2: Affine2
    gamma2: Affine2
    delta2: Affine2
    ic: tuple[Affine1, ...]

    @property
    def n_public(self) -> int:
        return len(self.ic) - 1


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SnarkjsFormatError(f"expected a decimal string, got {value!r}")
    try:
        result = int(value)
    except ValueError as e:
        raise SnarkjsFormatError(f"not a decimal integer: {value!r}") from e
    if result < 0:
        raise SnarkjsFormatError(f"negative field value: {value!r}")
    return result


def _g1(raw: Any) -> Affine1:
    if not isinstance(raw, list) or len(raw) not in (2, 3):
        raise SnarkjsFormatError(f"G1 point must be [x, y, '1'], got {raw!r}")
    if len(raw) == 3 and _int(raw[2]) != 1:
        raise SnarkjsFormatError("G1 point is not affine (z != 1)")
    return _int(raw[0]), _int(raw[1])


def _g2(raw: Any) -> Affine2:
    if not isinstance(raw, list) or len(raw) not in (2, 3):
        raise SnarkjsFormatError(f"G2 point must be [[x0,x1],[y0,y1],['1','0']], got {raw!r}")
    pairs = []
    for coord in raw:
        if not isinstance(coord, list) or len(coord) != 2:
            raise SnarkjsFormatError(f"G2 coordinate must be a pair, got {coord!r}")
        pairs.append((_int(coord[0]), _int(coord[1])))
    if len(pairs) == 3 and pairs[2] != (1, 0):
        raise SnarkjsFormatError("G2 point is not affine (z != 1)")
    return pairs[0], pairs[1]


def proof_from_snarkjs(doc: dict[str, Any]) -> Groth16Proof:
    """proof.json (pi_a, pi_b, pi_c) -> Groth16Proof in Codex order."""
    try:
        a, b, c = _g1(doc["pi_a"]), _g2(doc["pi_b"]), _g1(doc["pi_c"])
    except KeyError as e:
        raise SnarkjsFormatError(f"proof.json lacks {e}") from e
    return Groth16Proof(
        a=G1Point(x=a[0], y=a[1]),
        b=G2Point(x=Fp2(real=b[0][0], imag=b[0][1]), y=Fp2(real=b[1][0], imag=b[1][1])),
        c=G1Point(x=c[0], y=c[1]),
    )


def proof_to_snarkjs(proof: Groth16Proof) -> dict[str, Any]:
    """Groth16Proof -> proof.json shape (decimal strings, projective 1s)."""
    return {
        "pi_a": [str(proof.a.x), str(proof.a.y), "1"],
        "pi_b": [
            [str(proof.b.x.real), str(proof.b.x.imag)],
            [str(proof.b.y.real), str(proof.b.y.imag)],
            ["1", "0"],
        ],
        "pi_c": [str(proof.c.x), str(proof.c.y), "1"],
        "protocol": "groth16",
        "curve": "bn128",
    }


def public_from_snarkjs(doc: Any) -> list[int]:
    if not isinstance(doc, list):
        raise SnarkjsFormatError("public.json must be a list of decimal strings")
    return [_int(v) for v in doc]


def vk_from_snarkjs(doc: dict[str, Any]) -> VerificationKey:
    if doc.get("protocol") != "groth16" or doc.get("curve") not in ("bn128", "bn254"):
        raise SnarkjsFormatError("verification key is not groth16 over bn128")
    try:
        vk = VerificationKey(
            alpha1=_g1(doc["vk_alpha_1"]),
            beta2=_g2(doc["vk_beta_2"]),
            gamma2=_g2(doc["vk_gamma_2"]),
            delta2=_g2(doc["vk_delta_2"]),
            ic=tuple(_g1(p) for p in doc["IC"]),
        )
    except KeyError as e:
        raise SnarkjsFormatError(f"verification key lacks {e}") from e
    if "nPublic" in doc and _int(doc["nPublic"]) != vk.n_public:
        raise SnarkjsFormatError("nPublic does not match the IC length")
    return vk


def load_verification_key(path: str | Path) -> VerificationKey:
    return vk_from_snarkjs(json.loads(Path(path).read_text()))


def load_proof(path: str | Path) -> Groth16Proof:
    return proof_from_snarkjs(json.loads(Path(path).read_text()))


def load_public(path: str | Path) -> list[int]:
    return public_from_snarkjs(json.loads(Path(path).read_text()))
