"""Data models of the Sales module (SALES_BEHAVIOUR.md §0, MARKETPLACE_ABI.md §1).

Field order follows the contract's ABI tuples. Every integer is range-checked by its type, so a
hostile on-chain value is rejected at the boundary instead of wrapping later.
"""

from collections.abc import Sequence
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sales.hexbytes import Address, Bytes32, HexData
from sales.uint import Timestamp, Uint8, Uint16, Uint64, Uint256, mul256


class Frozen(BaseModel):
    """Immutable value object; unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class RequestState(IntEnum):
    """On-chain request state (MARKETPLACE_ABI.md §1, ABI uint8)."""

    New = 0
    Started = 1
    Cancelled = 2
    Finished = 3
    Failed = 4


class SlotState(IntEnum):
    """On-chain slot state (MARKETPLACE_ABI.md §1, ABI uint8)."""

    Free = 0
    Filled = 1
    Finished = 2
    Failed = 3
    Paid = 4
    Cancelled = 5
    Repair = 6


class StorageAsk(Frozen):
    proof_probability: Uint256
    price_per_byte_per_second: Uint256
    collateral_per_byte: Uint256
    slots: Uint64
    slot_size: Uint64
    duration: Uint64
    max_slot_loss: Uint64

    @property
    def price_per_slot_per_second(self) -> int:
        """ARITH-1."""
        return mul256(self.price_per_byte_per_second, self.slot_size, "pricePerSlotPerSecond")

    @property
    def price_per_slot(self) -> int:
        """ARITH-2: the slot queue's profitability."""
        return mul256(self.duration, self.price_per_slot_per_second, "pricePerSlot")

    @property
    def total_price(self) -> int:
        """ARITH-3: the contract's maxPrice, what the client approves."""
        return mul256(self.slots, self.price_per_slot, "totalPrice")

    @property
    def collateral_per_slot(self) -> int:
        """ARITH-4."""
        return mul256(self.collateral_per_byte, self.slot_size, "collateralPerSlot")

    @property
    def size(self) -> int:
        """ARITH-6: the dataset's size in bytes."""
        return mul256(self.slots, self.slot_size, "size")


class StorageContent(Frozen):
    cid: HexData
    """The binary CID bytes, as the contract stores them."""
    merkle_root: Bytes32


class StorageRequest(Frozen):
    client: Address
    ask: StorageAsk
    content: StorageContent
    expiry: Uint64
    """Seconds after creation at which an unfilled request expires (relative)."""
    nonce: Bytes32

    @property
    def id(self) -> str:
        """ARITH-7: keccak256(abi.encode(request))."""
        from sales.ids import request_id

        return request_id(self)


class Slot(Frozen):
    request: StorageRequest
    slot_index: Uint64

    @property
    def id(self) -> str:
        from sales.ids import slot_id

        return slot_id(self.request.id, self.slot_index)


def repair_collateral(collateral_per_slot: int, repair_reward_percentage: int) -> int:
    """ARITH-5: the discounted collateral a repairing host deposits (floor division)."""
    return collateral_per_slot - (collateral_per_slot * repair_reward_percentage) // 100


class Availability(Frozen):
    """Space a host offers (RES-8..15). ``until == 0`` means no end."""

    id: Bytes32
    total_size: Uint64
    free_size: Uint64
    duration: Uint64
    min_price_per_byte_per_second: Uint256
    total_collateral: Uint256
    total_remaining_collateral: Uint256
    enabled: bool = True
    until: Timestamp = 0


class FillRecord(StrEnum):
    """The durable record of this host's fill, kept in the workflow and on the reservation row."""

    NOT_SENT = "not_sent"
    """No fillSlot transaction was ever broadcast: nothing can be on chain."""
    SENT = "sent"
    """Broadcast; no outcome seen yet. The collateral may be on chain."""
    LANDED = "landed"
    """Our fillSlot was mined successfully: the collateral went on chain."""
    REFUSED = "refused"
    """The chain reverted our fillSlot (another host won, a stale proof...): nothing deposited."""


class Reservation(Frozen):
    """Bytes of an availability held for one slot (RES-17..21)."""

    id: Bytes32
    availability_id: Bytes32
    size: Uint64
    """Bytes still reserved and not yet written."""
    request_id: Bytes32
    slot_index: Uint64
    valid_until: Timestamp
    """The request end (absolute seconds)."""
    collateral: Uint256 = 0
    """What the reservation deducted from the availability's remaining collateral."""
    fill: FillRecord = FillRecord.NOT_SENT
    """The durable fill record: settlement reads it (sales/settlement.py)."""


