"""The `Market` port: every marketplace call the sales module makes (MKT-1).

`chain.onchain.OnChainMarket` implements it against any Codex-ABI marketplace; `chain.fake`
implements it in memory for fast tests. Both return the domain models of `sales/` and raise
the typed errors below (MKT-2/3).
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sales.models import (
    Groth16Proof,
    MarketplaceConfig,
    RequestState,
    Slot,
    SlotState,
    StorageRequest,
)


class MarketError(Exception):
    """Any marketplace failure; the message starts with what was attempted (MKT-3)."""


class SlotStateMismatchError(MarketError):
    """fillSlot on a slot that is not free, freeSlot on a free slot (MKT-3)."""


class SlotReservationNotAllowedError(MarketError):
    """reserveSlot refused by the contract (MKT-3)."""


class ProofInvalidError(MarketError):
    """submitProof with a proof the verifier rejects (MKT-3)."""


@dataclass(frozen=True)
class ProvingSnapshot:
    """A slot's proving facts, all read at ONE block so period, pointer and challenge agree."""

    block_number: int
    timestamp: int
    seconds_per_block: float
    slot_state: SlotState
    request_state: RequestState | None
    host: str | None
    pointer: int
    challenge: str
    proof_required: bool
    proof_will_be_required: bool


@dataclass(frozen=True)
class ProvingBatch:
    """Proving facts of many slots, all read at ONE block (the scheduler's read per period)."""

    block_number: int
    timestamp: int
    seconds_per_block: float
    snapshots: Mapping[str, ProvingSnapshot]
    """By slot id, as asked; a slot whose views could not be read is left out (logged)."""


OnSent = Callable[[str], Awaitable[None]]
"""Called with the tx hash right after broadcast, so a retry can find it (heartbeat it)."""


class Market(Protocol):
    # configuration and identity
    async def get_signer(self) -> str: ...
    async def configuration(self) -> MarketplaceConfig: ...
    async def current_time(self) -> int:
        """The latest block's timestamp: the clock periods and expiries are measured on."""
        ...

    # reads
    async def get_request(self, request_id: str) -> StorageRequest | None: ...
    async def request_state(self, request_id: str) -> RequestState | None: ...
    async def slot_state(self, slot_id: str) -> SlotState: ...
    async def request_end(self, request_id: str) -> int: ...
    async def request_expires_at(self, request_id: str) -> int: ...
    async def get_host(self, slot_id: str) -> str | None: ...
    async def current_collateral(self, slot_id: str) -> int: ...
    async def get_active_slot(self, slot_id: str) -> Slot | None: ...
    async def my_slots(self) -> list[str]: ...
    async def can_reserve_slot(self, request_id: str, slot_index: int) -> bool: ...
    async def slot_collateral(self, request_id: str, slot_index: int) -> int:
        """Collateral to deposit: repair-discounted when the slot is in Repair (MKT-9, COL-3)."""
        ...

    async def get_pointer(self, slot_id: str) -> int: ...
    async def get_challenge(self, slot_id: str) -> str: ...
    async def is_proof_required(self, slot_id: str) -> bool: ...
    async def will_proof_be_required(self, slot_id: str) -> bool: ...
    async def proving_snapshot(self, slot_id: str, request_id: str) -> ProvingSnapshot:
        """Everything a proving period needs, read at one block (the latest)."""
        ...

    async def proving_snapshots(self, slots: Sequence[tuple[str, str]]) -> ProvingBatch:
        """`proving_snapshot` for many (slot id, request id) pairs at one block (the latest),
        in as few round trips as the backend allows (a JSON-RPC batch on chain)."""
        ...

    # transactions: each is safe to retry; pass the hash sent before as `sent`
    async def reserve_slot(
        self,
        request_id: str,
        slot_index: int,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None: ...
    async def fill_slot(
        self,
        request_id: str,
        slot_index: int,
        proof: Groth16Proof,
        collateral: int,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None: ...
    async def submit_proof(
        self,
        slot_id: str,
        proof: Groth16Proof,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None: ...
    async def free_slot(
        self, slot_id: str, *, sent: str | None = None, on_sent: OnSent | None = None
    ) -> str | None: ...
