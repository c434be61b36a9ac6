"""Bad input at the boundary: hostile values are refused with clear errors, never wrapped."""

import pytest
from pydantic import ValidationError

from sales.models import Availability, Groth16Proof, StorageAsk, StorageRequest
from tests.sales.conftest import example_request


@pytest.mark.parametrize(
    ("field", "value"),
    [("slots", 2**64), ("slot_size", -1), ("duration", 2**64), ("collateral_per_byte", 2**256)],
)
def test_out_of_range_ask_fields_are_refused(field: str, value: int) -> None:
    ask = example_request().ask.model_dump() | {field: value}
    with pytest.raises(ValidationError):
        StorageAsk.model_validate(ask)


def test_strings_are_not_coerced_into_integers() -> None:
    ask = example_request().ask.model_dump() | {"slots": "4"}
    with pytest.raises(ValidationError):
        StorageAsk.model_validate(ask)


@pytest.mark.parametrize("bad", ["0x1234", "not hex", "0x" + "zz" * 32, "0x" + "00" * 33])
def test_malformed_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        Availability(
            id=bad,
            total_size=1,
            free_size=1,
            duration=1,
            min_price_per_byte_per_second=1,
            total_collateral=1,
            total_remaining_collateral=1,
        )


def test_negative_until_is_refused() -> None:
    with pytest.raises(ValidationError):
        Availability(
            id="0x" + "00" * 32,
            total_size=1,
            free_size=1,
            duration=1,
            min_price_per_byte_per_second=1,
            total_collateral=1,
            total_remaining_collateral=1,
            until=-1,
        )


def test_addresses_are_normalised_to_checksum_form() -> None:
    request = example_request()
    lowered = request.model_dump() | {"client": request.client.lower()}
    assert StorageRequest.model_validate(lowered).client == request.client


def test_a_request_round_trips_through_json_with_the_same_id() -> None:
    request = example_request()
    again = StorageRequest.model_validate_json(request.model_dump_json())
    assert again == request and again.id == request.id


def test_the_zero_proof_encodes_as_eight_zero_words() -> None:
    assert Groth16Proof.zero().abi_tuple() == ((0, 0), ((0, 0), (0, 0)), (0, 0))
