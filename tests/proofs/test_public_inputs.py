"""Public inputs exactly as the marketplace builds them (MARKETPLACE_ABI.md §11)."""

from __future__ import annotations

import pytest

from proofs.public_inputs import (
    PublicInputError,
    dataset_root_from_merkle_root,
    entropy_from_challenge,
    merkle_root_from_dataset_root,
    public_inputs,
)


def test_entropy_drops_the_last_byte_and_reads_little_endian() -> None:
    challenge = bytes(range(1, 33))
    assert entropy_from_challenge(challenge) == int.from_bytes(bytes(range(1, 32)), "little")
    # the 32nd byte never matters
    assert entropy_from_challenge(challenge[:31] + b"\xff") == entropy_from_challenge(challenge)
    # reversing bytes then reading big-endian, as the contract describes it
    assert entropy_from_challenge(challenge) == int.from_bytes(challenge[30::-1], "big")


def test_merkle_root_is_read_little_endian_without_truncation() -> None:
    root = bytes(range(32))
    assert dataset_root_from_merkle_root(root) == int.from_bytes(root[::-1], "big")
    assert merkle_root_from_dataset_root(dataset_root_from_merkle_root(root)) == root


def test_order_is_entropy_root_slot_index() -> None:
    challenge, root = b"\x01" + b"\0" * 31, b"\x02" + b"\0" * 31
    assert public_inputs(challenge, root, 7) == [1, 2, 7]


@pytest.mark.parametrize(
    ("challenge", "root", "index"),
    [(b"\0" * 31, b"\0" * 32, 0), (b"\0" * 32, b"\0" * 33, 0), (b"\0" * 32, b"\0" * 32, 2**64)],
)
def test_bad_lengths_and_ranges_are_typed_errors(challenge: bytes, root: bytes, index: int) -> None:
    with pytest.raises(PublicInputError):
        public_inputs(challenge, root, index)


def test_agrees_with_the_domain_helpers_in_sales() -> None:
    from sales import fields

    challenge, root = bytes(range(32)), bytes(range(100, 132))
    assert public_inputs(challenge, root, 5) == fields.public_inputs(
        "0x" + challenge.hex(), "0x" + root.hex(), 5
    )


def test_proof_model_round_trips_into_the_sales_model() -> None:
    from proofs.types import Groth16Proof
    from sales.models import Groth16Proof as SalesProof

    words = list(range(1, 9))
    ours = Groth16Proof.model_validate(
        {
            "a": {"x": words[0], "y": words[1]},
            "b": {
                "x": {"real": words[2], "imag": words[3]},
                "y": {"real": words[4], "imag": words[5]},
            },
            "c": {"x": words[6], "y": words[7]},
        }
    )
    theirs = SalesProof.model_validate(ours.model_dump())
    assert Groth16Proof.model_validate(theirs.model_dump()) == ours
    assert ours.abi_words() == tuple(words)
