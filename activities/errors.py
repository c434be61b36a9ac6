"""Typed domain errors → non-retryable `ApplicationError(type=ErrorType...)`.

The sale workflow maps those types to the spec's next states (SlotStateMismatch → Ignored, ...).
Anything not listed (a dropped connection, a timeout) propagates unchanged and is retried.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.exceptions import ApplicationError

from chain.market import (
    MarketError,
    ProofInvalidError,
    SlotReservationNotAllowedError,
    SlotStateMismatchError,
)
from ledger.api import (
    BytesOutOfBoundsError,
    InvalidInputError,
    LedgerError,
    NotExistsError,
    QuotaNotEnoughError,
    UntilOutOfBoundsError,
)
from sales.api import ErrorType
from sales.errors import ArithmeticRangeError

ERROR_TYPES: list[tuple[type[Exception], ErrorType]] = [
    (SlotStateMismatchError, ErrorType.SLOT_STATE_MISMATCH),
    (SlotReservationNotAllowedError, ErrorType.SLOT_RESERVATION_NOT_ALLOWED),
    (ProofInvalidError, ErrorType.PROOF_INVALID),
    (MarketError, ErrorType.MARKET),
    (BytesOutOfBoundsError, ErrorType.BYTES_OUT_OF_BOUNDS),
    (NotExistsError, ErrorType.NOT_EXISTS),
    (UntilOutOfBoundsError, ErrorType.UNTIL_OUT_OF_BOUNDS),
    (QuotaNotEnoughError, ErrorType.QUOTA_NOT_ENOUGH),
    (InvalidInputError, ErrorType.LEDGER),
    (LedgerError, ErrorType.LEDGER),
    (ArithmeticRangeError, ErrorType.ARITHMETIC_RANGE),
]
"""Most specific first: the first isinstance match wins."""


def to_application_error(error: Exception) -> ApplicationError | None:
    for kind, error_type in ERROR_TYPES:
        if isinstance(error, kind):
            return ApplicationError(str(error), type=str(error_type), non_retryable=True)
    return None


@asynccontextmanager
async def business_errors() -> AsyncIterator[None]:
    """Re-raise typed errors as non-retryable application errors; leave the rest retryable."""
    try:
        yield
    except Exception as error:
        translated = to_application_error(error)
        if translated is None:
            raise
        raise translated from error
