"""Fixed-width unsigned integers as pydantic types, and checked arithmetic over them.

The reference wraps on overflow (RES-22); we raise :class:`ArithmeticRangeError` instead.
"""

from typing import Annotated

from pydantic import Field

from sales.errors import ArithmeticRangeError

UINT8_MAX = 2**8 - 1
UINT16_MAX = 2**16 - 1
UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1
INT64_MAX = 2**63 - 1

Uint8 = Annotated[int, Field(ge=0, le=UINT8_MAX, strict=True)]
Uint16 = Annotated[int, Field(ge=0, le=UINT16_MAX, strict=True)]
Uint64 = Annotated[int, Field(ge=0, le=UINT64_MAX, strict=True)]
Uint256 = Annotated[int, Field(ge=0, le=UINT256_MAX, strict=True)]
Timestamp = Annotated[int, Field(ge=0, le=INT64_MAX, strict=True)]
"""Seconds since 1970 (the reference's int64 `until`/`validUntil`; negative is refused)."""


def _check(value: int, maximum: int, what: str) -> int:
    if value < 0:
        raise ArithmeticRangeError(f"{what} underflows: result {value} is negative")
    if value > maximum:
        raise ArithmeticRangeError(f"{what} overflows: result {value} exceeds {maximum}")
    return value


def add64(a: int, b: int, what: str = "uint64 addition") -> int:
    return _check(a + b, UINT64_MAX, what)


def sub64(a: int, b: int, what: str = "uint64 subtraction") -> int:
    return _check(a - b, UINT64_MAX, what)


def mul64(a: int, b: int, what: str = "uint64 multiplication") -> int:
    return _check(a * b, UINT64_MAX, what)


def add256(a: int, b: int, what: str = "uint256 addition") -> int:
    return _check(a + b, UINT256_MAX, what)


def sub256(a: int, b: int, what: str = "uint256 subtraction") -> int:
    return _check(a - b, UINT256_MAX, what)


def mul256(a: int, b: int, what: str = "uint256 multiplication") -> int:
    return _check(a * b, UINT256_MAX, what)
