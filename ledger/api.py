"""The `Ledger` port the activities use (RES-*), and its typed errors.

`ledger.postgres.PostgresLedger` implements it (one transaction with row locks per operation,
idempotent under explicit keys); tests may use an in-memory fake with the same semantics.
"""

from typing import Protocol

from pydantic import BaseModel, ConfigDict

from sales.api import AvailabilitySaved, ErrorType
from sales.errors import ArithmeticRangeError
from sales.models import Availability, FillRecord, Reservation


class LedgerError(Exception):
    """Base of every ledger error; each maps to a non-retryable activity error type."""


class NotExistsError(LedgerError):
    pass


class BytesOutOfBoundsError(LedgerError):
    pass


class UntilOutOfBoundsError(LedgerError):
    pass


class QuotaNotEnoughError(LedgerError):
    pass


class AvailabilityConflictError(LedgerError):
    """An availability with this key exists with other terms: update it instead."""


class InvalidInputError(LedgerError, ValueError):
    """Zero or negative sizes, values out of uint range, forbidden updates (REST-2/3)."""


class NewAvailability(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    total_size: int
    duration: int
    min_price_per_byte_per_second: int
    total_collateral: int
    enabled: bool = True
    until: int = 0
    key: str | None = None
    """Idempotency key (e.g. from a deploy script): the id derives from it, so creating again
    with the same key and terms returns the stored availability; other terms fail with
    AvailabilityConflictError. Without a key every create makes a new one (RES-2)."""


class AvailabilityPatch(BaseModel):
    """REST-3..6: only the fields given change. freeSize is never patchable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total_size: int | None = None
    duration: int | None = None
    min_price_per_byte_per_second: int | None = None
    total_collateral: int | None = None
    enabled: bool | None = None
    until: int | None = None


class SavedAvailability(BaseModel):
    """The stored availability and, when RES-23 says so, the notice to send after commit."""

    model_config = ConfigDict(frozen=True)

    availability: Availability
    notice: AvailabilitySaved | None


class Ledger(Protocol):
    async def create_availability(self, new: NewAvailability) -> SavedAvailability: ...
    async def update_availability(
        self, availability_id: str, patch: AvailabilityPatch
    ) -> SavedAvailability: ...
    async def get_availability(self, availability_id: str) -> Availability: ...
    async def list_availabilities(self) -> list[Availability]: ...
    async def find_availability(
        self,
        *,
        slot_size: int,
        duration: int,
        price_per_byte_per_second: int,
        collateral_per_byte: int,
        valid_until: int,
    ) -> Availability | None: ...
    async def create_reservation(
        self,
        *,
        availability_id: str,
        slot_size: int,
        request_id: str,
        slot_index: int,
        collateral_per_byte: int,
        valid_until: int,
    ) -> Reservation:
        """RES-17; a retry with the same (availability, request, slot) returns the same row."""
        ...

    async def release(self, reservation_id: str, batch_seq: int, nbytes: int) -> Reservation:
        """RES-19 per downloaded batch; the same batch_seq twice counts once."""
        ...

    async def return_bytes_to_availability(
        self, reservation_id: str, nbytes: int
    ) -> SavedAvailability | None: ...
    async def delete_reservation(
        self, reservation_id: str, returned_collateral: int | None = None
    ) -> SavedAvailability | None:
        """RES-21; deleting a reservation that is gone succeeds."""
        ...

    async def close_reservation(
        self, reservation_id: str, returned_collateral: int | None = None
    ) -> SavedAvailability | None:
        """SALES-6 step 1 atomically: return written bytes, then delete; idempotent."""
        ...

    async def record_fill(self, reservation_id: str, fill: FillRecord) -> Reservation | None:
        """Move the reservation's fill record forward (never back); None if it is gone."""
        ...

    async def get_reservation(self, reservation_id: str) -> Reservation | None: ...
    async def list_reservations(self, availability_id: str | None = None) -> list[Reservation]: ...
    async def available_quota(self) -> int:
        """RES-5: bytes of the host store's quota not yet promised to an availability."""
        ...


def error_type(exc: BaseException) -> ErrorType | None:
    """The non-retryable ApplicationError type for a ledger business error, None otherwise.

    None means "not a business error" (e.g. a lost connection): the activity lets Temporal
    retry it, which every ledger operation tolerates (idempotent under its key).
    InvalidInputError and any other LedgerError map to ErrorType.LEDGER (as activities/errors.py).
    """
    for kind, mapped in _ERROR_TYPES:
        if isinstance(exc, kind):
            return mapped
    return None


_ERROR_TYPES: tuple[tuple[type[BaseException], ErrorType], ...] = (
    (NotExistsError, ErrorType.NOT_EXISTS),
    (BytesOutOfBoundsError, ErrorType.BYTES_OUT_OF_BOUNDS),
    (UntilOutOfBoundsError, ErrorType.UNTIL_OUT_OF_BOUNDS),
    (QuotaNotEnoughError, ErrorType.QUOTA_NOT_ENOUGH),
    (ArithmeticRangeError, ErrorType.ARITHMETIC_RANGE),
    (InvalidInputError, ErrorType.LEDGER),
    (LedgerError, ErrorType.LEDGER),
)
