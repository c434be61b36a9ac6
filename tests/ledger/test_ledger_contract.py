"""Contract tests of the Ledger port, run against PostgresLedger and MemoryLedger alike.

One test per rule, citing its ID (SALES_BEHAVIOUR.md §3 RES, §11 REST, §12 Q; ARCHITECTURE §4).
"""

import pydantic
import pytest

from ledger.api import (
    AvailabilityConflictError,
    AvailabilityPatch,
    BytesOutOfBoundsError,
    InvalidInputError,
    LedgerError,
    NotExistsError,
    QuotaNotEnoughError,
    UntilOutOfBoundsError,
    error_type,
)
from ledger.api import Ledger as LedgerPort
from ledger.core import DEFAULT_QUOTA_BYTES, AvailabilityRow
from ledger.memory import MemoryLedger
from ledger.postgres import PostgresLedger
from sales.api import AvailabilitySaved, ErrorType
from sales.errors import ArithmeticRangeError
from sales.uint import UINT64_MAX, UINT256_MAX
from tests.ledger.helpers import Ledger, audit, make_av, new_av, new_id, reserve, snapshot


async def row_of(ledger: Ledger, av_id: str) -> AvailabilityRow:
    return next(r for r in await ledger.availability_rows() if r.id == av_id)


# --- availabilities ----------------------------------------------------------------------------


async def test_res2_ids_are_random_and_remaining_collateral_starts_at_total(ledger):
    """RES-2: identical inits give different ids; totalRemainingCollateral = totalCollateral."""
    a = await make_av(ledger)
    b = await make_av(ledger)
    assert a.id != b.id
    assert a.total_remaining_collateral == a.total_collateral == 100_000
    assert await ledger.get_availability(a.id) == a


async def test_a_keyed_create_is_idempotent_and_refuses_other_terms(ledger):
    """Beyond RES-2: with an idempotency key, the same create twice is one availability (one
    quota draw, a notice only the first time); other terms under the key are a conflict."""
    first = await ledger.create_availability(new_av(key="deploy/main"))
    again = await ledger.create_availability(new_av(key="deploy/main"))
    assert again.availability == first.availability
    assert first.notice is not None and again.notice is None
    assert await ledger.available_quota() == DEFAULT_QUOTA_BYTES - 1000
    with pytest.raises(AvailabilityConflictError, match="update it instead"):
        await ledger.create_availability(new_av(key="deploy/main", total_size=2000))
    other = await ledger.create_availability(new_av(key="deploy/second"))
    assert other.availability.id != first.availability.id
    assert len(await ledger.list_availabilities()) == 2
    for bad in ("", "x" * 201, "tab\there"):
        with pytest.raises(InvalidInputError):
            await ledger.create_availability(new_av(key=bad))
    assert len(await ledger.list_availabilities()) == 2


async def test_res5_quota_is_20_gib_and_has_available_is_strict(ledger):
    """RES-5: fresh quota is DefaultQuotaBytes; hasAvailable(bytes) is bytes < available."""
    assert await ledger.available_quota() == DEFAULT_QUOTA_BYTES == 20 * 1024**3
    with pytest.raises(QuotaNotEnoughError):
        await make_av(ledger, total_size=DEFAULT_QUOTA_BYTES)  # not strictly below
    av = await make_av(ledger, total_size=DEFAULT_QUOTA_BYTES - 1)
    assert await ledger.available_quota() == 1
    assert av.total_size == DEFAULT_QUOTA_BYTES - 1


async def test_res6_unknown_availability_is_not_exists(ledger):
    """RES-6: get of an absent availability fails with NotExistsError; lists are lists."""
    with pytest.raises(NotExistsError):
        await ledger.get_availability(new_id())
    assert await ledger.list_availabilities() == []
    assert await ledger.list_reservations() == []
    assert await ledger.get_reservation(new_id()) is None


async def test_res8_negative_until_refused_and_nothing_written(ledger):
    """RES-8: until < 0 fails with UntilOutOfBoundsError and its exact message."""
    before = await snapshot(ledger)
    with pytest.raises(UntilOutOfBoundsError, match="Cannot set until to a negative value"):
        await ledger.create_availability(new_av(until=-1))
    assert await snapshot(ledger) == before


