"""Groth16 proof types in Codex's struct order (MARKETPLACE_ABI.md §1, §11).

One definition serves the whole project: the domain's (`sales.models`), re-exported here under
the names the proofs room uses. `Groth16Proof = (G1Point a, G2Point b, G1Point c)`,
`G2Point = (Fp2 x, Fp2 y)`, `Fp2 = (real, imag)`; ABI-encoded as 8 static words.
"""

from sales.models import Fp2Element as Fp2
from sales.models import G1Point, G2Point, Groth16Proof

AbiProof = tuple[object, ...]

__all__ = ["AbiProof", "Fp2", "G1Point", "G2Point", "Groth16Proof"]
