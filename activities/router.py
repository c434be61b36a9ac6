"""Chain events → the queue and the sales (SALES-7..13), exactly once in effect.

The chain follower calls `EventRouter` for each confirmed event. Every message it sends carries
the event's key (txHash:logIndex), which the queue and the sale workflows use to drop repeats,
so a follower restart that re-delivers an event changes nothing.

Requests pass one validation gate (sales.validation) before they become queue items: a refused
request is logged once with its reason, counted (`codex_sales_requests_refused_total`, labelled
by the bound), and returns normally, so the follower moves on and never retries it.
"""

import logging
from collections import Counter

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.metrics import count
from chain.events import (
    AnyEvent,
    RequestCancelled,
    RequestFailed,
    RequestFulfilled,
    SlotFilled,
    SlotFreed,
    SlotReservationsFull,
    StorageRequested,
)
from chain.market import Market
from sales.api import SALES_VISIBILITY_QUERY, ChainEvent, SaleSignal, sale_workflow_id
from sales.errors import SlotsOutOfRangeError
from sales.ids import slot_id
from sales.metrics import REQUESTS_REFUSED
from sales.models import repair_collateral
from sales.queue import item_for_freed_slot
from sales.queue_api import DeleteSlots, PushItems, PushRequest, QueueSignal, QueueUpdate
from sales.uint import UINT16_MAX
from sales.validation import (
    DEFAULT_BOUNDS,
    RequestBounds,
    RequestRefusedError,
    check_ask,
    check_new_request,
)
from workflows.search_attributes import SLOT_INDEX

log = logging.getLogger(__name__)

SIGNAL_EACH_SLOT_UP_TO = 1024
"""Requests with more slots are routed to their running sales found by visibility query."""


def push_for(event: StorageRequested, bounds: RequestBounds = DEFAULT_BOUNDS) -> PushRequest:
    """SALES-7 behind the gate: the queue's message for a new request, or `RequestRefusedError`.

    Full collateral; the window opens at the request's block time, which is also when it was
    created (expiresAt = block time + expiry), so the expiry bounds see the relative expiry."""
    check_new_request(event.ask, event.expires_at, event.block_timestamp, bounds)
    return PushRequest(
        key=event.key,
        request_id=event.request_id,
        ask=event.ask,
        expires_at=event.expires_at,
        collateral=event.ask.collateral_per_slot,
        window_start=event.block_timestamp,
    )


class QueueUnavailableError(RuntimeError):
    """The slot queue workflow is not running; the follower retries until it is."""


