"""Ledger activities: one class holding the `Ledger` (RES-*), on the `sales` task queue.

Every ledger operation is idempotent under its key (ARCHITECTURE §3), so a retried activity
returns the same reservation or is a no-op.
"""

from collections.abc import Callable

from temporalio import activity

from activities.errors import business_errors
from ledger.api import Ledger
from sales.api import (
    Activity,
    AvailabilityLookup,
    CloseReservationInput,
    CloseReservationResult,
    CreateReservationInput,
    FindAvailabilityInput,
    RecordFillInput,
    ReservationList,
    ReservationSummary,
)
from sales.models import Reservation


class LedgerActivities:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @activity.defn(name=Activity.LEDGER_FIND_AVAILABILITY)
    async def find_availability(self, find: FindAvailabilityInput) -> AvailabilityLookup:
        async with business_errors():
            found = await self._ledger.find_availability(
                slot_size=find.slot_size,
                duration=find.duration,
                price_per_byte_per_second=find.price_per_byte_per_second,
                collateral_per_byte=find.collateral_per_byte,
                valid_until=find.valid_until,
            )
            return AvailabilityLookup(availability=found)

    @activity.defn(name=Activity.LEDGER_CREATE_RESERVATION)
    async def create_reservation(self, create: CreateReservationInput) -> Reservation:
        async with business_errors():
            return await self._ledger.create_reservation(
                availability_id=create.availability_id,
                slot_size=create.slot_size,
                request_id=create.request_id,
                slot_index=create.slot_index,
                collateral_per_byte=create.collateral_per_byte,
                valid_until=create.valid_until,
            )

    @activity.defn(name=Activity.LEDGER_CLOSE_RESERVATION)
    async def close_reservation(self, close: CloseReservationInput) -> CloseReservationResult:
        """SALES-6 step 1; the notice is only returned after commit (Q-10)."""
        async with business_errors():
            saved = await self._ledger.close_reservation(
                close.reservation_id, close.returned_collateral
            )
            return CloseReservationResult(availability_saved=saved.notice if saved else None)

    @activity.defn(name=Activity.LEDGER_RECORD_FILL)
    async def record_fill(self, record: RecordFillInput) -> None:
        """ARCHITECTURE §8: the fill record on the reservation row, before and after the fill."""
        async with business_errors():
            await self._ledger.record_fill(record.reservation_id, record.fill)

    @activity.defn(name=Activity.LEDGER_LIST_RESERVATIONS)
    async def list_reservations(self) -> ReservationList:
        async with business_errors():
            rows = await self._ledger.list_reservations()
            return ReservationList(
                reservations=[
                    ReservationSummary(
                        reservation_id=r.id,
                        availability_id=r.availability_id,
                        request_id=r.request_id,
                        slot_index=r.slot_index,
                    )
                    for r in rows
                ]
            )

    def all(self) -> list[Callable[..., object]]:
        return [
            self.find_availability,
            self.create_reservation,
            self.close_reservation,
            self.record_fill,
            self.list_reservations,
        ]
