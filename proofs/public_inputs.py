"""The 3 public signals the marketplace feeds its verifier, exactly as MARKETPLACE_ABI.md §11."""

from __future__ import annotations

# BN254 scalar field order R (public inputs live here) and base field order P (coordinates).
SNARK_SCALAR_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617
BN254_BASE_FIELD = 21888242871839275222246405745257275088696311157297823662689037894645226208583


class PublicInputError(ValueError):
    """A challenge or merkle root with the wrong length, or a slot index out of uint64."""


def entropy_from_challenge(challenge: bytes) -> int:
    """First 31 bytes of the 32-byte challenge, read little-endian (always < R)."""
    if len(challenge) != 32:
        raise PublicInputError(f"challenge must be 32 bytes, got {len(challenge)}")
    return int.from_bytes(challenge[0:31], "little")


def dataset_root_from_merkle_root(merkle_root: bytes) -> int:
    """All 32 bytes read little-endian, no truncation (the verifier rejects values >= R)."""
    if len(merkle_root) != 32:
        raise PublicInputError(f"merkle root must be 32 bytes, got {len(merkle_root)}")
    return int.from_bytes(merkle_root, "little")


def merkle_root_from_dataset_root(root: int) -> bytes:
    """Inverse of dataset_root_from_merkle_root: what a client puts in Content.merkleRoot."""
    if not 0 <= root < SNARK_SCALAR_FIELD:
        raise PublicInputError("dataset root must be a BN254 scalar field element")
    return root.to_bytes(32, "little")


def public_inputs(challenge: bytes, merkle_root: bytes, slot_index: int) -> list[int]:
    """[entropy, dataSetRoot, slotIndex] in the contract's order."""
    if not 0 <= slot_index < 2**64:
        raise PublicInputError(f"slot index {slot_index} is not a uint64")
    return [
        entropy_from_challenge(challenge),
        dataset_root_from_merkle_root(merkle_root),
        slot_index,
    ]