class EventRouter:
    def __init__(
        self,
        client: Client,
        market: Market,
        queue_workflow_id: str,
        bounds: RequestBounds = DEFAULT_BOUNDS,
    ) -> None:
        self.client = client
        self.market = market
        self.queue = client.get_workflow_handle(queue_workflow_id)
        self.bounds = bounds
        self.refused: Counter[str] = Counter()
        """Refused requests by bound name, in this process (the metric counts them too)."""

    async def __call__(self, event: AnyEvent) -> None:
        if isinstance(event, StorageRequested):
            await self._storage_requested(event)
        elif isinstance(event, SlotFreed):
            await self._slot_freed(event)
        elif isinstance(event, RequestCancelled):
            await self._delete(event.key, event.request_id)  # SALES-9: sales watch expiry
        elif isinstance(event, RequestFulfilled):
            await self._delete(event.key, event.request_id)
            await self._signal_request(event, SaleSignal.REQUEST_FULFILLED)  # SALES-10
        elif isinstance(event, RequestFailed):
            await self._delete(event.key, event.request_id)
            await self._signal_request(event, SaleSignal.REQUEST_FAILED)  # SALES-11
        elif isinstance(event, SlotFilled):
            if event.slot_index > UINT16_MAX:  # SALES-12
                log.warning("SlotFilled with slot index %d out of range", event.slot_index)
                return
            await self._delete(event.key, event.request_id, event.slot_index)
            await self._signal_slot(
                event.request_id, event.slot_index, SaleSignal.SLOT_FILLED, event.key
            )
        elif isinstance(event, SlotReservationsFull):
            if event.slot_index > UINT16_MAX:  # SALES-13
                return
            await self._delete(event.key, event.request_id, event.slot_index)

    # -- queue ------------------------------------------------------------------------------------

    async def _storage_requested(self, event: StorageRequested) -> None:
        """SALES-7 behind the gate (`push_for`); the queue answers with counts."""
        try:
            push = push_for(event, self.bounds)
        except RequestRefusedError as error:
            self._refuse(event.request_id, error)
            return
        try:
            await self._update(QueueUpdate.PUSH_REQUEST, push)
        except WorkflowUpdateFailedError as error:
            log.warning("request %s not queued: %s", event.request_id, error.cause)

    def _refuse(self, request_id: str, error: RequestRefusedError) -> None:
        """Log once with the reason and count; the event is done with (never retried)."""
        name = error.rule.name
        log.warning("request %s refused by bound %s: %s", request_id, name, error.rule.reason)
        self.refused[name] += 1
        count(REQUESTS_REFUSED, 1, {"bound": name})

    async def _slot_freed(self, event: SlotFreed) -> None:
        """SALES-8: a repair item with the discounted collateral and the freed time."""
        request = await self.market.get_request(event.request_id)
        if request is None:
            log.warning("SlotFreed for unknown request %s", event.request_id)
            return
        try:
            check_ask(request.ask, self.bounds)
        except RequestRefusedError as error:
            self._refuse(event.request_id, error)
            return
        config = await self.market.configuration()
        if config.collateral.repair_reward_percentage > 100:  # a lying RPC: the chain refuses it
            log.warning("SlotFreed ignored: repair reward above 100%% in the configuration")
            return
        discounted = repair_collateral(
            request.ask.collateral_per_slot, config.collateral.repair_reward_percentage
        )
        expires_at = await self.market.request_expires_at(event.request_id)
        try:
            item = item_for_freed_slot(
                request, event.slot_index, discounted, expires_at, event.block_timestamp
            )
        except SlotsOutOfRangeError:
            log.warning("SlotFreed with slot index %d out of range", event.slot_index)
            return
        try:
            await self._update(QueueUpdate.PUSH_ITEMS, PushItems(key=event.key, items=[item]))
        except WorkflowUpdateFailedError as error:
            log.warning("freed slot not queued: %s", error.cause)

    async def _delete(self, key: str, request_id: str, slot_index: int | None = None) -> None:
        delete = DeleteSlots(key=key, request_id=request_id, slot_index=slot_index)
        try:
            await self.queue.signal(QueueSignal.DELETE, delete)
        except RPCError as error:
            raise QueueUnavailableError(f"slot queue unreachable: {error}") from error

    async def _update(self, name: str, payload: PushRequest | PushItems) -> None:
        try:
            await self.queue.execute_update(name, payload)
        except RPCError as error:
            raise QueueUnavailableError(f"slot queue unreachable: {error}") from error

    # -- sales ------------------------------------------------------------------------------------

    async def _signal_request(
        self, event: RequestFulfilled | RequestFailed, signal: SaleSignal
    ) -> None:
        """Tell every sale of the request (SALES-10/11); sales that are not running ignore it."""
        request = await self.market.get_request(event.request_id)
        if request is not None and request.ask.slots <= SIGNAL_EACH_SLOT_UP_TO:
            indices: list[int] = list(range(request.ask.slots))
        else:
            indices = await self._running_slots(event.request_id)
        for index in indices:
            await self._signal_slot(event.request_id, index, signal, event.key)

    async def _running_slots(self, request_id: str) -> list[int]:
        query = (
            f"{SALES_VISIBILITY_QUERY} AND ExecutionStatus='Running' AND RequestId='{request_id}'"
        )
        indices = []
        async for execution in self.client.list_workflows(query):
            index = execution.typed_search_attributes.get(SLOT_INDEX)
            if index is not None:
                indices.append(index)
        return indices

    async def _signal_slot(self, request_id: str, index: int, signal: SaleSignal, key: str) -> None:
        handle = self.client.get_workflow_handle(sale_workflow_id(slot_id(request_id, index)))
        message = ChainEvent(key=key, request_id=request_id, slot_index=index)
        try:
            await handle.signal(signal, message)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
