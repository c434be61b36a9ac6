"""MemoryLedger: the `Ledger` port in process memory, with PostgresLedger's exact semantics.

For fast workflow and activity tests. The rules are the same functions (ledger/core.py); one
asyncio lock plays the role of the row locks, and each operation computes its new rows first
and installs them at the end, so a fault before "commit" leaves nothing behind.
"""

import asyncio
import secrets
from dataclasses import replace

from ledger import core
from ledger.api import (
    AvailabilityPatch,
    InvalidInputError,
    NewAvailability,
    NotExistsError,
    SavedAvailability,
)
from ledger.core import AvailabilityRow, FaultHook, ReservationRow
from sales.models import Availability, FillRecord, Reservation
from sales.settlement import later_fill_record
from sales.uint import UINT64_MAX


def _new_id() -> str:
    return "0x" + secrets.token_bytes(32).hex()


class MemoryLedger:
    def __init__(
        self, *, quota_bytes: int = core.DEFAULT_QUOTA_BYTES, fault_hook: FaultHook | None = None
    ) -> None:
        self.quota_bytes = core.check_uint("quota", quota_bytes, UINT64_MAX)
        self.fault_hook = fault_hook
        self._lock = asyncio.Lock()
        self._availabilities: dict[str, AvailabilityRow] = {}  # insertion = creation order
        self._reservations: dict[str, ReservationRow] = {}
        self._batches: dict[tuple[str, int], int] = {}
        self._reserved = 0

    async def close(self) -> None:
        return None

    async def _fault(self, operation: str, phase: str) -> None:
        if self.fault_hook is not None:
            await self.fault_hook(operation, phase)

    def _saved(self, row: AvailabilityRow, notify: bool) -> SavedAvailability:
        return SavedAvailability(
            availability=row.public(), notice=core.notice_for(row) if notify else None
        )

    def _availability(self, av_id: str) -> AvailabilityRow:
        row = self._availabilities.get(av_id)
        if row is None:
            raise NotExistsError(f"availability {av_id} does not exist")
        return row

    # --- availabilities ----------------------------------------------------------------------

    async def create_availability(self, new: NewAvailability) -> SavedAvailability:
        core.validate_new(new)
        keyed = core.keyed_availability_id(new)
        async with self._lock:
            stored = self._availabilities.get(keyed) if keyed is not None else None
            if stored is not None:
                core.check_same_terms(stored, new)
                return self._saved(stored, False)  # created before: no change
            row = core.new_availability(
                new, keyed or _new_id(), quota=self.quota_bytes, reserved=self._reserved
            )
            await self._fault("create_availability", "before_commit")
            self._availabilities[row.id] = row
            self._reserved += row.total_size
        await self._fault("create_availability", "after_commit")
        return self._saved(row, True)

    async def update_availability(
        self, availability_id: str, patch: AvailabilityPatch
    ) -> SavedAvailability:
        core.validate_patch(patch)
        av_id = core.check_id("availabilityId", availability_id)
        async with self._lock:
            old = self._availability(av_id)
            held = [
                r.valid_until for r in self._reservations.values() if r.availability_id == av_id
            ]
            new = core.patch_availability(
                old,
                patch,
                quota=self.quota_bytes,
                reserved=self._reserved,
                longest_valid_until=max(held) if held else None,
            )
            await self._fault("update_availability", "before_commit")
            self._availabilities[av_id] = new
            self._reserved += new.total_size - old.total_size
        await self._fault("update_availability", "after_commit")
        return self._saved(new, core.increased(old, new))

    async def get_availability(self, availability_id: str) -> Availability:
        return self._availability(core.check_id("availabilityId", availability_id)).public()

    async def list_availabilities(self) -> list[Availability]:
        return [row.public() for row in self._availabilities.values()]

    async def availability_rows(self) -> list[AvailabilityRow]:
        return list(self._availabilities.values())

    async def find_availability(
        self,
        *,
        slot_size: int,
        duration: int,
        price_per_byte_per_second: int,
        collateral_per_byte: int,
        valid_until: int,
    ) -> Availability | None:
        terms = {
            "slot_size": slot_size,
            "duration": duration,
            "price_per_byte_per_second": price_per_byte_per_second,
            "collateral_per_byte": collateral_per_byte,
            "valid_until": valid_until,
        }
        core.validate_find(**terms)
        found = core.find_first(list(self._availabilities.values()), **terms)
        return None if found is None else found.public()

    async def available_quota(self) -> int:
        return max(0, self.quota_bytes - self._reserved)

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
        async with self._lock:
            av = self._availability(av_id)
            for existing in self._reservations.values():
                if existing.request_id == req_id and existing.slot_index == slot_index:
                    if not core.same_terms(existing, availability_id=av_id, **terms):
                        raise core.conflict(existing)
                    return existing.public()
            new_av, res = core.reserve(
                av, _new_id(), request_id=req_id, slot_index=slot_index, **terms
            )
            await self._fault("create_reservation", "before_commit")
            self._reservations[res.id] = res
            self._availabilities[av_id] = new_av
        await self._fault("create_reservation", "after_commit")
        return res.public()

    def _pair(self, rid: str) -> tuple[AvailabilityRow, ReservationRow] | None:
        res = self._reservations.get(rid)
        if res is None:
            return None
        return self._availabilities[res.availability_id], res

    async def release(self, reservation_id: str, batch_seq: int, nbytes: int) -> Reservation:
        rid = core.validate_release(reservation_id, batch_seq, nbytes)
        async with self._lock:
            pair = self._pair(rid)
            if pair is None:
                raise NotExistsError(f"reservation {rid} does not exist")
            av, res = pair
            seen = self._batches.get((rid, batch_seq))
            if seen is not None:
                if seen != nbytes:
                    raise InvalidInputError(
                        f"batch {batch_seq} of reservation {rid} was released with "
                        f"{seen} bytes, not {nbytes}"
                    )
                return res.public()
            new_av, new_res = core.release(av, res, nbytes)
            await self._fault("release", "before_commit")
            self._batches[(rid, batch_seq)] = nbytes
            self._reservations[rid] = new_res
            self._availabilities[av.id] = new_av
        await self._fault("release", "after_commit")
        return new_res.public()

    async def return_bytes_to_availability(
        self, reservation_id: str, nbytes: int
    ) -> SavedAvailability | None:
        rid = core.check_id("reservationId", reservation_id)
        core.check_uint("bytes", nbytes, UINT64_MAX)
        async with self._lock:
            pair = self._pair(rid)
            if pair is None:
                raise NotExistsError(f"reservation {rid} does not exist")
            av, res = pair
            out = core.return_bytes(av, res, nbytes)
            if out is None:
                return None
            new_av, new_res = out
            await self._fault("return_bytes_to_availability", "before_commit")
            self._reservations[rid] = new_res
            self._availabilities[av.id] = new_av
        await self._fault("return_bytes_to_availability", "after_commit")
        return self._saved(new_av, True)

    async def delete_reservation(
        self, reservation_id: str, returned_collateral: int | None = None
    ) -> SavedAvailability | None:
        return await self._finish("delete_reservation", reservation_id, returned_collateral)

    async def close_reservation(
        self, reservation_id: str, returned_collateral: int | None = None
    ) -> SavedAvailability | None:
        return await self._finish("close_reservation", reservation_id, returned_collateral)

    async def _finish(
        self, operation: str, reservation_id: str, returned_collateral: int | None
    ) -> SavedAvailability | None:
        rid = core.check_id("reservationId", reservation_id)
        collateral = core.check_returned_collateral(returned_collateral)
        step = core.close if operation == "close_reservation" else core.delete
        async with self._lock:
            pair = self._pair(rid)
            if pair is None:
                return None
            av, res = pair
            new_av = step(av, res, collateral)
            await self._fault(operation, "before_commit")
            del self._reservations[rid]
            self._batches = {k: v for k, v in self._batches.items() if k[0] != rid}
            self._availabilities[av.id] = new_av
        await self._fault(operation, "after_commit")
        return self._saved(new_av, core.increased(av, new_av))

    async def record_fill(self, reservation_id: str, fill: FillRecord) -> Reservation | None:
        rid = core.check_id("reservationId", reservation_id)
        async with self._lock:
            row = self._reservations.get(rid)
            if row is None:
                return None
            record = later_fill_record(FillRecord(row.fill), FillRecord(fill))
            row = replace(row, fill=record.value)
            self._reservations[rid] = row
        return row.public()

    async def get_reservation(self, reservation_id: str) -> Reservation | None:
        row = await self.reservation_row(reservation_id)
        return None if row is None else row.public()

    async def reservation_row(self, reservation_id: str) -> ReservationRow | None:
        return self._reservations.get(core.check_id("reservationId", reservation_id))

    async def list_reservations(self, availability_id: str | None = None) -> list[Reservation]:
        return [row.public() for row in await self.reservation_rows(availability_id)]

    async def reservation_rows(self, availability_id: str | None = None) -> list[ReservationRow]:
        av_id = (
            None if availability_id is None else core.check_id("availabilityId", availability_id)
        )
        return [
            r for r in self._reservations.values() if av_id is None or r.availability_id == av_id
        ]