async def test_res9_res12_create_sets_total_and_free_size_and_defaults(ledger):
    """RES-9: totalSize = freeSize = size. RES-12: enabled defaults true, until 0."""
    saved = await ledger.create_availability(new_av(total_size=777))
    av = saved.availability
    assert (av.total_size, av.free_size, av.enabled, av.until) == (777, 777, True, 0)
    assert await ledger.list_availabilities() == [av]


async def test_res10_create_draws_from_quota(ledger):
    """RES-10: the availability's size is reserved in the quota; beyond it QuotaNotEnough."""
    await make_av(ledger, total_size=1000)
    assert await ledger.available_quota() == DEFAULT_QUOTA_BYTES - 1000
    before = await snapshot(ledger)
    with pytest.raises(QuotaNotEnoughError, match="Not enough storage quota"):
        await make_av(ledger, total_size=DEFAULT_QUOTA_BYTES + 1)
    assert await snapshot(ledger) == before


async def test_res11_failed_persist_leaves_no_row_and_no_quota(ledger):
    """RES-11: if persisting fails, the quota reservation is rolled back with it."""

    async def boom(op, phase):
        if op == "create_availability" and phase == "before_commit":
            raise RuntimeError("injected")

    ledger.fault_hook = boom
    with pytest.raises(RuntimeError, match="injected"):
        await make_av(ledger)
    ledger.fault_hook = None
    assert await ledger.list_availabilities() == []
    assert await ledger.available_quota() == DEFAULT_QUOTA_BYTES


async def test_res13_update_checks_until_first_then_existence(ledger):
    """RES-13 step 1 before step 2: negative until wins over an unknown id; unknown → NotExists
    (decision: PATCH of an unknown id is REST-3's 404, never an implicit create)."""
    with pytest.raises(UntilOutOfBoundsError):
        await ledger.update_availability(new_id(), AvailabilityPatch(until=-5))
    with pytest.raises(NotExistsError):
        await ledger.update_availability(new_id(), AvailabilityPatch(duration=5))


async def test_res13_until_below_longest_hosted_slot_refused(ledger):
    """RES-13 step 3: until > 0 below max(reservation.validUntil) fails; equal is fine."""
    av = await make_av(ledger)
    await reserve(ledger, av, valid_until=5000)
    before = await snapshot(ledger)
    with pytest.raises(UntilOutOfBoundsError, match="longest currently hosted slot"):
        await ledger.update_availability(av.id, AvailabilityPatch(until=4999))
    assert await snapshot(ledger) == before
    saved = await ledger.update_availability(av.id, AvailabilityPatch(until=5000))
    assert saved.availability.until == 5000
    saved = await ledger.update_availability(av.id, AvailabilityPatch(until=0))
    assert saved.availability.until == 0


@pytest.mark.parametrize(
    ("patch", "notifies"),
    [
        (AvailabilityPatch(duration=601), True),
        (AvailabilityPatch(min_price_per_byte_per_second=11), True),
        (AvailabilityPatch(total_collateral=100_001), True),
        (AvailabilityPatch(total_size=1001), True),  # freeSize grows
        (AvailabilityPatch(enabled=False), False),
        (AvailabilityPatch(until=99), False),
        (AvailabilityPatch(duration=599), False),
        (AvailabilityPatch(min_price_per_byte_per_second=9), False),
        (AvailabilityPatch(total_collateral=99_999), False),
        (AvailabilityPatch(total_size=999), False),
    ],
)
async def test_res13_res14_notice_only_when_one_of_four_fields_grows(ledger, patch, notifies):
    """RES-13 step 6 / RES-14: freeSize, duration, minPrice, remaining collateral increasing
    notify; decreases and enabled/until/totalSize changes alone do not."""
    av = await make_av(ledger)
    saved = await ledger.update_availability(av.id, patch)
    expected = AvailabilitySaved(availability_id=av.id, enabled=saved.availability.enabled)
    assert saved.notice == (expected if notifies else None)


async def test_res14_disabled_free_size_decrease_does_not_notify(ledger):
    """RES-14: also when disabled and freeSize decreases."""
    av = await make_av(ledger, enabled=False)
    saved = await ledger.update_availability(av.id, AvailabilityPatch(total_size=900))
    assert saved.availability.free_size == 900
    assert saved.notice is None


