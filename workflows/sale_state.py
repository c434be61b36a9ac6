"""The sale's states and data as pydantic models (SALES_BEHAVIOUR §5, §6).

`SaleState` is the current state *and* the parameters the spec passes to it (reprocessSlot,
returnsCollateral, returnedCollateral, the error, the proof). `SaleData` is everything the sale
knows: the query answer of both workflows of a sale (acquisition and hosting), and the typed
state the acquisition hands to the hosting workflow at the fill (`HostingInput`), which the
hosting workflow carries across its own continue-as-new.
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from sales.api import SaleInput, SaleSettings
from sales.hexbytes import Address, Bytes32
from sales.ids import slot_id
from sales.models import FillRecord, Groth16Proof, Reservation, SlotQueueItem, StorageRequest
from sales.uint import Timestamp, Uint64, Uint256


class StateName(StrEnum):
    """The spec's fifteen states without the `Sale` prefix; the `SaleState` search attribute."""

    UNKNOWN = "Unknown"
    PREPARING = "Preparing"
    SLOT_RESERVING = "SlotReserving"
    DOWNLOADING = "Downloading"
    INITIAL_PROVING = "InitialProving"
    FILLING = "Filling"
    FILLED = "Filled"
    PROVING = "Proving"
    PROVING_SIMULATED = "ProvingSimulated"
    PAYOUT = "Payout"
    FINISHED = "Finished"
    CANCELLED = "Cancelled"
    FAILED = "Failed"
    ERRORED = "Errored"
    IGNORED = "Ignored"


TERMINAL_STATES = frozenset(
    {StateName.FINISHED, StateName.CANCELLED, StateName.ERRORED, StateName.IGNORED}
)
"""States whose step cleans up and ends the sale (SALES-6); they cannot be interrupted."""


class SaleState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: StateName
    reprocess: bool = False
    """Ignored / Errored: push the queue item back as seen (SALES-6 step 2)."""
    returns_collateral: bool = False
    """Ignored: the reservation's collateral goes back (ST-IGN-1)."""
    returned_collateral: Uint256 | None = None
    """Finished: what the chain returned, read before freeSlot (ST-PAY-1)."""
    error: str | None = None
    """Errored: why."""
    proof: Groth16Proof | None = None
    """Filling: the initial proof (ST-IPRV-4)."""
    settled: bool = False
    """An end whose settlement is done (hosting): the sale ends there."""

    @property
    def terminal(self) -> bool:
        return self.name in TERMINAL_STATES


def errored(error: str, reprocess: bool = False) -> SaleState:
    return SaleState(name=StateName.ERRORED, error=error, reprocess=reprocess)


def ignored(reprocess: bool = False, returns_collateral: bool = False) -> SaleState:
    return SaleState(
        name=StateName.IGNORED, reprocess=reprocess, returns_collateral=returns_collateral
    )


class Watcher(StrEnum):
    """The expiry watcher's life (AGENT-3..6): it survives continue-as-new while on."""

    OFF = "off"
    ON = "on"
    DONE = "done"


SEEN_EVENT_KEYS = 64
"""How many chain-event keys a sale remembers for deduplication."""


class SaleData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: Bytes32
    slot_index: Uint64
    slot_id: Bytes32
    item: SlotQueueItem | None = None
    queue_workflow_id: str | None = None
    settings: SaleSettings = SaleSettings()
    state: SaleState
    request: StorageRequest | None = None
    reservation: Reservation | None = None
    expires_at: Timestamp | None = None
    request_end: Timestamp | None = None
    signer: Address | None = None
    clock_offset: int = 0
    """Chain time minus workflow time at the last chain read (chain time drives periods)."""
    watcher: Watcher = Watcher.OFF
    fill: FillRecord = FillRecord.NOT_SENT
    """The durable fill record (also on the reservation row): settlement reads it."""
    fill_attempts: int = 0
    """Fills the chain refused for a stale proof, each followed by proving again."""
    released: bool = False
    """The queue was told this sale no longer holds a worker (exactly once, SALES-5)."""
    proof_count: int = 0
    """ST-SIM-1 counter."""
    periods: int = 0
    """Proving periods handled, over every run."""
    proofs_submitted: int = 0
    last_proven_period: int | None = None
    """The last period with our proof on chain: never proven twice, never counted twice."""
    missed_periods: int = 0
    """Periods a proof was due and none landed (the prover failed, or time ran out)."""
    last_proof_seconds: float = 0.0
    """How long the last proof took to generate: the margin kept before a pointer wrap."""
    current_period: int | None = None
    next_deadline: Timestamp | None = None
    """Chain time by which the next thing must happen (the period's end while proving)."""
    collateral_on_chain: Uint256 | None = None
    """currentCollateral at the last read of a slot this host holds."""
    filled_at: Timestamp | None = None
    """Chain time (as this sale saw it) when its fill was known to have landed: payout metric."""
    runs: int = 1
    seen_events: list[str] = Field(default_factory=list)
    returned_collateral: Uint256 | None = None
    """Set by cleanup: what went back to the availability."""

    @classmethod
    def start(cls, sale: SaleInput) -> "SaleData":
        return cls(
            request_id=sale.request_id,
            slot_index=sale.slot_index,
            slot_id=slot_id(sale.request_id, sale.slot_index),
            item=sale.item,
            queue_workflow_id=sale.queue_workflow_id,
            settings=sale.settings,
            state=SaleState(name=StateName.PREPARING),
        )


class HostingInput(BaseModel):
    """The hosting workflow's input: everything the sale knows, typed (no opaque checkpoint).

    The acquisition workflow continues as new into the hosting workflow once its fill landed;
    reconciliation starts one at the recovery entry (Unknown) for a slot found on chain, or for
    a reservation no sale accounts for; the hosting workflow continues as new into itself.
    """

    model_config = ConfigDict(extra="forbid")

    data: SaleData

    @classmethod
    def recovery(
        cls,
        *,
        request_id: str,
        slot_index: int,
        reservation: Reservation | None,
        queue_workflow_id: str | None,
        settings: SaleSettings,
    ) -> "HostingInput":
        return cls(
            data=SaleData(
                request_id=request_id,
                slot_index=slot_index,
                slot_id=slot_id(request_id, slot_index),
                queue_workflow_id=queue_workflow_id,
                settings=settings,
                state=SaleState(name=StateName.UNKNOWN),
                reservation=reservation,
                fill=reservation.fill if reservation is not None else FillRecord.NOT_SENT,
            )
        )


class SaleOutcome(BaseModel):
    """The workflow's result."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: StateName
    error: str | None = None
    reprocess: bool = False
    returned_collateral: Uint256 | None = None
    periods: int = 0
    proofs_submitted: int = 0
