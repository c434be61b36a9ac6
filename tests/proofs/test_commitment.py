"""Properties of the development data commitment (proofs/commitment.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs import commitment
from proofs.public_inputs import SNARK_SCALAR_FIELD

field = st.integers(min_value=0, max_value=SNARK_SCALAR_FIELD - 1)


@settings(max_examples=25, deadline=None)
@given(st.lists(field, min_size=8, max_size=8), st.integers(0, 7), st.integers(1, 2**64))
def test_every_path_leads_to_the_root_and_a_wrong_sibling_does_not(
    leaves: list[int], index: int, delta: int
) -> None:
    levels = commitment.merkle_levels(leaves, 3)
    root = levels[-1][0]
    path = commitment.merkle_path(levels, index)
    assert commitment.root_from_path(leaves[index], index, path) == root
    bad = list(path)
    bad[index % 3] = (bad[index % 3] + delta) % SNARK_SCALAR_FIELD
    assert commitment.root_from_path(leaves[index], index, bad) != root
    assert commitment.root_from_path(leaves[index], index ^ 1, path) != root or (
        leaves[index] == leaves[index ^ 1]
    )


@given(st.integers(0, 10**7), st.integers(1, commitment.MAX_SLOTS))
def test_slot_size_is_the_smallest_whole_cell_size_that_fits(size: int, slots: int) -> None:
    slot_size = commitment.slot_size_for(size, slots)
    assert slot_size % commitment.CELL_BYTES == 0
    assert slots * slot_size >= size
    assert slot_size == commitment.CELL_BYTES or slots * (slot_size - commitment.CELL_BYTES) < size


@given(st.binary(max_size=commitment.CELL_BYTES))
def test_cells_are_31_byte_little_endian_field_elements(cell: bytes) -> None:
    elements = commitment.cell_elements(cell)
    assert len(elements) == commitment.CELL_ELEMS
    assert all(e < 2**248 < SNARK_SCALAR_FIELD for e in elements)
    padded = cell.ljust(commitment.CELL_BYTES, b"\0")
    assert b"".join(e.to_bytes(31, "little") for e in elements) == padded


def test_limits_are_typed_errors() -> None:
    with pytest.raises(commitment.CommitmentError):
        commitment.slot_root(b"\1" * (commitment.MAX_SLOT_BYTES + 1))
    with pytest.raises(commitment.CommitmentError):
        commitment.dataset_root([1] * (commitment.MAX_SLOTS + 1))
    with pytest.raises(commitment.CommitmentError):
        commitment.cell_elements(b"\0" * (commitment.CELL_BYTES + 1))
