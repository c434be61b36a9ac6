"""Which availability may take a slot (RES-4, RES-16, COL-2)."""

from sales.models import Availability


def max_collateral_per_byte(availability: Availability) -> int:
    """RES-4: remaining collateral spread over the free bytes (all of it when nothing is free)."""
    if availability.free_size == 0:
        return availability.total_remaining_collateral
    return availability.total_remaining_collateral // availability.free_size


def matches(
    availability: Availability,
    *,
    slot_size: int,
    duration: int,
    price_per_byte_per_second: int,
    collateral_per_byte: int,
    valid_until: int,
) -> bool:
    """RES-16: every condition must hold; collateral uses the ask's full per-byte value (COL-2)."""
    return (
        availability.enabled
        and slot_size <= availability.free_size
        and duration <= availability.duration
        and collateral_per_byte <= max_collateral_per_byte(availability)
        and price_per_byte_per_second >= availability.min_price_per_byte_per_second
        and (availability.until == 0 or availability.until >= valid_until)
    )
