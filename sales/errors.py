"""Typed domain errors. Every bad input is one of these, never a wrapped value."""


class SalesError(Exception):
    """Base of every error raised by the pure domain."""


class ArithmeticRangeError(SalesError, ValueError):
    """A uint64/uint256 operation left its range (RES-18, RES-22: checked, never wrapped)."""


class SlotsOutOfRangeError(SalesError, ValueError):
    """A request's slot count is outside 1..65535 (SQ-15, Q-3)."""


class InvalidRequestError(SalesError, ValueError):
    """A storage request that the host refuses to handle (hostile or malformed)."""
