"""PostgresLedger: the `Ledger` port on PostgreSQL (psycopg 3, async pool).

Every operation is one transaction. Mutations lock the availability row (SELECT ... FOR UPDATE)
before reading any of its reservations, so concurrent workers serialise per availability and
never deadlock (one lock order: availability, then its reservation, then the quota row). The
rules themselves live in ledger/core.py; this module loads rows, applies them and stores them.
Notices (RES-23) are returned only after commit (Q-10); a `NOTIFY availability_saved, <id>`
is queued in the same transaction, which PostgreSQL delivers only on commit.
"""

import contextlib
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, fields, replace
from typing import Any, Self

from psycopg import AsyncConnection, errors
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ledger import core
from ledger.api import (
    AvailabilityPatch,
    InvalidInputError,
    NewAvailability,
    NotExistsError,
    SavedAvailability,
)
from ledger.core import AvailabilityRow, FaultHook, ReservationRow
from ledger.migrate import migrate
from sales.models import Availability, FillRecord, Reservation
from sales.settlement import later_fill_record
from sales.uint import UINT64_MAX

NOTIFY_CHANNEL = "availability_saved"

_AV_COLS = ", ".join(f.name for f in fields(AvailabilityRow))
_RES_COLS = ", ".join(f.name for f in fields(ReservationRow))
_AV_SET = ", ".join(f"{f.name} = %({f.name})s" for f in fields(AvailabilityRow) if f.name != "id")


class _IntNumericLoader(Loader):
    """Our numeric columns are integral (scale 0): load them as int, not Decimal."""

    def load(self, data: Buffer) -> int:
        return int(bytes(data))


async def configure_connection(conn: AsyncConnection[Any]) -> None:
    """Pool `configure=` callback: load our integral numerics as int. Required for any pool
    handed to PostgresLedger(pool) (connect() sets it itself)."""
    conn.adapters.register_loader("numeric", _IntNumericLoader)


def _new_id() -> str:
    """RES-2: 32 random bytes."""
    return "0x" + secrets.token_bytes(32).hex()


def _av(row: Mapping[str, Any]) -> AvailabilityRow:
    return AvailabilityRow(**{f.name: row[f.name] for f in fields(AvailabilityRow)})


def _res(row: Mapping[str, Any]) -> ReservationRow:
    return ReservationRow(**{f.name: row[f.name] for f in fields(ReservationRow)})