async def test_res15_total_size_change_moves_exactly_the_delta_in_quota(ledger):
    """RES-15: lowering totalSize by 100 releases 100 quota bytes; raising by 100 reserves 100."""
    av = await make_av(ledger, total_size=1000)
    q = await ledger.available_quota()
    await ledger.update_availability(av.id, AvailabilityPatch(total_size=900))
    assert await ledger.available_quota() == q + 100
    await ledger.update_availability(av.id, AvailabilityPatch(total_size=1000))
    assert await ledger.available_quota() == q


async def test_rest3_patch_rules(ledger):
    """REST-3: freeSize not patchable; totalSize 0 refused; below totalSize - freeSize refused
    with the current value in the message; growth beyond the quota refused (decision: by delta)."""
    with pytest.raises(pydantic.ValidationError):
        AvailabilityPatch(free_size=5)  # type: ignore[call-arg]
    av = await make_av(ledger, total_size=1000)
    res = await reserve(ledger, av, slot_size=300)
    await ledger.release(res.id, 0, 100)
    before = await snapshot(ledger)
    with pytest.raises(InvalidInputError, match="larger then zero"):
        await ledger.update_availability(av.id, AvailabilityPatch(total_size=0))
    with pytest.raises(InvalidInputError, match="which is currently: 300"):
        await ledger.update_availability(av.id, AvailabilityPatch(total_size=299))
    q = await ledger.available_quota()
    with pytest.raises(QuotaNotEnoughError):
        await ledger.update_availability(av.id, AvailabilityPatch(total_size=1000 + q))
    assert await snapshot(ledger) == before
    saved = await ledger.update_availability(av.id, AvailabilityPatch(total_size=300))
    assert saved.availability.free_size == 0
    await audit(ledger)


async def test_rest4_patch_applies_only_given_fields(ledger):
    """REST-4: duration, minPrice, totalCollateral, until, enabled apply; others unchanged."""
    av = await make_av(ledger)
    saved = await ledger.update_availability(
        av.id,
        AvailabilityPatch(duration=7, min_price_per_byte_per_second=8, until=9, enabled=False),
    )
    got = saved.availability
    assert (got.duration, got.min_price_per_byte_per_second, got.until, got.enabled) == (
        7,
        8,
        9,
        False,
    )
    assert (got.total_size, got.free_size, got.total_collateral) == (
        av.total_size,
        av.free_size,
        av.total_collateral,
    )
    assert await ledger.get_availability(av.id) == got


async def test_rest5_total_size_change_moves_free_size_by_the_difference(ledger):
    """REST-5: freeSize += new - old (checked, never modular)."""
    av = await make_av(ledger, total_size=1000)
    await reserve(ledger, av, slot_size=400)
    saved = await ledger.update_availability(av.id, AvailabilityPatch(total_size=1500))
    assert (saved.availability.total_size, saved.availability.free_size) == (1500, 1100)
    saved = await ledger.update_availability(av.id, AvailabilityPatch(total_size=400))
    assert (saved.availability.total_size, saved.availability.free_size) == (400, 0)
    await audit(ledger)


async def test_res3_rest6_total_collateral_resets_remaining_minus_locked(ledger):
    """RES-3/REST-6: setting totalCollateral resets totalRemainingCollateral. Decision: to
    new total - collateral locked by outstanding reservations; below the locked amount refused."""
    av = await make_av(ledger, total_collateral=100_000)
    saved = await ledger.update_availability(av.id, AvailabilityPatch(total_collateral=5000))
    assert saved.availability.total_remaining_collateral == 5000
    await reserve(ledger, av, slot_size=100, collateral_per_byte=10)  # locks 1000
    saved = await ledger.update_availability(av.id, AvailabilityPatch(total_collateral=3000))
    assert saved.availability.total_remaining_collateral == 2000
    with pytest.raises(InvalidInputError, match="currently: 1000"):
        await ledger.update_availability(av.id, AvailabilityPatch(total_collateral=999))
    await audit(ledger)


# --- find (RES-16) -----------------------------------------------------------------------------

FIND = {
    "slot_size": 100,
    "duration": 600,
    "price_per_byte_per_second": 10,
    "collateral_per_byte": 1,
    "valid_until": 1000,
}


async def test_res16_first_match_in_creation_order(ledger):
    """RES-16: the first matching availability, in creation order (our deterministic order)."""
    assert await ledger.find_availability(**FIND) is None
    first = await make_av(ledger)
    await make_av(ledger)
    assert (await ledger.find_availability(**FIND)).id == first.id
    await ledger.update_availability(first.id, AvailabilityPatch(enabled=False))
    second = (await ledger.list_availabilities())[1]
    assert (await ledger.find_availability(**FIND)).id == second.id


