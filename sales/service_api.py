"""Messages of the sales service around the queue: the chain follower and reconciliation."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from sales.api import SaleSettings
from sales.hexbytes import Bytes32
from sales.models import Reservation
from sales.uint import Uint64


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


CHAIN_FOLLOWER_WORKFLOW = "ChainFollower"

DEFAULT_CONFIRMATIONS = 12
"""Blocks an event must be deep before the chain follower delivers it: deep enough that a public
chain's ordinary reorganisations happen before delivery (the follower rewinds for deeper ones).
The local stack and the tests ask for 1 (SALES_CONFIRMATIONS)."""


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
    confirmations: int = Field(default=DEFAULT_CONFIRMATIONS, ge=1)


class ReconcileInput(Message):
    queue_workflow_id: str | None = None
    settings: SaleSettings = SaleSettings()


class SlotToAdopt(Message):
    """A slot reconciliation hands to a hosting workflow at its recovery entry.

    Either the chain shows this host holding it (with or without a reservation row), or a
    reservation row outlived its sale. The hosting workflow reads the chain's facts and settles
    through `sales.settlement.settle`, so reconciliation never decides collateral itself.
    """

    request_id: Bytes32
    slot_index: Uint64
    reservation: Reservation | None = None


class ReconcilePlan(Message):
    adopt: list[SlotToAdopt]


class ReconcileReport(Message):
    adopted: list[str]
    """Workflow ids of the hosting workflows started at the recovery entry."""
    already_running: int
    """Slots whose sale was running: that sale accounts for them."""
