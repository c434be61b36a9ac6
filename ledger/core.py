"""The ledger's rules as pure functions over full row states, shared by every backend.

PostgresLedger and MemoryLedger only load rows (locked), call these, and store the result, so
both have exactly the same semantics and the contract tests pin both. Every amount is checked
(sales/uint.py): a result outside uint64/uint256 raises ArithmeticRangeError, never wraps.

The two equations every availability row keeps (the database also CHECKs them per row):

    bytes:       total_size = free_size + held_size + committed_size
    collateral:  total_remaining_collateral
                     = total_collateral - locked_collateral - lost_collateral + gained_collateral

held_size is what live reservations still hold (Σ reservation.size), committed_size the bytes
written to the store (released per batch, RES-19) and not yet returned (RES-20),
locked_collateral what live reservations deducted (Σ slot_size * collateralPerByte, RES-17),
lost/gained what deleted reservations did not get back / got back beyond their deduction.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from ledger.api import (
    AvailabilityConflictError,
    AvailabilityPatch,
    BytesOutOfBoundsError,
    InvalidInputError,
    NewAvailability,
    QuotaNotEnoughError,
    UntilOutOfBoundsError,
)
from sales.api import AvailabilitySaved
from sales.errors import ArithmeticRangeError
from sales.keccak import keccak256
from sales.matching import matches
from sales.models import Availability, FillRecord, Reservation
from sales.uint import (
    INT64_MAX,
    UINT64_MAX,
    UINT256_MAX,
    add64,
    add256,
    mul256,
    sub64,
    sub256,
)

DEFAULT_QUOTA_BYTES = 20 * 1024**3
"""RES-5: the reference's DefaultQuotaBytes (20 GiB)."""

BATCH_SEQ_MAX = 2**63 - 1

FaultHook = Callable[[str, str], Awaitable[None]]
"""Test hook called as (operation, phase), phase "before_commit" or "after_commit": raising
before commit must leave nothing behind; raising after commit models a lost reply."""


@dataclass(frozen=True)
class AvailabilityRow:
    """Everything stored for one availability, including the accounting columns."""

    id: str
    total_size: int
    free_size: int
    held_size: int
    committed_size: int
    duration: int
    min_price_per_byte_per_second: int
    total_collateral: int
    total_remaining_collateral: int
    locked_collateral: int
    lost_collateral: int
    gained_collateral: int
    enabled: bool
    until: int

    def public(self) -> Availability:
        return Availability(
            id=self.id,
            total_size=self.total_size,
            free_size=self.free_size,
            duration=self.duration,
            min_price_per_byte_per_second=self.min_price_per_byte_per_second,
            total_collateral=self.total_collateral,
            total_remaining_collateral=self.total_remaining_collateral,
            enabled=self.enabled,
            until=self.until,
        )


@dataclass(frozen=True)
class ReservationRow:
    """One reservation; slot_size = size + released and returned <= released always hold."""

    id: str
    availability_id: str
    request_id: str
    slot_index: int
    slot_size: int
    size: int
    released: int
    returned: int
    collateral_per_byte: int
    collateral: int
    valid_until: int
    fill: str = FillRecord.NOT_SENT.value
    """The fill record (sales.settlement.FillRecord): what the chain may hold for this slot."""

    def public(self) -> Reservation:
        return Reservation(
            id=self.id,
            availability_id=self.availability_id,
            size=self.size,
            request_id=self.request_id,
            slot_index=self.slot_index,
            valid_until=self.valid_until,
            collateral=self.collateral,
            fill=FillRecord(self.fill),
        )


# --- input validation (before anything touches storage) ----------------------------------------


def check_uint(name: str, value: object, maximum: int, *, positive: bool = False) -> int:
    """A caller-supplied integer in 0..maximum (1..maximum if positive), else InvalidInput."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    if positive and value == 0:
        # REST-2/REST-3 wording, typo included: integration tests assert on it.
        raise InvalidInputError(f"{name} must be larger then zero")
    low = 1 if positive else 0
    if value < low or value > maximum:
        raise InvalidInputError(f"{name} must be within {low}..{maximum}, got {value}")
    return value


def check_until(value: int) -> int:
    """RES-8/RES-13: a negative until is its own error; above int64 is invalid input."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise UntilOutOfBoundsError("Cannot set until to a negative value")
    return check_uint("until", value, INT64_MAX)


def check_id(name: str, value: object) -> str:
    """A 0x-prefixed 32-byte hex id (sales/hexbytes.py Bytes32), normalised to lowercase."""
    if isinstance(value, str):
        text = value.lower()
        if len(text) == 66 and text.startswith("0x"):
            try:
                bytes.fromhex(text[2:])
                return text
            except ValueError:
                pass
    raise InvalidInputError(f"{name} must be 0x followed by 64 hex digits, got {value!r}")


