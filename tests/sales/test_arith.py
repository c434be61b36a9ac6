"""ARITH-1..8 with the worked numbers of MARKETPLACE_ABI.md §10, and checked arithmetic (RES-22)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sales.errors import ArithmeticRangeError
from sales.models import repair_collateral
from sales.periods import Periodicity
from sales.uint import UINT64_MAX, UINT256_MAX, add64, add256, mul256, sub64, sub256
from tests.sales.conftest import GIB, example_request


def test_arith_1_price_per_slot_per_second() -> None:
    assert example_request().ask.price_per_slot_per_second == 1_073_741_824


def test_arith_2_price_per_slot_is_duration_times_price_per_slot_per_second() -> None:
    assert example_request().ask.price_per_slot == 36000 * GIB


def test_arith_3_total_price_is_the_contracts_max_price() -> None:
    assert example_request().ask.total_price == 154_618_822_656_000


def test_arith_4_collateral_per_slot() -> None:
    assert example_request().ask.collateral_per_slot == 1_073_741_824


def test_arith_5_repair_collateral_floors_the_reward() -> None:
    assert repair_collateral(1_073_741_824, 10) == 966_367_642


def test_arith_6_size_is_slots_times_slot_size() -> None:
    assert example_request().ask.size == 4 * GIB


def test_arith_8_periods() -> None:
    periods = Periodicity(seconds=10)
    assert periods.period_of(29) == 2
    assert periods.period_start(2) == 20
    assert periods.period_end(2) == 30
    assert periods.next_period_start(20) == 30


def test_arith_8_period_zero_is_refused() -> None:
    with pytest.raises(ValueError):
        Periodicity(seconds=0)


def test_res_22_uint64_operations_raise_instead_of_wrapping() -> None:
    with pytest.raises(ArithmeticRangeError, match="overflows"):
        add64(UINT64_MAX, 1)
    with pytest.raises(ArithmeticRangeError, match="underflows"):
        sub64(0, 1)


def test_res_22_uint256_operations_raise_instead_of_wrapping() -> None:
    with pytest.raises(ArithmeticRangeError):
        add256(UINT256_MAX, 1)
    with pytest.raises(ArithmeticRangeError):
        sub256(1, 2)
    with pytest.raises(ArithmeticRangeError):
        mul256(2**200, 2**100)


def test_total_price_of_a_hostile_ask_raises_rather_than_wraps() -> None:
    request = example_request(price_per_byte_per_second=2**200, slot_size=2**63, duration=2**40)
    with pytest.raises(ArithmeticRangeError):
        _ = request.ask.total_price


@given(st.integers(0, UINT64_MAX), st.integers(0, UINT64_MAX))
def test_checked_uint64_addition_is_exact_or_refused(a: int, b: int) -> None:
    if a + b <= UINT64_MAX:
        assert add64(a, b) == a + b
    else:
        with pytest.raises(ArithmeticRangeError):
            add64(a, b)
