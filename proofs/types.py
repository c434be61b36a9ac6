"""Groth16 proof types in Codex's struct order (MARKETPLACE_ABI.md §1, §11).

`Groth16Proof = (G1Point a, G2Point b, G1Point c)`, `G2Point = (Fp2 x, Fp2 y)`,
`Fp2 = (real, imag)`; ABI-encoded as 8 static words a.x, a.y, b.x.real, b.x.imag, b.y.real,
b.y.imag, c.x, c.y. Dependency-light on purpose (pydantic only) so `sales/` can re-export it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

AbiProof = tuple[tuple[int, int], tuple[tuple[int, int], tuple[int, int]], tuple[int, int]]
Uint256 = Annotated[int, Field(ge=0, le=2**256 - 1, strict=True)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class G1Point(_Frozen):
    x: Uint256
    y: Uint256


class Fp2(_Frozen):
    """An element real + imag·u of the quadratic extension field."""

    real: Uint256
    imag: Uint256


class G2Point(_Frozen):
    x: Fp2
    y: Fp2


class Groth16Proof(_Frozen):
    a: G1Point
    b: G2Point
    c: G1Point

    def abi_words(self) -> tuple[int, ...]:
        """The 8 static ABI words in the contract's tuple order."""
        return (
            self.a.x,
            self.a.y,
            self.b.x.real,
            self.b.x.imag,
            self.b.y.real,
            self.b.y.imag,
            self.c.x,
            self.c.y,
        )

    def abi_tuple(self) -> AbiProof:
        """Nested tuples for web3/eth-abi, ABI type
        `((uint256,uint256),((uint256,uint256),(uint256,uint256)),(uint256,uint256))`."""
        return (
            (self.a.x, self.a.y),
            ((self.b.x.real, self.b.x.imag), (self.b.y.real, self.b.y.imag)),
            (self.c.x, self.c.y),
        )

    @classmethod
    def zero(cls) -> Groth16Proof:
        """The all-zero proof; every verifier rejects it (MARKETPLACE_ABI.md §11)."""
        zero2 = Fp2(real=0, imag=0)
        return cls(a=G1Point(x=0, y=0), b=G2Point(x=zero2, y=zero2), c=G1Point(x=0, y=0))