def validate_new(new: NewAvailability) -> None:
    """REST-2 rules, enforced here too so no caller can store a useless or out-of-range row."""
    check_until(new.until)
    check_uint("Total size", new.total_size, UINT64_MAX, positive=True)
    check_uint("duration", new.duration, UINT64_MAX, positive=True)
    check_uint(
        "minPricePerBytePerSecond", new.min_price_per_byte_per_second, UINT256_MAX, positive=True
    )
    check_uint("totalCollateral", new.total_collateral, UINT256_MAX, positive=True)


def validate_patch(patch: AvailabilityPatch) -> None:
    if patch.until is not None:
        check_until(patch.until)
    if patch.total_size is not None:
        check_uint("Total size", patch.total_size, UINT64_MAX, positive=True)
    if patch.duration is not None:
        check_uint("duration", patch.duration, UINT64_MAX)
    if patch.min_price_per_byte_per_second is not None:
        check_uint("minPricePerBytePerSecond", patch.min_price_per_byte_per_second, UINT256_MAX)
    if patch.total_collateral is not None:
        check_uint("totalCollateral", patch.total_collateral, UINT256_MAX)


def has_available(quota: int, reserved: int, nbytes: int) -> bool:
    """RES-5: strictly less than what is left of the quota."""
    return nbytes < quota - reserved


# --- notices (RES-23) ------------------------------------------------------------------------


def notice_for(row: AvailabilityRow) -> AvailabilitySaved:
    return AvailabilitySaved(availability_id=row.id, enabled=row.enabled)


def increased(old: AvailabilityRow, new: AvailabilityRow) -> bool:
    """RES-13 step 6 / RES-14: only these four fields, and only a strict increase, notify."""
    return (
        new.free_size > old.free_size
        or new.duration > old.duration
        or new.min_price_per_byte_per_second > old.min_price_per_byte_per_second
        or new.total_remaining_collateral > old.total_remaining_collateral
    )


# --- operations ------------------------------------------------------------------------------


MAX_KEY_LENGTH = 200


def keyed_availability_id(new: NewAvailability) -> str | None:
    """The id an availability with an idempotency key gets (None without a key)."""
    if new.key is None:
        return None
    if not new.key or len(new.key) > MAX_KEY_LENGTH or not new.key.isprintable():
        raise InvalidInputError(f"key must be 1..{MAX_KEY_LENGTH} printable characters")
    return "0x" + keccak256(b"codex-sales-temporal/availability/" + new.key.encode()).hex()


TERMS = (
    "total_size",
    "duration",
    "min_price_per_byte_per_second",
    "total_collateral",
    "enabled",
    "until",
)
"""What a keyed create asks for and the stored availability must match."""


def check_same_terms(stored: AvailabilityRow, new: NewAvailability) -> None:
    """A repeated keyed create must ask for what is stored; anything else is a conflict."""
    if any(getattr(stored, term) != getattr(new, term) for term in TERMS):
        raise AvailabilityConflictError(
            f"availability with key {new.key!r} exists ({stored.id}) with other terms; "
            "update it instead"
        )


def new_availability(
    new: NewAvailability, availability_id: str, *, quota: int, reserved: int
) -> AvailabilityRow:
    """RES-8..11: totalSize = freeSize = size, drawn from the store quota."""
    validate_new(new)
    if not has_available(quota, reserved, new.total_size):
        raise QuotaNotEnoughError("Not enough storage quota")
    return AvailabilityRow(
        id=availability_id,
        total_size=new.total_size,
        free_size=new.total_size,
        held_size=0,
        committed_size=0,
        duration=new.duration,
        min_price_per_byte_per_second=new.min_price_per_byte_per_second,
        total_collateral=new.total_collateral,
        total_remaining_collateral=new.total_collateral,
        locked_collateral=0,
        lost_collateral=0,
        gained_collateral=0,
        enabled=new.enabled,
        until=new.until,
    )


