"""MARKETPLACE_ABI.md §11: challenge and merkle root to field elements."""

import json
from pathlib import Path

import pytest

from sales.fields import (
    BN254_SCALAR_FIELD,
    challenge_to_field_element,
    field_element_to_merkle_root,
    merkle_root_to_field_element,
    public_inputs,
)

VECTOR = Path(__file__).resolve().parents[1] / "chain/vectors/codex-hardhat-groth16/public.json"


def test_entropy_keeps_the_first_31_bytes_little_endian() -> None:
    challenge = bytes(range(1, 33))
    expected = int.from_bytes(bytes(range(1, 32)), "little")
    assert challenge_to_field_element("0x" + challenge.hex()) == expected


def test_entropy_ignores_the_last_byte() -> None:
    a = "0x" + "ab" * 31 + "00"
    b = "0x" + "ab" * 31 + "ff"
    assert challenge_to_field_element(a) == challenge_to_field_element(b)
    assert challenge_to_field_element(a) < BN254_SCALAR_FIELD


def test_merkle_root_reads_all_32_bytes_little_endian() -> None:
    root = "0x" + "01" + "00" * 31
    assert merkle_root_to_field_element(root) == 1


@pytest.mark.skipif(not VECTOR.exists(), reason="shared vectors not present")
def test_codex_vector_root_round_trips_through_merkle_root_bytes() -> None:
    signals = [int(x) for x in json.loads(VECTOR.read_text())]
    root = field_element_to_merkle_root(signals[1])
    assert merkle_root_to_field_element(root) == signals[1]


def test_a_root_outside_the_field_is_refused() -> None:
    with pytest.raises(ValueError):
        field_element_to_merkle_root(BN254_SCALAR_FIELD)


def test_public_inputs_are_entropy_root_slot_index_in_order() -> None:
    inputs = public_inputs("0x" + "00" * 32, "0x" + "02" + "00" * 31, 5)
    assert inputs == [0, 2, 5]
