"""Public inputs of the storage proof (MARKETPLACE_ABI.md §11)."""

from sales.hexbytes import to_bytes

BN254_SCALAR_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617


def challenge_to_field_element(challenge: str) -> int:
    """Entropy: the first 31 bytes of the challenge read little-endian."""
    return int.from_bytes(to_bytes(challenge)[:31], "little")


def merkle_root_to_field_element(merkle_root: str) -> int:
    """dataSetRoot: all 32 bytes read little-endian (the verifier rejects values >= R)."""
    return int.from_bytes(to_bytes(merkle_root), "little")


def field_element_to_merkle_root(element: int) -> str:
    """Inverse of merkle_root_to_field_element: what a client puts in `content.merkleRoot`."""
    if not 0 <= element < BN254_SCALAR_FIELD:
        raise ValueError("dataset root is not a BN254 scalar field element")
    return "0x" + element.to_bytes(32, "little").hex()


def public_inputs(challenge: str, merkle_root: str, slot_index: int) -> list[int]:
    """[entropy, dataSetRoot, slotIndex], in the contract's order."""
    return [
        challenge_to_field_element(challenge),
        merkle_root_to_field_element(merkle_root),
        slot_index,
    ]
