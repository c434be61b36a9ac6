"""Groth16 (BN254) verification in Python with py_ecc, mirroring Codex's Groth16Verifier.sol.

Same decisions as the contract (MARKETPLACE_ABI.md §11): wrong input count or an input >= R
returns False; the pairing check is e(-A,B)·e(alpha1,beta2)·e(vk_x,gamma2)·e(C,delta2) == 1.
Where the EVM precompiles would revert (coordinate >= P, point off the curve or outside the G2
subgroup) we raise :class:`MalformedProofError` so the caller learns why. (0, 0) encodes the
point at infinity, as in the precompiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from py_ecc.fields import optimized_bn128_FQ as FQ
from py_ecc.fields import optimized_bn128_FQ2 as FQ2
from py_ecc.fields import optimized_bn128_FQ12 as FQ12
from py_ecc.optimized_bn128.optimized_curve import (
    Z1,
    Z2,
    add,
    b,
    b2,
    curve_order,
    is_inf,
    is_on_curve,
    multiply,
    neg,
)
from py_ecc.optimized_bn128.optimized_pairing import final_exponentiate, pairing

from proofs.public_inputs import BN254_BASE_FIELD, SNARK_SCALAR_FIELD
from proofs.snarkjs_io import Affine1, Affine2, VerificationKey
from proofs.types import Groth16Proof

assert curve_order == SNARK_SCALAR_FIELD


class MalformedProofError(ValueError):
    """A proof or key point that the EVM precompiles would reject (the verify call reverts)."""


def _fq(value: int, what: str) -> int:
    if not 0 <= value < BN254_BASE_FIELD:
        raise MalformedProofError(f"{what}: coordinate {value} is not below the base field order")
    return value


def _g1(point: Affine1, what: str) -> Any:
    x, y = _fq(point[0], what), _fq(point[1], what)
    if x == 0 and y == 0:
        return Z1
    p = (FQ(x), FQ(y), FQ(1))
    if not is_on_curve(p, b):
        raise MalformedProofError(f"{what}: G1 point is not on the curve")
    return p


def _g2(point: Affine2, what: str) -> Any:
    (xr, xi), (yr, yi) = point
    coords = [_fq(v, what) for v in (xr, xi, yr, yi)]
    if not any(coords):
        return Z2
    p = (FQ2([coords[0], coords[1]]), FQ2([coords[2], coords[3]]), FQ2.one())
    if not is_on_curve(p, b2):
        raise MalformedProofError(f"{what}: G2 point is not on the twist curve")
    if not is_inf(multiply(p, curve_order)):
        raise MalformedProofError(f"{what}: G2 point is not in the prime-order subgroup")
    return p


def _proof_b(proof: Groth16Proof) -> Affine2:
    return (proof.b.x.real, proof.b.x.imag), (proof.b.y.real, proof.b.y.imag)


@dataclass(frozen=True)
class _PreparedKey:
    alpha1: Any
    beta2: Any
    gamma2: Any
    delta2: Any
    ic: tuple[Any, ...]


@lru_cache(maxsize=8)
def _prepare(vk: VerificationKey) -> _PreparedKey:
    """Validate and convert a key once; the G2 subgroup checks are the expensive part."""
    return _PreparedKey(
        alpha1=_g1(vk.alpha1, "vk.alpha1"),
        beta2=_g2(vk.beta2, "vk.beta2"),
        gamma2=_g2(vk.gamma2, "vk.gamma2"),
        delta2=_g2(vk.delta2, "vk.delta2"),
        ic=tuple(_g1(p, f"vk.IC[{i}]") for i, p in enumerate(vk.ic)),
    )


def verify(vk: VerificationKey, proof: Groth16Proof, public: list[int]) -> bool:
    """True iff the proof is valid for these public inputs. CPU-bound (~1-2 s): run off the loop."""
    if len(public) != vk.n_public:
        return False
    if any(not 0 <= v < SNARK_SCALAR_FIELD for v in public):
        return False
    key = _prepare(vk)
    a = _g1((proof.a.x, proof.a.y), "proof.a")
    bp = _g2(_proof_b(proof), "proof.b")
    c = _g1((proof.c.x, proof.c.y), "proof.c")

    vk_x = key.ic[0]
    for i, value in enumerate(public):
        vk_x = add(vk_x, multiply(key.ic[i + 1], value))

    pairs = [(bp, neg(a)), (key.beta2, key.alpha1), (key.gamma2, vk_x), (key.delta2, c)]
    acc = FQ12.one()
    for q, p in pairs:
        if is_inf(q) or is_inf(p):
            continue  # e(O, Q) = e(P, O) = 1
        acc = acc * pairing(q, p, final_exponentiate=False)
    return bool(final_exponentiate(acc) == FQ12.one())
