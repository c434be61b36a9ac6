"""SlotQueueWorkflow: one per host, the Sales module's slot queue (SQ-1..22, SALES-5..14).

A bounded priority list of slots offered to this host. Up to ``max_workers`` of them are being
sold at once, each by a child SlotSale workflow that holds its worker until it signals
``sale_released`` (filled by this host, or cleaned up). Pushes are Updates: item pushes answer
per item, request pushes with counts (bounded intake, whatever the request's size);
deletes, availability-saved notices and releases are Signals. The state is small and carried
across continue-as-new, so the queue can run for the life of the host.
"""

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from temporalio.common import RetryPolicy, WorkflowIDReusePolicy

    from sales.api import (
        SLOT_QUEUE_WORKFLOW,
        SLOT_SALE_WORKFLOW,
        AvailabilitySaved,
        SaleInput,
        SaleReleased,
        sale_workflow_id,
    )
    from sales.errors import SlotsOutOfRangeError
    from sales.ids import slot_id
    from sales.models import SlotQueueItem
    from sales.queue import (
        add_pending,
        check_slot_count,
        clear_seen,
        delete_pending,
        insert_bounded,
        items_for_request,
        refill,
        take_request,
    )
    from sales.queue_api import (
        DeleteSlots,
        HeldSales,
        PushedItem,
        PushItems,
        PushOutcome,
        PushRequest,
        PushResult,
        QueueActivity,
        QueueInput,
        QueueSignal,
        QueueState,
        QueueStatus,
        QueueUpdate,
        Running,
    )
    from sales.validation import RequestRefusedError, check_ask
    from workflows import metrics

RECENT_KEYS = 512
"""How many applied event keys the queue remembers to drop re-delivered chain events."""

QUEUE_NOT_RUNNING = "QueueNotRunning"
DROP_EXPIRED_ITEMS = "drop-expired-items"
"""Patch id: queues started before this change replay their dispatches unchanged."""
WATCH_CARRIED_SALES = "watch-carried-sales"
"""Patch id: runs continued before this change carry their sales unwatched, as they did."""
BOUNDED_REQUEST_INTAKE = "bounded-request-intake"
"""Patch id: queues that expanded requests item by item replay that way; new pushes pick only
the slots that fit and answer with counts (issue: a 65,535-slot request must not stall)."""
REQUEST_REFUSED = "RequestRefused"


