"""The development circuit, its Python commitment and the snarkjs prover (proofs/circuits)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from proofs import commitment
from proofs.prover import (
    ProofVerificationError,
    SnarkjsBackend,
    StorageProver,
    WitnessError,
)
from proofs.public_inputs import SNARK_SCALAR_FIELD, entropy_from_challenge, public_inputs
from proofs.snarkjs_io import VerificationKey
from proofs.types import Groth16Proof
from proofs.verifier import verify

CHALLENGE = bytes.fromhex("5a" * 31 + "ff")
OTHER_CHALLENGE = bytes.fromhex("a5" * 32)
SLOT = 1


def test_light_poseidon_matches_circomlib_known_value() -> None:
    # circomlib/circomlibjs poseidon([1, 2])
    assert commitment.poseidon([1, 2]) == int(
        "115cc0f5e7d690413df64c6b9662e9cf2a3617f2743245519e19607a4417189a", 16
    )


def test_full_field_inputs_are_32_byte_big_endian() -> None:
    """light-poseidon reads each input as 32 bytes; which byte order matches circomlib is pinned
    by the witness tests below (full field elements only satisfy the circuit big-endian)."""
    from light_poseidon_python import Hasher  # type: ignore[import-untyped]

    big = SNARK_SCALAR_FIELD - 5
    hasher = Hasher(2)
    be = int(hasher.hash_bytes_be([big.to_bytes(32, "big"), (7).to_bytes(32, "big")]), 16)
    assert be == commitment.poseidon([big, 7])
    # the same integers given in the other byte order hash to something else
    swapped = int(hasher.hash_bytes_be([(7).to_bytes(32, "big"), big.to_bytes(32, "big")]), 16)
    assert be != swapped
    # read little-endian, the big-endian bytes of R - 5 are a different (out-of-field) number
    with pytest.raises(ValueError, match="modulus"):
        hasher.hash_bytes_le([big.to_bytes(32, "big"), (7).to_bytes(32, "big")])
    with pytest.raises(commitment.CommitmentError):
        commitment.poseidon([SNARK_SCALAR_FIELD, 1])


def test_commitment_paths_reach_the_dataset_root(
    committed: commitment.DatasetCommitment, slots: list[bytes]
) -> None:
    for index, slot in enumerate(slots):
        assert commitment.check_slot(slot, index, committed.slot_roots, committed.root)
    with pytest.raises(commitment.CommitmentError):
        commitment.check_slot(slots[0], 1, committed.slot_roots, committed.root)
    tampered = bytearray(slots[2])
    tampered[-1] ^= 1
    with pytest.raises(commitment.CommitmentError, match="does not match"):
        commitment.check_slot(bytes(tampered), 2, committed.slot_roots, committed.root)
    assert committed.merkle_root == committed.root.to_bytes(32, "little")


def good_input(committed: commitment.DatasetCommitment, slots: list[bytes]) -> dict[str, Any]:
    entropy = entropy_from_challenge(CHALLENGE)
    return commitment.witness_input(slots[SLOT], SLOT, committed.slot_roots, entropy)


@pytest.mark.slow
async def test_dev_proof_verifies_and_binds_its_public_inputs(
    dev_prover: StorageProver,
    dev_vk: VerificationKey,
    committed: commitment.DatasetCommitment,
    slots: list[bytes],
) -> None:
    """The circuit accepts the Python witness, so light-poseidon == circomlib Poseidon on full
    field elements (slot roots, entropy) and on 8-input cells."""
    proof = await dev_prover.prove(
        slots[SLOT], SLOT, committed.slot_roots, committed.merkle_root, CHALLENGE
    )
    public = public_inputs(CHALLENGE, committed.merkle_root, SLOT)
    assert verify(dev_vk, proof, public)
    # the same proof for another challenge or slot index is refused
    assert not verify(dev_vk, proof, public_inputs(OTHER_CHALLENGE, committed.merkle_root, SLOT))
    assert not verify(dev_vk, proof, [public[0], public[1], SLOT + 1])


def _tamper(inp: dict[str, Any], path: list[Any], value: str) -> dict[str, Any]:
    out = copy.deepcopy(inp)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("what", "path"),
    [
        ("wrong cell", ["cellData", 0, 3]),
        ("wrong path", ["merklePaths", 1, 4]),
        ("wrong slot path", ["slotProof", 2]),
        ("wrong challenge", ["entropy"]),
        ("wrong slot index", ["slotIndex"]),
        ("wrong root", ["dataSetRoot"]),
    ],
)
async def test_wrong_witness_cannot_be_proved(
    dev_backend: SnarkjsBackend,
    committed: commitment.DatasetCommitment,
    slots: list[bytes],
    what: str,
    path: list[Any],
) -> None:
    inp = good_input(committed, slots)
    value = inp
    for key in path:
        value = value[key]
    bad = _tamper(inp, path, str(int(value) + 1))  # type: ignore[call-overload]
    with pytest.raises(WitnessError, match="Assert Failed"):
        await dev_backend.prove(bad)


@pytest.mark.slow
async def test_data_of_another_slot_cannot_be_proved(
    dev_prover: StorageProver, committed: commitment.DatasetCommitment, slots: list[bytes]
) -> None:
    # the host claims slot 1 but stores slot 0's bytes: its slot root is not leaf 1
    with pytest.raises(WitnessError):
        await dev_prover.prove(
            slots[0], SLOT, committed.slot_roots, committed.merkle_root, CHALLENGE
        )


class _LyingBackend:
    """Returns a proof that does not verify, as a broken or malicious prover would."""

    def __init__(self, proof: Groth16Proof, public: list[int]) -> None:
        self.proof, self.public = proof, public

    async def prove(self, circuit_input: Any) -> tuple[Groth16Proof, list[int]]:
        return self.proof, self.public


async def test_a_proof_failing_local_verification_is_never_returned(
    dev_vk: VerificationKey, committed: commitment.DatasetCommitment, slots: list[bytes]
) -> None:
    public = public_inputs(CHALLENGE, committed.merkle_root, SLOT)
    for backend, match in [
        (_LyingBackend(Groth16Proof.zero(), public), "does not verify"),
        (_LyingBackend(Groth16Proof.zero(), [public[0], public[1], 0]), "public signals"),
    ]:
        prover = StorageProver(backend, dev_vk)
        with pytest.raises(ProofVerificationError, match=match):
            await prover.prove(
                slots[SLOT], SLOT, committed.slot_roots, committed.merkle_root, CHALLENGE
            )
