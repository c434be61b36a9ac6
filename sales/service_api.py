"""Messages of the sales service around the queue: the chain follower and reconciliation."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from sales.api import SaleSettings
from sales.hexbytes import Bytes32
from sales.uint import Uint64, Uint256


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


CHAIN_FOLLOWER_WORKFLOW = "ChainFollower"


def follower_workflow_id(host_address: str) -> str:
    return f"chain-follower-{host_address.lower()}"


def reconcile_workflow_id(host_address: str) -> str:
    return f"reconcile-{host_address.lower()}"


class ServiceActivity(StrEnum):
    FOLLOW_CHAIN = "service_follow_chain"
    RECONCILE_PLAN = "service_reconcile_plan"


class FollowInput(Message):
    queue_workflow_id: str
    start_block: Uint64 = 0
    confirmations: int = Field(default=1, ge=1)


class ReconcileInput(Message):
    queue_workflow_id: str | None = None
    settings: SaleSettings = SaleSettings()


class OrphanedReservation(Message):
    """A reservation whose slot this host does not hold on chain and no sale is running."""

    reservation_id: Bytes32
    availability_id: Bytes32
    request_id: Bytes32
    slot_index: Uint64
    returned_collateral: Uint256
    """What goes back to the availability (sales.reconcile.orphan_returned_collateral)."""


class ReconcilePlan(Message):
    recover: list[tuple[Bytes32, Uint64]]
    """(requestId, slotIndex) of active slots on chain, each to get a recovery sale."""
    orphans: list[OrphanedReservation]


class ReconcileReport(Message):
    recovered: list[str]
    """Workflow ids of recovery sales started."""
    already_running: int
    closed: list[Bytes32]
    """Reservation ids closed."""
    returned_collateral: Uint256
