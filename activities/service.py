"""Service activities: the long-running chain follower, reconciliation's reads, and the queue's
check on sales an earlier run of it started."""

import asyncio
import contextlib
import logging
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from activities.metrics import count, gauge
from activities.router import EventRouter, QueueUnavailableError
from chain.follower import ChainFollower, Cursor
from chain.market import Market
from ledger.api import Ledger
from sales.api import sale_workflow_id
from sales.ids import slot_id
from sales.metrics import EVENTS_DEAD_LETTERED, FOLLOWER_LAG, FOLLOWER_REORGS
from sales.models import SlotState
from sales.queue_api import HeldSales, QueueActivity
from sales.service_api import (
    FollowInput,
    ReconcilePlan,
    ServiceActivity,
    SlotToAdopt,
)
from sales.validation import DEFAULT_BOUNDS, RequestBounds

log = logging.getLogger(__name__)

NEEDS_HOSTING = frozenset({SlotState.Filled, SlotState.Finished, SlotState.Cancelled})
"""Slot states with work left for this host: proofs, or a payout or refund to collect. A failed
request's slot stays in mySlots (no freeSlot on Failed) but holds nothing to recover."""

FOLLOWER_TRANSIENT: tuple[type[BaseException], ...] = (
    QueueUnavailableError,
    RPCError,
    ConnectionError,  # ChainUnavailableError: the router's chain reads
    TimeoutError,
    OSError,
)
"""Sink failures that are outages, retried for ever; any other failure at one event counts
toward dead-lettering it (chain.follower, DEAD_LETTER_AFTER)."""

HEARTBEAT_EVERY = 5.0
"""Seconds between heartbeats of the follower, idle or not (its heartbeat timeout is larger)."""


class ServiceActivities:
    def __init__(
        self,
        *,
        market: Market,
        ledger: Ledger,
        rpc_url: str,
        marketplace: str,
        dsn: str,
        bounds: RequestBounds = DEFAULT_BOUNDS,
    ) -> None:
        self.market = market
        self.bounds = bounds
        """The request bounds of the router's validation gate (the host's quota among them)."""
        self.ledger = ledger
        self._rpc_url = rpc_url
        self._marketplace = marketplace
        self._dsn = dsn

    def __repr__(self) -> str:  # the DSN holds the database password
        return f"ServiceActivities(marketplace={self._marketplace!r})"

    @activity.defn(name=ServiceActivity.FOLLOW_CHAIN)
    async def follow_chain(self, follow: FollowInput) -> None:
        """Run the follower until cancelled; a crash resumes elsewhere from the cursor."""
        router = EventRouter(
            activity.client(), self.market, follow.queue_workflow_id, bounds=self.bounds
        )
        latest = LatestCursor()
        follower = ChainFollower.connect(
            self._rpc_url,
            self._marketplace,
            self._dsn,
            router,
            start_block=follow.start_block,
            confirmations=follow.confirmations,
            transient=FOLLOWER_TRANSIENT,
            on_progress=latest.update,
            on_dead_letter=lambda letter: count(EVENTS_DEAD_LETTERED, 1, {"kind": letter.kind}),
            on_reorg=lambda _old, _new: count(FOLLOWER_REORGS),
        )
        beat = asyncio.create_task(_heartbeat(latest, follower))
        try:
            await follower.run()
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            await follower.close()

    @activity.defn(name=ServiceActivity.RECONCILE_PLAN)
    async def reconcile_plan(self) -> ReconcilePlan:
        """SALES-4: the slots a hosting workflow must adopt: every slot the chain shows this
        host holding, and every reservation whose sale is gone (Q-7). Each carries its
        reservation row, which records what it deducted and whether the fill was sent."""
        reservations = {
            slot_id(r.request_id, r.slot_index): r for r in await self.ledger.list_reservations()
        }
        adopt: dict[str, SlotToAdopt] = {}
        for sid in await self.market.my_slots():
            slot = await self.market.get_active_slot(sid)
            if slot is None:
                continue
            if sid in reservations or await self.market.slot_state(sid) in NEEDS_HOSTING:
                adopt[sid] = SlotToAdopt(
                    request_id=slot.request.id,
                    slot_index=slot.slot_index,
                    reservation=reservations.get(sid),
                )
        for sid, reservation in reservations.items():
            if sid not in adopt and not await _sale_running(sid):
                adopt[sid] = SlotToAdopt(
                    request_id=reservation.request_id,
                    slot_index=reservation.slot_index,
                    reservation=reservation,
                )
        return ReconcilePlan(adopt=list(adopt.values()))


@activity.defn(name=QueueActivity.CLOSED_SALES)
async def closed_sales(held: HeldSales) -> list[str]:
    """Workflow ids of the held sales whose run has closed (or is gone): their worker is free."""
    client = activity.client()
    return [
        sale.workflow_id
        for sale in held.sales
        if not await _running(client.get_workflow_handle(sale.workflow_id, run_id=sale.run_id))
    ]


async def _sale_running(sid: str) -> bool:
    return await _running(activity.client().get_workflow_handle(sale_workflow_id(sid)))


async def _running(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether this workflow (run) is still running; an unknown one is not."""
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return description.status == WorkflowExecutionStatus.RUNNING


class LatestCursor:
    """The follower's newest position: what the next heartbeat reports (kept, not collected)."""

    def __init__(self) -> None:
        self.cursor: Cursor | None = None

    def update(self, cursor: Cursor) -> None:
        self.cursor = cursor


async def _heartbeat(latest: LatestCursor, follower: Any = None) -> None:
    while True:
        activity.heartbeat(latest.cursor.model_dump() if latest.cursor else None)
        if follower is not None:
            await _follower_metrics(follower, latest)
        await asyncio.sleep(HEARTBEAT_EVERY)


async def _follower_metrics(follower: Any, latest: LatestCursor) -> None:
    """The follower's lag behind the chain head (its dead letters count as they happen)."""
    if latest.cursor is not None:
        try:
            head = await follower.source.head()
        except Exception:  # the follower itself reports RPC trouble
            return
        gauge(FOLLOWER_LAG, head + 1 - latest.cursor.block_number)