class PostgresLedger:
    """The reservations ledger on PostgreSQL. Build with `connect`, or hand in an open pool."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[Any]],
        *,
        quota_bytes: int = core.DEFAULT_QUOTA_BYTES,
        fault_hook: FaultHook | None = None,
        owns_pool: bool = False,
    ) -> None:
        self.pool = pool
        self.quota_bytes = core.check_uint("quota", quota_bytes, UINT64_MAX)
        self.fault_hook = fault_hook
        self._owns_pool = owns_pool

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        quota_bytes: int = core.DEFAULT_QUOTA_BYTES,
        min_size: int = 1,
        max_size: int = 10,
        fault_hook: FaultHook | None = None,
    ) -> Self:
        """Open a pool on `dsn` and apply pending migrations (idempotent, concurrency-safe)."""
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            configure=configure_connection,
            kwargs={"autocommit": True},
        )
        await pool.open(wait=True)
        try:
            async with pool.connection() as conn:
                await migrate(conn)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, quota_bytes=quota_bytes, fault_hook=fault_hook, owns_pool=True)

    async def close(self) -> None:
        if self._owns_pool:
            await self.pool.close()

    async def _fault(self, operation: str, phase: str) -> None:
        if self.fault_hook is not None:
            await self.fault_hook(operation, phase)

    # --- row access (inside a transaction) -------------------------------------------------

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        """One transaction in pipeline mode: statements queue until a result is fetched, so an
        operation costs about two round trips (locked reads, then writes with COMMIT)."""
        async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            yield conn

    @staticmethod
    async def _lock_availability(conn: AsyncConnection[Any], av_id: str) -> AvailabilityRow:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"SELECT {_AV_COLS} FROM ledger.availabilities WHERE id = %s FOR UPDATE", (av_id,)
        )
        row = await cur.fetchone()
        if row is None:
            raise NotExistsError(f"availability {av_id} does not exist")
        return _av(row)

    @staticmethod
    async def _lock_reservation_availability(
        conn: AsyncConnection[Any], reservation_id: str, batch_seq: int = -1
    ) -> tuple[AvailabilityRow, ReservationRow, int | None] | None:
        """Lock the reservation's availability, then read the reservation under that lock.

        Both statements go out in one pipeline round trip; the server runs the second only
        after the first holds the lock. Also returns the bytes of `batch_seq` if released.
        """
        lock = conn.cursor(row_factory=dict_row)
        read = conn.cursor(row_factory=dict_row)
        await lock.execute(
            f"SELECT {', '.join('a.' + f.name for f in fields(AvailabilityRow))}"
            " FROM ledger.availabilities a JOIN ledger.reservations r"
            " ON r.availability_id = a.id WHERE r.id = %s FOR UPDATE OF a",
            (reservation_id,),
        )
        await read.execute(
            f"SELECT {_RES_COLS}, (SELECT nbytes FROM ledger.released_batches b"
            "  WHERE b.reservation_id = r.id AND b.batch_seq = %s) AS seen_nbytes"
            " FROM ledger.reservations r WHERE r.id = %s",
            (batch_seq, reservation_id),
        )
        av_row = await lock.fetchone()
        res_row = await read.fetchone()
        if av_row is None or res_row is None:
            return None  # absent, or deleted while we waited for the availability lock
        return _av(av_row), _res(res_row), res_row["seen_nbytes"]

    @staticmethod
    async def _store_availability(conn: AsyncConnection[Any], row: AvailabilityRow) -> None:
        await conn.execute(
            f"UPDATE ledger.availabilities SET {_AV_SET} WHERE id = %(id)s", asdict(row)
        )

    @staticmethod
    async def _store_reservation_progress(conn: AsyncConnection[Any], res: ReservationRow) -> None:
        await conn.execute(
            "UPDATE ledger.reservations SET size = %s, released = %s, returned = %s WHERE id = %s",
            (res.size, res.released, res.returned, res.id),
        )

    @staticmethod
    async def _notify(conn: AsyncConnection[Any], av_id: str) -> None:
        """Queued now, delivered by PostgreSQL only if the transaction commits."""
        await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, av_id))

    async def _saved(
        self, conn: AsyncConnection[Any], row: AvailabilityRow, notify: bool
    ) -> SavedAvailability:
        if notify:
            await self._notify(conn, row.id)
        return SavedAvailability(
            availability=row.public(), notice=core.notice_for(row) if notify else None
        )

    # --- availabilities ----------------------------------------------------------------------

    async def create_availability(self, new: NewAvailability) -> SavedAvailability:
        """RES-8..11; the notice always fires on create (RES-23)."""
        core.validate_new(new)
        keyed = core.keyed_availability_id(new)
        async with self._transaction() as conn:
            # the quota row lock serialises creates, so two with one key cannot both insert
            cur = await conn.execute("SELECT reserved_bytes FROM ledger.store_quota FOR UPDATE")
            (reserved,) = await cur.fetchone() or (0,)
            if keyed is not None:
                try:
                    stored = await self._lock_availability(conn, keyed)
                except NotExistsError:
                    pass
                else:
                    core.check_same_terms(stored, new)
                    return await self._saved(conn, stored, False)  # created before: no change
            row = core.new_availability(
                new, keyed or _new_id(), quota=self.quota_bytes, reserved=reserved
            )
            await conn.execute(
                f"INSERT INTO ledger.availabilities ({_AV_COLS}) VALUES "
                f"({', '.join('%(' + f.name + ')s' for f in fields(AvailabilityRow))})",
                asdict(row),
            )
            await conn.execute(
                "UPDATE ledger.store_quota SET reserved_bytes = reserved_bytes + %s",
                (row.total_size,),
            )
            saved = await self._saved(conn, row, True)
            await self._fault("create_availability", "before_commit")
        await self._fault("create_availability", "after_commit")
        return saved

    async def update_availability(
        self, availability_id: str, patch: AvailabilityPatch
    ) -> SavedAvailability:
        """RES-13..15, REST-3..6 (decisions in core.patch_availability)."""
        core.validate_patch(patch)
        av_id = core.check_id("availabilityId", availability_id)
        async with self._transaction() as conn:
            old = await self._lock_availability(conn, av_id)
            cur = await conn.execute(
                "SELECT max(valid_until) FROM ledger.reservations WHERE availability_id = %s",
                (av_id,),
            )
            (longest,) = await cur.fetchone() or (None,)
            reserved = 0
            if patch.total_size is not None and patch.total_size > old.total_size:
                cur = await conn.execute("SELECT reserved_bytes FROM ledger.store_quota FOR UPDATE")
                (reserved,) = await cur.fetchone() or (0,)
            new = core.patch_availability(
                old, patch, quota=self.quota_bytes, reserved=reserved, longest_valid_until=longest
            )
            await self._store_availability(conn, new)
            if new.total_size != old.total_size:
                await conn.execute(
                    "UPDATE ledger.store_quota SET reserved_bytes = reserved_bytes + %s",
                    (new.total_size - old.total_size,),
                )
            saved = await self._saved(conn, new, core.increased(old, new))
            await self._fault("update_availability", "before_commit")
        await self._fault("update_availability", "after_commit")
        return saved

    async def get_availability(self, availability_id: str) -> Availability:
        av_id = core.check_id("availabilityId", availability_id)
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_AV_COLS} FROM ledger.availabilities WHERE id = %s", (av_id,)
            )
            row = await cur.fetchone()
        if row is None:
            raise NotExistsError(f"availability {av_id} does not exist")
        return _av(row).public()

    async def list_availabilities(self) -> list[Availability]:
        return [row.public() for row in await self.availability_rows()]

    async def availability_rows(self) -> list[AvailabilityRow]:
        """Every availability with its accounting columns, in creation order (for audits)."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {_AV_COLS} FROM ledger.availabilities ORDER BY seq")
            return [_av(row) for row in await cur.fetchall()]

    async def find_availability(
        self,
        *,
        slot_size: int,
        duration: int,
        price_per_byte_per_second: int,
        collateral_per_byte: int,
        valid_until: int,
    ) -> Availability | None:
        """RES-16: the first match in creation order; sales.matching.matches has the last word."""
        terms = {
            "slot_size": slot_size,
            "duration": duration,
            "price_per_byte_per_second": price_per_byte_per_second,
            "collateral_per_byte": collateral_per_byte,
            "valid_until": valid_until,
        }
        core.validate_find(**terms)
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_AV_COLS} FROM ledger.availabilities"
                " WHERE enabled AND free_size >= %(slot_size)s AND duration >= %(duration)s"
                " AND min_price_per_byte_per_second <= %(price_per_byte_per_second)s"
                " AND (until = 0 OR until >= %(valid_until)s) ORDER BY seq",
                terms,
            )
            candidates = [_av(row) for row in await cur.fetchall()]
        found = core.find_first(candidates, **terms)
        return None if found is None else found.public()

    async def available_quota(self) -> int:
        """RES-5: quota minus what availabilities already hold (never below zero)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT reserved_bytes FROM ledger.store_quota")
            (reserved,) = await cur.fetchone() or (0,)
        return max(0, self.quota_bytes - int(reserved))

    # --- reservations ------------------------------------------------------------------------

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
        av_id, req_id = core.validate_reservation_input(
            availability_id=availability_id,
            slot_size=slot_size,
            request_id=request_id,
            slot_index=slot_index,
            collateral_per_byte=collateral_per_byte,
            valid_until=valid_until,
        )
        terms = {
            "slot_size": slot_size,
            "collateral_per_byte": collateral_per_byte,
            "valid_until": valid_until,
        }
        try:
            async with self._transaction() as conn:
                lock = conn.cursor(row_factory=dict_row)
                await lock.execute(
                    f"SELECT {_AV_COLS} FROM ledger.availabilities WHERE id = %s FOR UPDATE",
                    (av_id,),
                )
                existing = await self._reservation_for_slot(conn, req_id, slot_index)
                locked = await lock.fetchone()
                if locked is None:
                    raise NotExistsError(f"availability {av_id} does not exist")
                av = _av(locked)
                if existing is not None:
                    if not core.same_terms(existing, availability_id=av_id, **terms):
                        raise core.conflict(existing)
                    return existing.public()
                new_av, res = core.reserve(
                    av,
                    _new_id(),
                    request_id=req_id,
                    slot_index=slot_index,
                    **terms,
                )
                await conn.execute(
                    f"INSERT INTO ledger.reservations ({_RES_COLS}) VALUES "
                    f"({', '.join('%(' + f.name + ')s' for f in fields(ReservationRow))})",
                    asdict(res),
                )
                await self._store_availability(conn, new_av)
                await self._fault("create_reservation", "before_commit")
        except errors.UniqueViolation:
            # The same slot was reserved concurrently through another availability.
            async with self.pool.connection() as conn:
                other = await self._reservation_for_slot(conn, req_id, slot_index)
            if other is not None and core.same_terms(other, availability_id=av_id, **terms):
                return other.public()
            if other is not None:
                raise core.conflict(other) from None
            raise
        await self._fault("create_reservation", "after_commit")
        return res.public()

    @staticmethod
    async def _reservation_for_slot(
        conn: AsyncConnection[Any], request_id: str, slot_index: int
    ) -> ReservationRow | None:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"SELECT {_RES_COLS} FROM ledger.reservations"
            " WHERE request_id = %s AND slot_index = %s",
            (request_id, slot_index),
        )
        row = await cur.fetchone()
        return None if row is None else _res(row)

    async def release(self, reservation_id: str, batch_seq: int, nbytes: int) -> Reservation:
        """RES-19 per downloaded batch; the same batch_seq twice counts once."""
        rid = core.validate_release(reservation_id, batch_seq, nbytes)
        async with self._transaction() as conn:
            found = await self._lock_reservation_availability(conn, rid, batch_seq)
            if found is None:
                raise NotExistsError(f"reservation {rid} does not exist")
            av, res, seen = found
            if seen is not None:
                if seen != nbytes:
                    raise InvalidInputError(
                        f"batch {batch_seq} of reservation {rid} was released with "
                        f"{seen} bytes, not {nbytes}"
                    )
                return res.public()
            new_av, new_res = core.release(av, res, nbytes)
            await conn.execute(
                "INSERT INTO ledger.released_batches (reservation_id, batch_seq, nbytes)"
                " VALUES (%s, %s, %s)",
                (rid, batch_seq, nbytes),
            )
            await self._store_reservation_progress(conn, new_res)
            await self._store_availability(conn, new_av)
            await self._fault("release", "before_commit")
        await self._fault("release", "after_commit")
        return new_res.public()

    async def return_bytes_to_availability(
        self, reservation_id: str, nbytes: int
    ) -> SavedAvailability | None:
        """RES-20, idempotent: None when nothing (more) was returned."""
        rid = core.check_id("reservationId", reservation_id)
        core.check_uint("bytes", nbytes, UINT64_MAX)
        async with self._transaction() as conn:
            found = await self._lock_reservation_availability(conn, rid)
            if found is None:
                raise NotExistsError(f"reservation {rid} does not exist")
            av, res, _ = found
            out = core.return_bytes(av, res, nbytes)
            if out is None:
                return None
            new_av, new_res = out
            await self._store_reservation_progress(conn, new_res)
            await self._store_availability(conn, new_av)
            saved = await self._saved(conn, new_av, True)
            await self._fault("return_bytes_to_availability", "before_commit")
        await self._fault("return_bytes_to_availability", "after_commit")
        return saved

    async def delete_reservation(
        self, reservation_id: str, returned_collateral: int | None = None
    ) -> SavedAvailability | None:
        """RES-21; deleting a reservation that is gone succeeds (None)."""
        return await self._finish("delete_reservation", reservation_id, returned_collateral)

    async def close_reservation(
        self, reservation_id: str, returned_collateral: int | None = None
    ) -> SavedAvailability | None:
        """SALES-6 step 1 atomically: return written bytes, then delete; idempotent."""
        return await self._finish("close_reservation", reservation_id, returned_collateral)

    async def _finish(
        self, operation: str, reservation_id: str, returned_collateral: int | None
    ) -> SavedAvailability | None:
        rid = core.check_id("reservationId", reservation_id)
        collateral = core.check_returned_collateral(returned_collateral)
        step = core.close if operation == "close_reservation" else core.delete
        async with self._transaction() as conn:
            found = await self._lock_reservation_availability(conn, rid)
            if found is None:
                return None
            av, res, _ = found
            new_av = step(av, res, collateral)
            await conn.execute("DELETE FROM ledger.reservations WHERE id = %s", (rid,))
            await self._store_availability(conn, new_av)
            saved = await self._saved(conn, new_av, core.increased(av, new_av))
            await self._fault(operation, "before_commit")
        await self._fault(operation, "after_commit")
        return saved

    async def record_fill(self, reservation_id: str, fill: FillRecord) -> Reservation | None:
        """One row lock: concurrent or retried writes only ever move the record forward."""
        rid = core.check_id("reservationId", reservation_id)
        async with self._transaction() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_RES_COLS} FROM ledger.reservations WHERE id = %s FOR UPDATE", (rid,)
            )
            found = await cur.fetchone()
            if found is None:
                return None
            row = _res(found)
            record = later_fill_record(FillRecord(row.fill), FillRecord(fill))
            if record.value != row.fill:
                await conn.execute(
                    "UPDATE ledger.reservations SET fill = %s WHERE id = %s", (record.value, rid)
                )
        return replace(row, fill=record.value).public()

    async def get_reservation(self, reservation_id: str) -> Reservation | None:
        row = await self.reservation_row(reservation_id)
        return None if row is None else row.public()

    async def reservation_row(self, reservation_id: str) -> ReservationRow | None:
        """The reservation with its accounting columns (for audits)."""
        rid = core.check_id("reservationId", reservation_id)
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {_RES_COLS} FROM ledger.reservations WHERE id = %s", (rid,))
            row = await cur.fetchone()
        return None if row is None else _res(row)

    async def list_reservations(self, availability_id: str | None = None) -> list[Reservation]:
        return [row.public() for row in await self.reservation_rows(availability_id)]

    async def reservation_rows(self, availability_id: str | None = None) -> list[ReservationRow]:
        query = f"SELECT {_RES_COLS} FROM ledger.reservations"
        params: Sequence[object] = ()
        if availability_id is not None:
            query += " WHERE availability_id = %s"
            params = (core.check_id("availabilityId", availability_id),)
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(query + " ORDER BY seq", params)  # type: ignore[arg-type]
            return [_res(row) for row in await cur.fetchall()]