@pytest.mark.parametrize(
    ("av_over", "find_over"),
    [
        ({"enabled": False}, {}),
        ({"total_size": 99}, {}),  # size <= freeSize
        ({"duration": 599}, {}),  # duration <= availability.duration
        ({"total_collateral": 1000}, {"collateral_per_byte": 2}),  # RES-4: 1000 // 1000 = 1
        ({"min_price_per_byte_per_second": 11}, {}),  # price >= minPrice
        ({"until": 999}, {}),  # until == 0 or until >= validUntil
    ],
)
async def test_res16_each_condition_excludes(ledger, av_over, find_over):
    """RES-16 (with RES-4 maxCollateralPerByte): every condition must hold."""
    await make_av(ledger, **av_over)
    assert await ledger.find_availability(**{**FIND, **find_over}) is None


async def test_res4_res16_collateral_bound_is_remaining_div_free(ledger):
    """RES-4: maxCollateralPerByte = totalRemainingCollateral div freeSize, inclusive."""
    av = await make_av(ledger, total_size=1000, total_collateral=2999)  # 2999 // 1000 = 2
    assert (await ledger.find_availability(**{**FIND, "collateral_per_byte": 2})).id == av.id
    assert await ledger.find_availability(**{**FIND, "collateral_per_byte": 3}) is None
    await make_av(ledger, until=1000)
    assert await ledger.find_availability(**{**FIND, "collateral_per_byte": 3}) is not None


# --- reservations ------------------------------------------------------------------------------


async def test_res17_reservation_takes_bytes_and_collateral(ledger):
    """RES-17: freeSize -= slotSize, remaining -= slotSize * collateralPerByte; quota untouched."""
    av = await make_av(ledger, total_size=1000, total_collateral=100_000)
    q = await ledger.available_quota()
    res = await reserve(ledger, av, slot_size=300, collateral_per_byte=7, slot_index=3)
    got = await ledger.get_availability(av.id)
    assert got.free_size == 700
    assert got.total_remaining_collateral == 100_000 - 2100
    assert await ledger.available_quota() == q
    assert (res.size, res.availability_id, res.slot_index) == (300, av.id, 3)
    assert await ledger.get_reservation(res.id) == res
    assert await ledger.list_reservations(av.id) == [res]
    assert await ledger.list_reservations(new_id()) == []
    await audit(ledger)


async def test_res17_errors_write_nothing(ledger):
    """RES-17: unknown availability NotExists; slotSize > freeSize BytesOutOfBounds; validUntil
    beyond until UntilOutOfBounds; nothing is written by any of them."""
    av = await make_av(ledger, total_size=1000, until=2000)
    before = await snapshot(ledger)
    with pytest.raises(NotExistsError):
        await reserve(ledger, av.model_copy(update={"id": new_id()}))
    with pytest.raises(BytesOutOfBoundsError, match="greater than the free size"):
        await reserve(ledger, av, slot_size=1001)
    with pytest.raises(UntilOutOfBoundsError):
        await reserve(ledger, av, valid_until=2001)
    assert await snapshot(ledger) == before


async def test_res17_retry_returns_the_same_row(ledger):
    """ARCHITECTURE §3: idempotent per (availability, request, slot); other terms conflict."""
    av = await make_av(ledger)
    req = new_id()
    first = await reserve(ledger, av, request_id=req, slot_index=1)
    again = await reserve(ledger, av, request_id=req, slot_index=1)
    assert again == first
    assert (await ledger.get_availability(av.id)).free_size == 900
    with pytest.raises(InvalidInputError, match="already reserved"):
        await reserve(ledger, av, request_id=req, slot_index=1, slot_size=50)
    other = await make_av(ledger)
    with pytest.raises(InvalidInputError, match="already reserved"):
        await reserve(ledger, other, request_id=req, slot_index=1)
    second_slot = await reserve(ledger, av, request_id=req, slot_index=2)
    assert second_slot.id != first.id
    await audit(ledger)