@workflow.defn(name=SLOT_QUEUE_WORKFLOW)
class SlotQueueWorkflow:
    @workflow.init
    def __init__(self, input: QueueInput) -> None:
        self._settings = input.settings
        state = input.state or QueueState()
        self._items: list[SlotQueueItem] = list(state.items)
        self._running: dict[tuple[str, int], Running] = {r.item.key: r for r in state.running}
        self._paused = state.paused
        self._recent: list[str] = list(state.recent_keys)
        self._pending = list(state.pending)
        """The implicit rest of requests that did not fit (only bounded intake makes these)."""
        self._carried: dict[tuple[str, int], str | None] = {
            r.item.key: r.run_id for r in state.running
        }
        """Sales an earlier run started: not this run's children, so polled, not awaited."""
        self._stopping = False
        self._handled = 0
        self._watchers: set[asyncio.Task[None]] = set()

    @workflow.run
    async def run(self, input: QueueInput) -> QueueStatus:
        self._show()
        if self._carried and workflow.patched(WATCH_CARRIED_SALES):
            watcher = asyncio.create_task(self._watch_carried())
            self._watchers.add(watcher)
            watcher.add_done_callback(self._watchers.discard)
        while True:
            await workflow.wait_condition(
                lambda: (
                    self._stopping
                    or self._continue_due()
                    or self._can_dispatch()
                    or self._can_refill()
                )
            )
            if self._stopping:
                break
            if self._continue_due():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(QueueInput(settings=self._settings, state=self._state()))
            if self._can_refill():  # never true for queues without bounded intake: no records
                self._refill()
            if self._can_dispatch():
                await self._dispatch()
            self._show()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    # -- dispatching ----------------------------------------------------------------------------

    def _can_dispatch(self) -> bool:
        """SQ-20/21: unpaused, something queued, and a worker free."""
        return (
            not self._paused
            and bool(self._items)
            and len(self._running) < self._settings.max_workers
        )

    def _can_refill(self) -> bool:
        """Room in the queue and a request's implicit rest to take it."""
        return bool(self._pending) and len(self._items) < self._settings.max_size

    def _refill(self) -> None:
        """Bounded intake's rest: the queue's room is filled from pending requests, best
        first, each in its random slot order; expired requests are dropped (no commands)."""
        held = [item.key for item in self._items] + list(self._running)
        before = len(self._items)
        self._items, self._pending = refill(
            self._items,
            held,
            self._pending,
            self._settings.max_size,
            int(workflow.now().timestamp()),
        )
        if len(self._items) > before:
            self._paused = False  # SQ-9: refilled items are unseen

    async def _dispatch(self) -> None:
        item = self._items.pop(0)
        if self._expired(item) and workflow.patched(DROP_EXPIRED_ITEMS):
            workflow.logger.info("item of an expired request dropped", extra=_log(item))
            return
        if item.seen:
            # SQ-20.4: only seen items are left, so stop until something new arrives.
            self._paused = True
            self._items, _ = insert_bounded(self._items, item, self._settings.max_size)
            workflow.logger.info("queue paused: only seen items left", extra=_log(item))
            return
        workflow_id = sale_workflow_id(slot_id(item.request_id, item.slot_index))
        self._running[item.key] = Running(item=item, workflow_id=workflow_id)
        try:
            handle = await workflow.start_child_workflow(
                SLOT_SALE_WORKFLOW,
                SaleInput(
                    request_id=item.request_id,
                    slot_index=item.slot_index,
                    item=item,
                    queue_workflow_id=workflow.info().workflow_id,
                    settings=self._settings.sale,
                ),
                id=workflow_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                static_summary=f"slot {item.slot_index} of request {item.request_id[:10]}…",
            )
        except WorkflowAlreadyStartedError:
            # A sale for this slot runs already (e.g. a recovery sale): it is not ours to hold.
            self._running.pop(item.key, None)
            workflow.logger.info("sale already running; item dropped", extra=_log(item))
            return
        workflow.logger.info("sale started", extra=_log(item))
        run_id = handle.first_execution_run_id
        if item.key in self._running:  # not already released while the start was confirmed
            self._running[item.key] = Running(item=item, workflow_id=workflow_id, run_id=run_id)
        watcher = asyncio.create_task(self._release_when_closed(handle, item.key, run_id))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    @staticmethod
    def _expired(item: SlotQueueItem) -> bool:
        """Beyond the reference: a new request past its expiry can never start, so a sale for
        it would only read the chain and be ignored. Repair items carry the expiry of a request
        that already started, and stay."""
        return not item.repair and item.expiry <= workflow.now().timestamp()

    async def _release_when_closed(
        self,
        handle: workflow.ChildWorkflowHandle[object, object],
        key: tuple[str, int],
        run: str | None,
    ) -> None:
        """Free the worker if the sale closes without releasing it (terminated, failed)."""
        with contextlib.suppress(Exception):  # any way the child ends frees the worker
            await handle
        self._free_unreleased(key, run)

    def _free_unreleased(self, key: tuple[str, int], run: str | None) -> None:
        """Free the worker of a sale run that closed while still holding it (no-op if released
        or if the slot's worker now belongs to another run)."""
        held = self._running.get(key)
        if held is not None and held.run_id == run:
            del self._running[key]
            workflow.logger.warning(
                "sale closed without releasing its worker", extra=_log(held.item)
            )
            self._show()

    async def _watch_carried(self) -> None:
        """Free the workers of carried sales that closed without releasing them (terminated by
        an operator, say); without this only a recovery sale's release would free them."""
        every = timedelta(seconds=self._settings.carried_check_seconds)
        while True:
            self._carried = {
                key: run
                for key, run in self._carried.items()
                if key in self._running and self._running[key].run_id == run
            }
            if not self._carried:
                return
            closed = await workflow.execute_activity(
                QueueActivity.CLOSED_SALES,
                HeldSales(sales=[self._running[key] for key in self._carried]),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
                result_type=list[str],
            )
            for key, run in self._carried.items():
                held = self._running.get(key)
                if held is not None and held.workflow_id in closed:
                    self._free_unreleased(key, run)
            await workflow.sleep(every, summary="carried sales still running?")

    # -- pushes (Updates) -------------------------------------------------------------------

    @workflow.update(name=QueueUpdate.PUSH_REQUEST)
    def push_request(self, push: PushRequest) -> PushResult:
        """SALES-7: the slots of a new request at random (SQ-14), as many as fit (bounded)."""
        self._handled += 1
        if self._already_applied(push.key):
            return PushResult(request_id=push.request_id, items=[], duplicate_event=True)
        if not workflow.patched(BOUNDED_REQUEST_INTAKE):
            return self._push_request_per_item(push)
        held = [item.key for item in self._items] + list(self._running)
        rest = next((p for p in self._pending if p.request_id == push.request_id), None)
        if rest is not None:  # pushed again under another key: its own order already runs
            self._remember(push.key)
            exists = sum(1 for rid, _ in held if rid == push.request_id)
            return PushResult(
                request_id=push.request_id, items=[], exists=exists, not_queued=rest.remaining
            )
        intake = take_request(
            self._items,
            held,
            push.request_id,
            push.ask,
            push.expires_at,
            push.collateral,
            workflow.random(),
            self._settings.max_size,
            push.window_start,
        )
        self._items = intake.queue
        self._remember(push.key)
        if intake.queued:
            self._paused = False  # SQ-9: the new items are unseen
        if intake.pending is not None:
            self._pending, dropped = add_pending(self._pending, intake.pending)
            if dropped is not None:
                workflow.logger.info(
                    "pending requests full: dropped the lowest-ranked one's rest",
                    extra={"requestId": dropped.request_id, "slots": dropped.remaining},
                )
        workflow.logger.info(
            "request pushed",
            extra={
                "requestId": push.request_id,
                "slots": push.ask.slots,
                "queued": intake.queued,
                "exists": intake.exists,
                "notQueued": intake.not_queued,
                "evicted": intake.evicted,
            },
        )
        self._show()
        return PushResult(
            request_id=push.request_id,
            items=[],
            queued=intake.queued,
            exists=intake.exists,
            evicted=intake.evicted,
            not_queued=intake.not_queued,
        )

    def _push_request_per_item(self, push: PushRequest) -> PushResult:
        """Before bounded intake: one item per slot, shuffled, pushed one by one. Kept so that
        queues recorded this way replay; its cost grows with the slot count."""
        items = items_for_request(
            push.request_id,
            push.ask,
            push.expires_at,
            push.collateral,
            workflow.random(),
            push.window_start,
        )
        self._remember(push.key)
        return PushResult(request_id=push.request_id, items=[self._push(i) for i in items])

    @push_request.validator
    def _validate_push_request(self, push: PushRequest) -> None:
        """Refused before anything is recorded: slot counts outside SQ-15, and terms outside
        the request bounds (sales.validation) that the router should have refused already."""
        self._require_running()
        try:
            check_slot_count(push.ask.slots)
        except SlotsOutOfRangeError as error:
            raise ApplicationError(str(error), type="SlotsOutOfRange") from error
        try:
            check_ask(push.ask)
        except RequestRefusedError as error:
            raise ApplicationError(str(error), type=REQUEST_REFUSED) from error

    @workflow.update(name=QueueUpdate.PUSH_ITEMS)
    def push_items(self, push: PushItems) -> PushResult:
        """SQ-10: items in order; one that exists does not stop the others."""
        self._handled += 1
        request_id = push.items[0].request_id if push.items else None
        if push.key is not None and self._already_applied(push.key):
            return PushResult(request_id=request_id, items=[])
        if push.key is not None:
            self._remember(push.key)
        return PushResult(request_id=request_id, items=[self._push(i) for i in push.items])

    @push_items.validator
    def _validate_push_items(self, push: PushItems) -> None:
        self._require_running()

    def _require_running(self) -> None:
        """SQ-6: a stopping queue takes no pushes."""
        if self._stopping:
            raise ApplicationError("the slot queue is not running", type=QUEUE_NOT_RUNNING)

    def _push(self, item: SlotQueueItem) -> PushedItem:
        """SQ-7..9: refuse duplicates, insert by priority, evict the lowest, unpause on unseen."""
        if item.key in self._running or any(q.key == item.key for q in self._items):
            return PushedItem(slot_index=item.slot_index, outcome=PushOutcome.EXISTS)
        self._items, evicted = insert_bounded(self._items, item, self._settings.max_size)
        if evicted is not None:
            workflow.logger.info("queue full: evicted lowest priority", extra=_log(evicted))
        if evicted is not None and evicted.key == item.key:
            return PushedItem(slot_index=item.slot_index, outcome=PushOutcome.EVICTED)
        if not item.seen:
            self._paused = False
        self._show()
        return PushedItem(slot_index=item.slot_index, outcome=PushOutcome.QUEUED)

    # -- signals ----------------------------------------------------------------------------------

    @workflow.signal(name=QueueSignal.DELETE)
    def delete(self, delete: DeleteSlots) -> None:
        """SQ-17, SALES-9..13: drop a request's slots, or one slot, from the queue."""
        self._handled += 1
        if self._already_applied(delete.key):
            return
        self._remember(delete.key)
        self._pending = delete_pending(self._pending, delete.request_id, delete.slot_index)
        self._items = [
            item
            for item in self._items
            if item.request_id != delete.request_id
            or (delete.slot_index is not None and item.slot_index != delete.slot_index)
        ]
        self._show()

    @workflow.signal(name=QueueSignal.AVAILABILITY_SAVED)
    def availability_saved(self, saved: AvailabilitySaved) -> None:
        """SALES-14: an enabled availability grew, so seen items deserve another look."""
        self._handled += 1
        if not saved.enabled:
            return
        self._items = clear_seen(self._items)
        self._paused = False
        self._show()

    @workflow.signal(name=QueueSignal.SALE_RELEASED)
    def sale_released(self, released: SaleReleased) -> None:
        """SALES-5/6: the sale frees its worker; with reprocess its item comes back as seen."""
        self._handled += 1
        self._running.pop((released.request_id, released.slot_index), None)
        if released.reprocess and released.item is not None:
            self._push(released.item.model_copy(update={"seen": True}))
        self._show()

    @workflow.signal(name=QueueSignal.RESUME)
    def resume(self) -> None:
        """The operator's explicit unpause."""
        self._handled += 1
        self._paused = False

    @workflow.signal(name=QueueSignal.STOP)
    def stop(self) -> None:
        """SQ-5: stop dispatching; running sales go on (they are abandoned children)."""
        self._stopping = True

    @workflow.query
    def status(self) -> QueueStatus:
        return QueueStatus(
            items=list(self._items),
            running=list(self._running.values()),
            paused=self._paused,
            max_workers=self._settings.max_workers,
            max_size=self._settings.max_size,
            pending_slots=sum(p.remaining for p in self._pending),
        )

    # -- bookkeeping ------------------------------------------------------------------------------

    def _already_applied(self, key: str) -> bool:
        return key in self._recent

    def _remember(self, key: str) -> None:
        self._recent.append(key)
        del self._recent[:-RECENT_KEYS]

    def _continue_due(self) -> bool:
        return (
            self._handled >= self._settings.events_per_run
            or workflow.info().is_continue_as_new_suggested()
        )

    def _state(self) -> QueueState:
        return QueueState(
            items=self._items,
            running=list(self._running.values()),
            paused=self._paused,
            recent_keys=self._recent,
            pending=self._pending,
        )

    def _show(self) -> None:
        metrics.queue_status(len(self._items), len(self._running), self._settings.max_workers)
        state = "paused" if self._paused else "running"
        workflow.set_current_details(
            f"**{state}** — {len(self._items)} queued, "
            f"{len(self._running)}/{self._settings.max_workers} workers busy"
        )


def _log(item: SlotQueueItem) -> dict[str, object]:
    return {"requestId": item.request_id, "slotIndex": item.slot_index, "seen": item.seen}
