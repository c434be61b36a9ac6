"""Typed domain errors → non-retryable `ApplicationError(type=ErrorType...)`.

The sale workflow maps those types to the spec's next states (SlotStateMismatch → Ignored, ...).
Anything not listed (a dropped connection, a timeout) propagates unchanged and is retried; a
transport failure (`ChainUnavailableError`, which includes a malformed or truncated RPC result)
is never a business error, whatever it wraps. A token balance too small for the collateral is
a market error (the sale gives up before the fill, like on any other revert); an allowance too
small is retried (see TRANSPORT).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.exceptions import ApplicationError

from chain.errors import TokenAllowanceError
from chain.market import (
    MarketError,
    ProofInvalidError,
    SlotReservationNotAllowedError,
    SlotStateMismatchError,
)
from chain.onchain import ChainUnavailableError
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

TRANSPORT: tuple[type[Exception], ...] = (ChainUnavailableError, TokenAllowanceError)
"""Never business errors, checked before ERROR_TYPES: the endpoint failing, and an allowance
found too small (fills approve exactly what they spend under a lock, so only another user of
the key can have changed it; the retry approves again)."""


def to_application_error(error: Exception) -> ApplicationError | None:
    if isinstance(error, TRANSPORT):
        return None  # retried: the endpoint failed, not the call
    for kind, error_type in ERROR_TYPES:
        if isinstance(error, kind):
            return ApplicationError(str(error), type=str(error_type), non_retryable=True)
    return None


@asynccontextmanager
async def business_errors() -> AsyncIterator[None]:
    """Re-raise typed errors as non-retryable application errors; leave the rest retryable."""
    try:
        yield
    except TRANSPORT as error:
        # retried as it is; its cause (a web3 or decoder error quoting the endpoint's answer,
        # unbounded) stays out of the failure the history records, its own message is bounded
        error.__cause__ = None
        error.__suppress_context__ = True
        raise
    except Exception as error:
        translated = to_application_error(error)
        if translated is None:
            raise
        raise translated from error
