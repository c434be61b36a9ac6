"""Wire models of Codex's sales REST API (nim-codex `openapi.yaml`, `codex/rest/json.nim`).

Field names are Codex's camelCase ones. As in Codex, uint64 fields are JSON integers, UInt256
amounts are decimal strings, and both are also accepted as decimal strings on input (Codex's
deserializer does). A negative or out-of-range number is refused with Codex's own message,
"Parsed integer outside of valid range", which the app answers with 400.
"""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from sales.models import Availability
from sales.models import Reservation as LedgerReservation
from sales.models import StorageRequest as ChainRequest
from sales.uint import INT64_MAX, UINT64_MAX, UINT256_MAX
from workflows.sale_state import StateName

OUT_OF_RANGE = "Parsed integer outside of valid range"


def _parse_uint(value: object, maximum: int) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise ValueError(f"{value!r} is not a decimal integer") from None
    elif isinstance(value, int):
        number = value
    else:
        raise ValueError(f"expected an integer, got {type(value).__name__}")
    if number < 0 or number > maximum:
        raise ValueError(OUT_OF_RANGE)
    return number


def _uint64(value: object) -> int:
    return _parse_uint(value, UINT64_MAX)


def _timestamp(value: object) -> int:
    """`until`: SecondsSince1970 (int64); negative passes here, the ledger refuses it (422)."""
    if isinstance(value, str):
        try:
            value = int(value.strip(), 10)
        except ValueError:
            raise ValueError(f"{value!r} is not a decimal integer") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected an integer")
    if value > INT64_MAX or value < -INT64_MAX - 1:
        raise ValueError(OUT_OF_RANGE)
    return value


def _uint256_text(value: object) -> str:
    return str(_parse_uint(value, UINT256_MAX))


Uint64In = Annotated[int, BeforeValidator(_uint64)]
TimestampIn = Annotated[int, BeforeValidator(_timestamp)]
Uint256Text = Annotated[str, BeforeValidator(_uint256_text)]
"""A UInt256 amount carried as a decimal string, as Codex does."""


class SalesAvailability(BaseModel):
    """POST body: the space offered (Codex `SalesAvailability`)."""

    model_config = ConfigDict(extra="ignore", title="SalesAvailability")

    totalSize: Uint64In
    duration: Uint64In
    minPricePerBytePerSecond: Uint256Text
    totalCollateral: Uint256Text
    enabled: bool = True
    until: TimestampIn = 0


class SalesAvailabilityPatch(BaseModel):
    """PATCH body: Codex's `SalesAvailability` fields, all optional. `freeSize` is parsed only
    to be refused with 422, as `codex/rest/api.nim` does."""

    model_config = ConfigDict(extra="ignore", title="SalesAvailabilityPatch")

    totalSize: Uint64In | None = None
    duration: Uint64In | None = None
    minPricePerBytePerSecond: Uint256Text | None = None
    totalCollateral: Uint256Text | None = None
    enabled: bool | None = None
    until: TimestampIn | None = None
    freeSize: Uint64In | None = None


class SalesAvailabilityREAD(BaseModel):
    """An availability as stored (Codex `SalesAvailabilityREAD`)."""

    model_config = ConfigDict(title="SalesAvailabilityREAD")

    id: str
    totalSize: int
    freeSize: int
    duration: int
    minPricePerBytePerSecond: str
    totalCollateral: str
    totalRemainingCollateral: str
    enabled: bool
    until: int

    @classmethod
    def of(cls, a: Availability) -> "SalesAvailabilityREAD":
        return cls(
            id=a.id,
            totalSize=a.total_size,
            freeSize=a.free_size,
            duration=a.duration,
            minPricePerBytePerSecond=str(a.min_price_per_byte_per_second),
            totalCollateral=str(a.total_collateral),
            totalRemainingCollateral=str(a.total_remaining_collateral),
            enabled=a.enabled,
            until=a.until,
        )


class Reservation(BaseModel):
    """Codex `Reservation`."""

    id: str
    availabilityId: str
    size: int
    requestId: str
    slotIndex: int
    validUntil: int

    @classmethod
    def of(cls, r: LedgerReservation) -> "Reservation":
        return cls(
            id=r.id,
            availabilityId=r.availability_id,
            size=r.size,
            requestId=r.request_id,
            slotIndex=r.slot_index,
            validUntil=r.valid_until,
        )


class StorageAsk(BaseModel):
    slots: int
    slotSize: int
    duration: int
    proofProbability: str
    pricePerBytePerSecond: str
    collateralPerByte: str
    maxSlotLoss: int


class Content(BaseModel):
    cid: str


class StorageRequest(BaseModel):
    """Codex `StorageRequest`; `content.cid` is the contract's binary CID as 0x-hex."""

    id: str
    client: str
    ask: StorageAsk
    content: Content
    expiry: int
    nonce: str

    @classmethod
    def of(cls, request: ChainRequest) -> "StorageRequest":
        ask = request.ask
        return cls(
            id=request.id,
            client=request.client,
            ask=StorageAsk(
                slots=ask.slots,
                slotSize=ask.slot_size,
                duration=ask.duration,
                proofProbability=str(ask.proof_probability),
                pricePerBytePerSecond=str(ask.price_per_byte_per_second),
                collateralPerByte=str(ask.collateral_per_byte),
                maxSlotLoss=ask.max_slot_loss,
            ),
            content=Content(cid=request.content.cid),
            expiry=request.expiry,
            nonce=request.nonce,
        )


class Slot(BaseModel):
    """Codex `Slot`: a slot this host is selling or hosting."""

    id: str
    request: StorageRequest
    slotIndex: int


class SaleStateName(StrEnum):
    """Codex's `SlotAgent.state` enum: our state names with Codex's `Sale` prefix."""

    CANCELLED = "SaleCancelled"
    DOWNLOADING = "SaleDownloading"
    ERRORED = "SaleErrored"
    FAILED = "SaleFailed"
    FILLED = "SaleFilled"
    FILLING = "SaleFilling"
    FINISHED = "SaleFinished"
    IGNORED = "SaleIgnored"
    INITIAL_PROVING = "SaleInitialProving"
    PAYOUT = "SalePayout"
    PREPARING = "SalePreparing"
    PROVING = "SaleProving"
    UNKNOWN = "SaleUnknown"


def codex_state(name: str | None) -> SaleStateName:
    """Our state name (the `SaleState` search attribute) as Codex's. SlotReserving is part of
    Codex's Preparing step and ProvingSimulated of Proving, so they map there; an unknown or
    missing name is SaleUnknown."""
    aliases = {
        StateName.SLOT_RESERVING: "SalePreparing",
        StateName.PROVING_SIMULATED: "SaleProving",
    }
    if name in aliases:
        return SaleStateName(aliases[StateName(name)])
    try:
        return SaleStateName(f"Sale{name}")
    except ValueError:
        return SaleStateName.UNKNOWN


class SlotAgent(BaseModel):
    """Codex `SlotAgent`: the host's sale of one slot."""

    model_config = ConfigDict(title="SlotAgent")

    slotIndex: int
    requestId: str
    request: StorageRequest | None = None
    reservation: Reservation | None = None
    state: SaleStateName


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
