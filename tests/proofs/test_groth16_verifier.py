"""py_ecc Groth16 verifier against Codex's real hardhat vector (MARKETPLACE_ABI.md §11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proofs.public_inputs import BN254_BASE_FIELD, SNARK_SCALAR_FIELD
from proofs.snarkjs_io import (
    SnarkjsFormatError,
    VerificationKey,
    load_proof,
    load_public,
    load_verification_key,
    proof_from_snarkjs,
    proof_to_snarkjs,
)
from proofs.types import Fp2, G1Point, G2Point, Groth16Proof
from proofs.verifier import MalformedProofError, verify

VECTORS = Path("/work/shared/vectors/codex-hardhat-groth16")
COORDS = ["a.x", "a.y", "b.x.real", "b.x.imag", "b.y.real", "b.y.imag", "c.x", "c.y"]


@pytest.fixture(scope="module")
def vk() -> VerificationKey:
    return load_verification_key(VECTORS / "verification_key.json")


@pytest.fixture(scope="module")
def proof() -> Groth16Proof:
    return load_proof(VECTORS / "proof.json")


@pytest.fixture(scope="module")
def public() -> list[int]:
    return load_public(VECTORS / "public.json")


def with_words(words: list[int]) -> Groth16Proof:
    return Groth16Proof(
        a=G1Point(x=words[0], y=words[1]),
        b=G2Point(x=Fp2(real=words[2], imag=words[3]), y=Fp2(real=words[4], imag=words[5])),
        c=G1Point(x=words[6], y=words[7]),
    )


def test_codex_vector_verifies(vk: VerificationKey, proof: Groth16Proof, public: list[int]) -> None:
    assert vk.n_public == 3
    assert verify(vk, proof, public) is True


def test_g2_mapping_is_x0_real_x1_imag(proof: Groth16Proof) -> None:
    raw = json.loads((VECTORS / "proof.json").read_text())
    assert proof.b.x.real == int(raw["pi_b"][0][0])
    assert proof.b.x.imag == int(raw["pi_b"][0][1])
    assert proof.b.y.real == int(raw["pi_b"][1][0])
    assert proof.b.y.imag == int(raw["pi_b"][1][1])
    assert proof.abi_words()[2:6] == (
        proof.b.x.real,
        proof.b.x.imag,
        proof.b.y.real,
        proof.b.y.imag,
    )
    assert proof_from_snarkjs(proof_to_snarkjs(proof)) == proof


@pytest.mark.parametrize("index", [0, 1, 2])
def test_each_tampered_public_input_fails(
    vk: VerificationKey, proof: Groth16Proof, public: list[int], index: int
) -> None:
    tampered = list(public)
    tampered[index] += 1
    assert verify(vk, proof, tampered) is False


@pytest.mark.parametrize("index", [0, 1, 2])
def test_public_input_at_or_above_field_order_fails(
    vk: VerificationKey, proof: Groth16Proof, public: list[int], index: int
) -> None:
    # x + R is the same field element: only the range check can refuse it, as the contract does
    tampered = list(public)
    tampered[index] += SNARK_SCALAR_FIELD
    assert verify(vk, proof, tampered) is False


def test_wrong_number_of_inputs_fails(
    vk: VerificationKey, proof: Groth16Proof, public: list[int]
) -> None:
    assert verify(vk, proof, public[:2]) is False
    assert verify(vk, proof, [*public, 0]) is False


@pytest.mark.parametrize("index", range(8), ids=COORDS)
def test_each_tampered_coordinate_is_rejected(
    vk: VerificationKey, proof: Groth16Proof, public: list[int], index: int
) -> None:
    words = list(proof.abi_words())
    words[index] = (words[index] + 1) % BN254_BASE_FIELD
    # +1 moves the point off the curve: the EVM precompile would revert, we raise
    with pytest.raises(MalformedProofError, match="not on the"):
        verify(vk, with_words(words), public)


@pytest.mark.parametrize("index", range(8), ids=COORDS)
def test_coordinate_at_or_above_base_field_is_rejected(
    vk: VerificationKey, proof: Groth16Proof, public: list[int], index: int
) -> None:
    words = list(proof.abi_words())
    words[index] += BN254_BASE_FIELD
    with pytest.raises(MalformedProofError, match="base field"):
        verify(vk, with_words(words), public)


def test_valid_points_that_are_not_the_proof_fail(
    vk: VerificationKey, proof: Groth16Proof, public: list[int]
) -> None:
    # swap A and C: both on the curve, so only the pairing check can catch it
    swapped = proof.model_copy(update={"a": proof.c, "c": proof.a})
    assert verify(vk, swapped, public) is False


def test_swapped_g2_real_imag_is_rejected(
    vk: VerificationKey, proof: Groth16Proof, public: list[int]
) -> None:
    b = proof.b
    swapped = G2Point(x=Fp2(real=b.x.imag, imag=b.x.real), y=Fp2(real=b.y.imag, imag=b.y.real))
    with pytest.raises(MalformedProofError):
        verify(vk, proof.model_copy(update={"b": swapped}), public)


def test_all_zero_proof_fails(vk: VerificationKey, public: list[int]) -> None:
    assert verify(vk, Groth16Proof.zero(), public) is False


def test_uint256_range_is_enforced_by_the_model() -> None:
    with pytest.raises(ValueError):
        G1Point(x=2**256, y=0)
    with pytest.raises(ValueError):
        G1Point(x=-1, y=0)


def test_bad_snarkjs_json_is_a_typed_error() -> None:
    with pytest.raises(SnarkjsFormatError):
        proof_from_snarkjs({"pi_a": ["1", "2", "1"]})
    with pytest.raises(SnarkjsFormatError):
        proof_from_snarkjs({"pi_a": ["x", "2"], "pi_b": [], "pi_c": []})
