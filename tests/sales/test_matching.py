"""RES-4 and RES-16: which availability may take a slot."""

import pytest

from sales.matching import matches, max_collateral_per_byte
from sales.models import Availability

AID = "0x" + "01" * 32


def availability(**fields: object) -> Availability:
    values: dict[str, object] = {
        "id": AID,
        "total_size": 1000,
        "free_size": 1000,
        "duration": 100,
        "min_price_per_byte_per_second": 5,
        "total_collateral": 10_000,
        "total_remaining_collateral": 10_000,
        "enabled": True,
        "until": 0,
    } | fields
    return Availability.model_validate(values)


ASK = {
    "slot_size": 500,
    "duration": 100,
    "price_per_byte_per_second": 5,
    "collateral_per_byte": 10,
    "valid_until": 2_000_000_000,
}


def test_res_4_max_collateral_per_byte_divides_remaining_by_free() -> None:
    assert max_collateral_per_byte(availability(free_size=3, total_remaining_collateral=10)) == 3


def test_res_4_max_collateral_per_byte_with_nothing_free_is_all_remaining() -> None:
    assert max_collateral_per_byte(availability(free_size=0)) == 10_000


def test_res_16_an_availability_meeting_every_condition_matches() -> None:
    assert matches(availability(), **ASK)


@pytest.mark.parametrize(
    ("fields", "ask"),
    [
        ({"enabled": False}, {}),
        ({"free_size": 499}, {}),
        ({"duration": 99}, {}),
        ({"total_remaining_collateral": 9_999}, {}),
        ({"min_price_per_byte_per_second": 6}, {}),
        ({"until": 1_999_999_999}, {}),
    ],
    ids=["disabled", "too-small", "too-short", "collateral", "price", "until"],
)
def test_res_16_each_failed_condition_rejects(
    fields: dict[str, object], ask: dict[str, int]
) -> None:
    assert not matches(availability(**fields), **(ASK | ask))


def test_res_16_until_equal_to_request_end_matches() -> None:
    assert matches(availability(until=2_000_000_000), **ASK)
