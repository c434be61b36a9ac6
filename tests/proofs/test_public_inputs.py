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