async def test_res18_collateral_subtraction_is_checked(ledger):
    """RES-18/RES-22: the reference wraps; we refuse a deduction beyond the remaining collateral
    and a product beyond uint256, writing nothing."""
    av = await make_av(ledger, total_collateral=1000)
    before = await snapshot(ledger)
    with pytest.raises(ArithmeticRangeError, match="remaining collateral"):
        await reserve(ledger, av, slot_size=100, collateral_per_byte=11)
    with pytest.raises(ArithmeticRangeError, match="overflows"):
        await reserve(ledger, av, slot_size=100, collateral_per_byte=UINT256_MAX // 50)
    assert await snapshot(ledger) == before


async def test_res19_release_per_batch(ledger):
    """RES-19: releasing 1 byte leaves size-1; size+1 BytesOutOfBounds; unknown NotExists;
    the same batch twice counts once (ARCHITECTURE §3)."""
    av = await make_av(ledger)
    res = await reserve(ledger, av, slot_size=100)
    assert (await ledger.release(res.id, 0, 1)).size == 99
    assert (await ledger.release(res.id, 0, 1)).size == 99  # retry of batch 0
    with pytest.raises(InvalidInputError, match="batch 0"):
        await ledger.release(res.id, 0, 2)
    with pytest.raises(BytesOutOfBoundsError):
        await ledger.release(res.id, 1, 100)
    with pytest.raises(NotExistsError):
        await ledger.release(new_id(), 0, 1)
    assert (await ledger.release(res.id, 1, 99)).size == 0
    got = await ledger.get_availability(av.id)
    assert got.free_size == 900  # written bytes stay out of the availability until returned
    await audit(ledger)


async def test_res20_return_written_bytes(ledger):
    """RES-20: toReturn = bytes - reservation.size goes back to freeSize and notifies; zero is a
    no-op; a retry does not return twice; more than written is refused."""
    av = await make_av(ledger, total_size=1000)
    res = await reserve(ledger, av, slot_size=400)
    assert await ledger.return_bytes_to_availability(res.id, 400) is None  # nothing written
    await ledger.release(res.id, 0, 200)  # size 200 now
    with pytest.raises(BytesOutOfBoundsError, match="only 200 were written"):
        await ledger.return_bytes_to_availability(res.id, 401)
    with pytest.raises(ArithmeticRangeError):
        await ledger.return_bytes_to_availability(res.id, 199)  # bytes < size
    saved = await ledger.return_bytes_to_availability(res.id, 400)  # r + 200
    assert saved is not None
    assert saved.availability.free_size == 600 + 200
    assert saved.notice == AvailabilitySaved(availability_id=av.id, enabled=True)
    assert await ledger.return_bytes_to_availability(res.id, 400) is None  # retry
    assert (await ledger.get_availability(av.id)).free_size == 800
    with pytest.raises(NotExistsError):
        await ledger.return_bytes_to_availability(new_id(), 1)
    await audit(ledger)


async def test_res21_delete_restores_free_size_and_is_idempotent(ledger):
    """RES-21: create then delete restores freeSize; gone → success (None)."""
    av = await make_av(ledger)
    res = await reserve(ledger, av, slot_size=100, collateral_per_byte=2)
    saved = await ledger.delete_reservation(res.id, 200)
    assert saved is not None
    assert saved.availability.free_size == av.free_size
    assert saved.availability.total_remaining_collateral == av.total_remaining_collateral
    assert saved.notice == AvailabilitySaved(availability_id=av.id, enabled=True)
    assert await ledger.delete_reservation(res.id, 200) is None
    assert await ledger.get_reservation(res.id) is None
    await audit(ledger)


async def test_q6_col4_delete_returns_exactly_the_returned_collateral(ledger):
    """Q-6/COL-4 (ARCHITECTURE §4): delete returns exactly returned_collateral (None → 0); the
    rest is recorded as lost so remaining = total - locked - lost + gained keeps holding."""
    av = await make_av(ledger, total_collateral=10_000)
    a = await reserve(ledger, av, slot_size=100, collateral_per_byte=10)  # 1000
    b = await reserve(ledger, av, slot_size=100, collateral_per_byte=10)  # 1000
    await ledger.delete_reservation(a.id)  # errored before fill: nothing given (None → 0)
    await ledger.delete_reservation(b.id, 700)  # slashed by 300
    row = await row_of(ledger, av.id)
    assert row.total_remaining_collateral == 10_000 - 2000 + 700
    assert (row.locked_collateral, row.lost_collateral, row.gained_collateral) == (0, 1300, 0)
    c = await reserve(ledger, av, slot_size=10, collateral_per_byte=1)
    await ledger.delete_reservation(c.id, 25)
    row = await row_of(ledger, av.id)
    assert row.gained_collateral == 15
    assert row.total_remaining_collateral == 10_000 - 1300 + 15
    await audit(ledger)


async def test_res21_delete_leaves_written_bytes_committed(ledger):
    """RES-21: only the still-held size returns; written bytes need RES-20 (or close)."""
    av = await make_av(ledger, total_size=1000)
    res = await reserve(ledger, av, slot_size=100)
    await ledger.release(res.id, 0, 30)
    saved = await ledger.delete_reservation(res.id)
    assert saved is not None and saved.availability.free_size == 970
    assert (await row_of(ledger, av.id)).committed_size == 30
    await audit(ledger)


async def test_sales6_close_returns_everything_once(ledger):
    """SALES-6 step 1 in one transaction: written bytes, held bytes and collateral come back;
    a second close is a no-op (None)."""
    av = await make_av(ledger, total_size=1000, total_collateral=10_000)
    res = await reserve(ledger, av, slot_size=400, collateral_per_byte=5)
    await ledger.release(res.id, 0, 150)
    await ledger.release(res.id, 1, 50)
    saved = await ledger.close_reservation(res.id, 2000)
    assert saved is not None
    assert saved.availability.free_size == 1000
    assert saved.availability.total_remaining_collateral == 10_000
    assert saved.notice == AvailabilitySaved(availability_id=av.id, enabled=True)
    assert await ledger.close_reservation(res.id, 2000) is None
    assert await ledger.list_reservations() == []
    row = await row_of(ledger, av.id)
    assert (row.held_size, row.committed_size, row.lost_collateral) == (0, 0, 0)
    await audit(ledger)


async def test_sales6_close_after_partial_return_does_not_double_count(ledger):
    """SALES-6: return (RES-20) then close must not give the written bytes back twice."""
    av = await make_av(ledger, total_size=1000)
    res = await reserve(ledger, av, slot_size=400)
    await ledger.release(res.id, 0, 100)
    await ledger.return_bytes_to_availability(res.id, 400)
    saved = await ledger.close_reservation(res.id, 400)
    assert saved is not None and saved.availability.free_size == 1000
    await audit(ledger)


async def test_res23_notices_follow_the_trigger_list(ledger):
    """RES-23: create always notifies (even disabled); delete notifies when it returns bytes or
    collateral; a delete returning neither does not."""
    saved = await ledger.create_availability(new_av(enabled=False))
    assert saved.notice == AvailabilitySaved(availability_id=saved.availability.id, enabled=False)
    av = saved.availability
    res = await reserve(ledger, av, slot_size=100, collateral_per_byte=0)
    await ledger.release(res.id, 0, 100)  # nothing held any more, no collateral locked
    deleted = await ledger.delete_reservation(res.id)
    assert deleted is not None and deleted.notice is None


# --- bad input (ARCHITECTURE §4, RES-22) -------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"total_size": 0}, "Total size must be larger then zero"),
        ({"total_size": -1}, "Total size"),
        ({"total_size": UINT64_MAX + 1}, "Total size"),
        ({"duration": 0}, "duration must be larger then zero"),
        ({"duration": UINT64_MAX + 1}, "duration"),
        ({"min_price_per_byte_per_second": 0}, "minPricePerBytePerSecond"),
        ({"min_price_per_byte_per_second": UINT256_MAX + 1}, "minPricePerBytePerSecond"),
        ({"total_collateral": 0}, "totalCollateral"),
        ({"total_collateral": UINT256_MAX + 1}, "totalCollateral"),
        ({"until": 2**63}, "until"),
    ],
)
async def test_bad_availability_input_refused_and_nothing_written(ledger, over, match):
    """REST-2 zero rules and uint ranges: a clear InvalidInputError, nothing stored."""
    before = await snapshot(ledger)
    with pytest.raises(InvalidInputError, match=match):
        await ledger.create_availability(new_av(**over))
    assert await snapshot(ledger) == before


