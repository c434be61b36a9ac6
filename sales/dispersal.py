"""The dispersal window (ARCHITECTURE.md §5): spread a dataset's slots across hosts.

A host may reserve a slot once the slot id and the host key are close enough in XOR distance.
The allowed distance doubles with time: ``allowed_bits`` grows linearly from ``initial_bits`` at
``start`` to 256 (everyone) after ``window_seconds``. The development marketplace enforces the
same integer formula in ``canReserveSlot`` when the window is on; a shared vector file proves the
two agree (tests/sales/test_dispersal.py, tests/chain).
"""

from pydantic import BaseModel, ConfigDict, Field

from sales.hexbytes import to_bytes
from sales.keccak import keccak256

FULL_BITS = 256


class DispersalWindow(BaseModel):
    """Window settings. ``window_percent`` of the request's expiry is the window's length."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_bits: int = Field(default=FULL_BITS, ge=0, le=FULL_BITS)
    window_percent: int = Field(default=50, ge=0, le=10_000)

    @property
    def enabled(self) -> bool:
        return self.initial_bits < FULL_BITS

    def window_seconds(self, expiry: int) -> int:
        """Length of the window for a request whose relative expiry is ``expiry`` seconds."""
        return expiry * self.window_percent // 100


def host_key(host_address: str) -> int:
    """uint256(keccak256(abi.encodePacked(address))): keccak over the 20 address bytes."""
    return int.from_bytes(keccak256(to_bytes(host_address)), "big")


def distance(slot_id: str, host_address: str) -> int:
    """XOR distance between a slot id and a host key."""
    return int.from_bytes(to_bytes(slot_id), "big") ^ host_key(host_address)


def allowed_bits(window: DispersalWindow, start: int, expiry: int, now: int) -> int:
    """How many low bits of the distance may be set at ``now``."""
    span = window.window_seconds(expiry)
    if not window.enabled or span == 0:
        return FULL_BITS
    elapsed = max(0, now - start)
    grown = window.initial_bits + elapsed * (FULL_BITS - window.initial_bits) // span
    return min(FULL_BITS, grown)


def is_eligible(
    window: DispersalWindow, slot_id: str, host_address: str, start: int, expiry: int, now: int
) -> bool:
    """Whether the host may reserve the slot at ``now``."""
    bits = allowed_bits(window, start, expiry, now)
    return bits >= FULL_BITS or distance(slot_id, host_address) < 2**bits


def eligible_at(
    window: DispersalWindow, slot_id: str, host_address: str, start: int, expiry: int
) -> int:
    """The earliest time at which the host is eligible: the wait the sale workflow sleeps."""
    span = window.window_seconds(expiry)
    if not window.enabled or span == 0:
        return start
    needed = distance(slot_id, host_address).bit_length()
    if needed <= window.initial_bits:
        return start
    # Smallest elapsed e with initial + floor(e * (256 - initial) / span) >= needed.
    extra = needed - window.initial_bits
    growth = FULL_BITS - window.initial_bits
    elapsed = -(-(extra * span) // growth)
    return start + elapsed
