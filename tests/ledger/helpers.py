"""Shared helpers for the ledger tests: builders, snapshots and the equation audit."""

import secrets
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from ledger.api import NewAvailability, SavedAvailability
from ledger.core import AvailabilityRow, ReservationRow
from ledger.memory import MemoryLedger
from ledger.postgres import PostgresLedger
from sales.models import Availability, Reservation

Ledger = MemoryLedger | PostgresLedger  # both expose the audit helpers used here


def new_id() -> str:
    return "0x" + secrets.token_bytes(32).hex()


def new_av(**over: Any) -> NewAvailability:
    fields: dict[str, Any] = {
        "total_size": 1000,
        "duration": 600,
        "min_price_per_byte_per_second": 10,
        "total_collateral": 100_000,
    }
    fields.update(over)
    return NewAvailability(**fields)


async def make_av(ledger: Ledger, **over: Any) -> Availability:
    saved: SavedAvailability = await ledger.create_availability(new_av(**over))
    return saved.availability


async def reserve(
    ledger: Ledger,
    av: Availability,
    *,
    slot_size: int = 100,
    request_id: str | None = None,
    slot_index: int = 0,
    collateral_per_byte: int = 1,
    valid_until: int = 1000,
) -> Reservation:
    res: Reservation = await ledger.create_reservation(
        availability_id=av.id,
        slot_size=slot_size,
        request_id=request_id or new_id(),
        slot_index=slot_index,
        collateral_per_byte=collateral_per_byte,
        valid_until=valid_until,
    )
    return res


async def snapshot(
    ledger: Ledger,
) -> tuple[list[AvailabilityRow], list[ReservationRow], int]:
    """Everything stored: used to assert that a refused operation wrote nothing."""
    return (
        await ledger.availability_rows(),
        await ledger.reservation_rows(),
        await ledger.available_quota(),
    )


async def audit(ledger: Ledger) -> None:
    """The ledger equations (ledger/README.md), recomputed from the reservation rows."""
    reservations = await ledger.reservation_rows()
    rows = await ledger.availability_rows()
    assert await ledger.available_quota() == max(
        0, ledger.quota_bytes - sum(a.total_size for a in rows)
    )
    for a in rows:
        mine = [r for r in reservations if r.availability_id == a.id]
        assert a.total_size == a.free_size + a.held_size + a.committed_size
        assert a.held_size == sum(r.size for r in mine)
        assert a.committed_size >= sum(r.released - r.returned for r in mine)
        assert a.locked_collateral == sum(r.collateral for r in mine)
        assert a.total_remaining_collateral == (
            a.total_collateral - a.locked_collateral - a.lost_collateral + a.gained_collateral
        )
        assert a.free_size >= 0 and a.total_remaining_collateral >= 0
        for r in mine:
            assert r.slot_size == r.size + r.released
            assert 0 <= r.returned <= r.released
            assert r.collateral == r.slot_size * r.collateral_per_byte


async def empty_ledger(pool: AsyncConnectionPool[AsyncConnection], **kw: Any) -> PostgresLedger:
    """A PostgresLedger on the shared test database, emptied first."""
    async with pool.connection() as conn:
        await conn.execute(
            "TRUNCATE ledger.released_batches, ledger.reservations, ledger.availabilities;"
            " UPDATE ledger.store_quota SET reserved_bytes = 0"
        )
    return PostgresLedger(pool, **kw)