@pytest.mark.parametrize(
    "over",
    [
        {"slot_size": 0},
        {"slot_size": -5},
        {"slot_size": UINT64_MAX + 1},
        {"slot_index": -1},
        {"slot_index": UINT64_MAX + 1},
        {"collateral_per_byte": -1},
        {"collateral_per_byte": UINT256_MAX + 1},
        {"valid_until": -1},
        {"request_id": "0x1234"},
    ],
)
async def test_bad_reservation_input_refused_and_nothing_written(ledger, over):
    """Zero/negative sizes, out-of-range indices and amounts, malformed ids: InvalidInputError."""
    av = await make_av(ledger)
    before = await snapshot(ledger)
    with pytest.raises(InvalidInputError):
        await reserve(ledger, av, **over)
    assert await snapshot(ledger) == before


async def test_bad_release_return_delete_input(ledger):
    """Negative or out-of-range bytes, batch numbers and collateral are refused up front."""
    av = await make_av(ledger)
    res = await reserve(ledger, av)
    before = await snapshot(ledger)
    for call in (
        ledger.release(res.id, 0, -1),
        ledger.release(res.id, -1, 1),
        ledger.release(res.id, 0, UINT64_MAX + 1),
        ledger.return_bytes_to_availability(res.id, -1),
        ledger.delete_reservation(res.id, -1),
        ledger.close_reservation(res.id, UINT256_MAX + 1),
        ledger.release("not-an-id", 0, 1),
    ):
        with pytest.raises(InvalidInputError):
            await call
    with pytest.raises(InvalidInputError):
        await ledger.update_availability(av.id, AvailabilityPatch(duration=-1))
    with pytest.raises(InvalidInputError):
        await ledger.find_availability(**{**FIND, "collateral_per_byte": UINT256_MAX + 1})
    assert await snapshot(ledger) == before