class SlotQueueItem(Frozen):
    """One slot offered to this host, ranked by SQ-11.

    Decision Q-2: ``expiry`` is always an absolute timestamp (the request's expiresAt), for new
    requests and freed slots alike, so the ordering is a strict weak order.
    """

    request_id: Bytes32
    slot_index: Uint16
    slot_size: Uint64
    duration: Uint64
    price_per_byte_per_second: Uint256
    collateral: Uint256
    """The collateral this host would deposit: full, or repair-discounted (COL-1)."""
    expiry: Uint64
    seen: bool = False
    window_start: Uint64 = 0
    """When the dispersal window opened: request creation, or the SlotFreed block time."""
    repair: bool = False

    @property
    def key(self) -> tuple[str, int]:
        """SQ-7: items are the same item when (requestId, slotIndex) match."""
        return (self.request_id, self.slot_index)

    @property
    def profitability(self) -> int:
        """ARITH-2 computed from the item's own fields."""
        return self.duration * self.price_per_byte_per_second * self.slot_size


class G1Point(Frozen):
    x: Uint256
    y: Uint256


class Fp2Element(Frozen):
    real: Uint256
    imag: Uint256


class G2Point(Frozen):
    x: Fp2Element
    y: Fp2Element


class Groth16Proof(Frozen):
    """A Groth16 proof in Codex's struct order (MARKETPLACE_ABI.md §1, §11)."""

    a: G1Point
    b: G2Point
    c: G1Point

    @classmethod
    def zero(cls) -> "Groth16Proof":
        """The all-zero proof every verifier rejects (ST-SIM-1 relies on it)."""
        g1 = G1Point(x=0, y=0)
        fp = Fp2Element(real=0, imag=0)
        return cls(a=g1, b=G2Point(x=fp, y=fp), c=g1)

    def abi_words(self) -> tuple[int, ...]:
        """The 8 static ABI words: a.x, a.y, b.x.real, b.x.imag, b.y.real, b.y.imag, c.x, c.y."""
        return (
            self.a.x,
            self.a.y,
            self.b.x.real,
            self.b.x.imag,
            self.b.y.real,
            self.b.y.imag,
            self.c.x,
            self.c.y,
        )

    def abi_tuple(self) -> tuple[object, ...]:
        """The ABI tuple ((ax, ay), ((bxr, bxi), (byr, byi)), (cx, cy)) for web3/eth-abi."""
        return (
            (self.a.x, self.a.y),
            ((self.b.x.real, self.b.x.imag), (self.b.y.real, self.b.y.imag)),
            (self.c.x, self.c.y),
        )


class CollateralConfig(Frozen):
    repair_reward_percentage: Uint8
    max_number_of_slashes: Uint8
    slash_percentage: Uint8
    validator_reward_percentage: Uint8


class ProofConfig(Frozen):
    period: Uint64 = Field(gt=0)
    timeout: Uint64
    downtime: Uint8
    downtime_product: Uint8
    zkey_hash: str = ""


class SlotReservationsConfig(Frozen):
    max_reservations: Uint8


class MarketplaceConfig(Frozen):
    """The contract's immutable configuration (MARKETPLACE_ABI.md §1, §6)."""

    collateral: CollateralConfig
    proofs: ProofConfig
    reservations: SlotReservationsConfig
    request_duration_limit: Uint64

    def to_abi(self) -> tuple[object, ...]:
        """The constructor's tuple ((u8,u8,u8,u8),(u64,u64,u8,u8,string),(u8),u64)."""
        c, p = self.collateral, self.proofs
        return (
            (
                c.repair_reward_percentage,
                c.max_number_of_slashes,
                c.slash_percentage,
                c.validator_reward_percentage,
            ),
            (p.period, p.timeout, p.downtime, p.downtime_product, p.zkey_hash),
            (self.reservations.max_reservations,),
            self.request_duration_limit,
        )

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> "MarketplaceConfig":
        """Parse the tuple `configuration()` returns."""
        collateral, proofs, reservations, limit = value
        return cls(
            collateral=CollateralConfig(
                repair_reward_percentage=collateral[0],
                max_number_of_slashes=collateral[1],
                slash_percentage=collateral[2],
                validator_reward_percentage=collateral[3],
            ),
            proofs=ProofConfig(
                period=proofs[0],
                timeout=proofs[1],
                downtime=proofs[2],
                downtime_product=proofs[3],
                zkey_hash=proofs[4],
            ),
            reservations=SlotReservationsConfig(max_reservations=reservations[0]),
            request_duration_limit=limit,
        )