def patch_availability(
    av: AvailabilityRow,
    patch: AvailabilityPatch,
    *,
    quota: int,
    reserved: int,
    longest_valid_until: int | None,
) -> AvailabilityRow:
    """RES-13, REST-3..6.

    Decisions: growth of totalSize must fit the quota by its *delta* (the reference checks the
    whole new size, REST-3); a new totalCollateral resets totalRemainingCollateral to
    new total - locked (what outstanding reservations hold stays deducted; lost/gained history
    is cleared), and is refused below the locked amount.
    """
    validate_patch(patch)
    out = av
    if patch.until is not None:
        if (
            patch.until > 0
            and longest_valid_until is not None
            and longest_valid_until > patch.until
        ):
            raise UntilOutOfBoundsError(
                "Until parameter must be greater or equal to the longest currently hosted slot"
            )
        out = replace(out, until=patch.until)
    if patch.total_size is not None and patch.total_size != av.total_size:
        in_use = av.held_size + av.committed_size
        if patch.total_size < in_use:
            raise InvalidInputError(
                "New totalSize must be larger then current totalSize - freeSize, "
                f"which is currently: {in_use}"
            )
        if patch.total_size > av.total_size:
            grow = patch.total_size - av.total_size
            if not has_available(quota, reserved, grow):
                raise QuotaNotEnoughError("Not enough storage quota")
            free = add64(av.free_size, grow, "freeSize")
        else:
            free = sub64(av.free_size, av.total_size - patch.total_size, "freeSize")
        out = replace(out, total_size=patch.total_size, free_size=free)
    if patch.duration is not None:
        out = replace(out, duration=patch.duration)
    if patch.min_price_per_byte_per_second is not None:
        out = replace(out, min_price_per_byte_per_second=patch.min_price_per_byte_per_second)
    if patch.total_collateral is not None:
        if patch.total_collateral < av.locked_collateral:
            raise InvalidInputError(
                "New totalCollateral must be at least the collateral locked by reservations, "
                f"which is currently: {av.locked_collateral}"
            )
        out = replace(
            out,
            total_collateral=patch.total_collateral,
            total_remaining_collateral=patch.total_collateral - av.locked_collateral,
            lost_collateral=0,
            gained_collateral=0,
        )
    if patch.enabled is not None:
        out = replace(out, enabled=patch.enabled)
    return out


def validate_reservation_input(
    *,
    availability_id: str,
    slot_size: int,
    request_id: str,
    slot_index: int,
    collateral_per_byte: int,
    valid_until: int,
) -> tuple[str, str]:
    av_id = check_id("availabilityId", availability_id)
    req_id = check_id("requestId", request_id)
    check_uint("slotSize", slot_size, UINT64_MAX, positive=True)
    check_uint("slotIndex", slot_index, UINT64_MAX)
    check_uint("collateralPerByte", collateral_per_byte, UINT256_MAX)
    check_uint("validUntil", valid_until, INT64_MAX)
    return av_id, req_id


def reserve(
    av: AvailabilityRow,
    reservation_id: str,
    *,
    slot_size: int,
    request_id: str,
    slot_index: int,
    collateral_per_byte: int,
    valid_until: int,
) -> tuple[AvailabilityRow, ReservationRow]:
    """RES-17 with checked collateral (RES-18): bytes and collateral move into the reservation."""
    if av.free_size < slot_size:
        raise BytesOutOfBoundsError(
            "trying to reserve an amount of bytes that is greater than the free size of the "
            f"Availability ({slot_size} > {av.free_size})"
        )
    if av.until > 0 and valid_until > av.until:
        raise UntilOutOfBoundsError(
            "Until parameter must be greater or equal to the longest currently hosted slot"
        )
    collateral = mul256(slot_size, collateral_per_byte, "reservation collateral")
    if collateral > av.total_remaining_collateral:
        raise ArithmeticRangeError(
            f"reservation collateral {collateral} exceeds the availability's remaining "
            f"collateral {av.total_remaining_collateral}"
        )
    res = ReservationRow(
        id=reservation_id,
        availability_id=av.id,
        request_id=request_id,
        slot_index=slot_index,
        slot_size=slot_size,
        size=slot_size,
        released=0,
        returned=0,
        collateral_per_byte=collateral_per_byte,
        collateral=collateral,
        valid_until=valid_until,
    )
    new_av = replace(
        av,
        free_size=av.free_size - slot_size,
        held_size=add64(av.held_size, slot_size, "heldSize"),
        total_remaining_collateral=av.total_remaining_collateral - collateral,
        locked_collateral=add256(av.locked_collateral, collateral, "lockedCollateral"),
    )
    return new_av, res


def same_terms(
    res: ReservationRow,
    *,
    availability_id: str,
    slot_size: int,
    collateral_per_byte: int,
    valid_until: int,
) -> bool:
    """A retry of create_reservation carries the same terms as the row it created."""
    return (
        res.availability_id == availability_id
        and res.slot_size == slot_size
        and res.collateral_per_byte == collateral_per_byte
        and res.valid_until == valid_until
    )


def conflict(res: ReservationRow) -> InvalidInputError:
    return InvalidInputError(
        f"slot ({res.request_id}, {res.slot_index}) is already reserved by reservation "
        f"{res.id} in availability {res.availability_id} with other terms"
    )