async def test_res22_returned_collateral_overflow_is_an_error_not_a_wrap(ledger):
    """RES-22: an addition past 2**256-1 raises ArithmeticRangeError and writes nothing."""
    av = await make_av(ledger, total_collateral=UINT256_MAX)
    res = await reserve(ledger, av, slot_size=1, collateral_per_byte=1)
    before = await snapshot(ledger)
    with pytest.raises(ArithmeticRangeError):
        await ledger.delete_reservation(res.id, 2)  # remaining UINT256_MAX - 1 + 2
    assert await snapshot(ledger) == before


def test_error_type_maps_business_errors_to_activity_error_types():
    """The activity layer's mapping to non-retryable ApplicationError types."""
    assert error_type(NotExistsError()) == ErrorType.NOT_EXISTS
    assert error_type(BytesOutOfBoundsError()) == ErrorType.BYTES_OUT_OF_BOUNDS
    assert error_type(UntilOutOfBoundsError()) == ErrorType.UNTIL_OUT_OF_BOUNDS
    assert error_type(QuotaNotEnoughError()) == ErrorType.QUOTA_NOT_ENOUGH
    assert error_type(ArithmeticRangeError()) == ErrorType.ARITHMETIC_RANGE
    assert error_type(InvalidInputError()) == ErrorType.LEDGER
    assert error_type(LedgerError()) == ErrorType.LEDGER
    assert error_type(ConnectionError()) is None


def as_port(backend: MemoryLedger | PostgresLedger) -> LedgerPort:
    """mypy checks both backends structurally against the ledger.api.Ledger protocol."""
    return backend


def test_memory_ledger_is_a_ledger_port() -> None:
    assert as_port(MemoryLedger()) is not None


# --- the fill record (ARCHITECTURE §8) ---------------------------------------------------------


async def test_fill_record_is_durable_and_only_moves_forward(ledger):
    """The reservation row records the fill before broadcast and its outcome after, and an
    at-least-once retry of an older write never moves it back (cleanup reads it)."""
    from sales.models import FillRecord

    av = await make_av(ledger)
    res = await reserve(ledger, av, slot_size=100, collateral_per_byte=3)
    assert (res.fill, res.collateral) == (FillRecord.NOT_SENT, 300)
    sent = await ledger.record_fill(res.id, FillRecord.SENT)
    assert sent is not None and sent.fill == FillRecord.SENT
    landed = await ledger.record_fill(res.id, FillRecord.LANDED)
    assert landed is not None and landed.fill == FillRecord.LANDED
    again = await ledger.record_fill(res.id, FillRecord.SENT)  # a late retry of the first write
    assert again is not None and again.fill == FillRecord.LANDED
    stored = await ledger.get_reservation(res.id)
    assert stored is not None and stored.fill == FillRecord.LANDED
    assert [r.fill for r in await ledger.list_reservations(av.id)] == [FillRecord.LANDED]
    await ledger.close_reservation(res.id, 0)
    assert await ledger.record_fill(res.id, FillRecord.LANDED) is None