def validate_release(reservation_id: str, batch_seq: int, nbytes: int) -> str:
    rid = check_id("reservationId", reservation_id)
    check_uint("batchSeq", batch_seq, BATCH_SEQ_MAX)
    check_uint("bytes", nbytes, UINT64_MAX)
    return rid


def release(
    av: AvailabilityRow, res: ReservationRow, nbytes: int
) -> tuple[AvailabilityRow, ReservationRow]:
    """RES-19: written bytes leave the reservation and are committed to the store."""
    if res.size < nbytes:
        raise BytesOutOfBoundsError(
            f"trying to release {nbytes} bytes but the reservation holds only {res.size}"
        )
    new_res = replace(res, size=res.size - nbytes, released=res.released + nbytes)
    new_av = replace(
        av,
        held_size=sub64(av.held_size, nbytes, "heldSize"),
        committed_size=add64(av.committed_size, nbytes, "committedSize"),
    )
    return new_av, new_res


def return_bytes(
    av: AvailabilityRow, res: ReservationRow, nbytes: int
) -> tuple[AvailabilityRow, ReservationRow] | None:
    """RES-20, idempotent: give back `nbytes - size` written bytes, minus what already went back.

    Returns None when there is nothing (more) to return. Asking to return more than was written
    is BytesOutOfBounds (the reference would credit bytes that never left the availability).
    """
    target = sub64(nbytes, res.size, "bytes - reservation size")
    if target > res.released:
        raise BytesOutOfBoundsError(
            f"trying to return {target} written bytes but only {res.released} were written"
        )
    fresh = target - res.returned
    if fresh <= 0:
        return None
    return replace(
        av,
        free_size=add64(av.free_size, fresh, "freeSize"),
        committed_size=sub64(av.committed_size, fresh, "committedSize"),
    ), replace(res, returned=res.returned + fresh)


def delete(av: AvailabilityRow, res: ReservationRow, returned_collateral: int) -> AvailabilityRow:
    """RES-21 with Q-6/COL-4 accounting: held bytes come back, exactly `returned_collateral` too.

    The part of the deducted collateral not returned is recorded as lost (beyond it: gained), so
    the collateral equation keeps holding. Written bytes not returned stay committed.
    """
    lost = max(0, res.collateral - returned_collateral)
    gained = max(0, returned_collateral - res.collateral)
    return replace(
        av,
        free_size=add64(av.free_size, res.size, "freeSize"),
        held_size=sub64(av.held_size, res.size, "heldSize"),
        total_remaining_collateral=add256(
            av.total_remaining_collateral, returned_collateral, "totalRemainingCollateral"
        ),
        locked_collateral=sub256(av.locked_collateral, res.collateral, "lockedCollateral"),
        lost_collateral=add256(av.lost_collateral, lost, "lostCollateral"),
        gained_collateral=add256(av.gained_collateral, gained, "gainedCollateral"),
    )


def close(av: AvailabilityRow, res: ReservationRow, returned_collateral: int) -> AvailabilityRow:
    """SALES-6 step 1 as one step: return every written byte not yet returned, then delete."""
    back = res.released - res.returned
    av = replace(
        av,
        free_size=add64(av.free_size, back, "freeSize"),
        committed_size=sub64(av.committed_size, back, "committedSize"),
    )
    return delete(av, res, returned_collateral)


def check_returned_collateral(value: int | None) -> int:
    if value is None:
        return 0
    return check_uint("returnedCollateral", value, UINT256_MAX)


def find_first(
    candidates: list[AvailabilityRow],
    *,
    slot_size: int,
    duration: int,
    price_per_byte_per_second: int,
    collateral_per_byte: int,
    valid_until: int,
) -> AvailabilityRow | None:
    """RES-16: the first candidate (in creation order) that sales.matching.matches accepts."""
    for row in candidates:
        if matches(
            row.public(),
            slot_size=slot_size,
            duration=duration,
            price_per_byte_per_second=price_per_byte_per_second,
            collateral_per_byte=collateral_per_byte,
            valid_until=valid_until,
        ):
            return row
    return None


def validate_find(
    *,
    slot_size: int,
    duration: int,
    price_per_byte_per_second: int,
    collateral_per_byte: int,
    valid_until: int,
) -> None:
    check_uint("slotSize", slot_size, UINT64_MAX, positive=True)
    check_uint("duration", duration, UINT64_MAX)
    check_uint("pricePerBytePerSecond", price_per_byte_per_second, UINT256_MAX)
    check_uint("collateralPerByte", collateral_per_byte, UINT256_MAX)
    check_uint("validUntil", valid_until, INT64_MAX)
