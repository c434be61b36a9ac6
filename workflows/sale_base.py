"""What both workflows of a sale share: the step interpreter, activity calls by phase, chain
time, logging, search attributes, current details, and the queue notices.

A sale is two workflows under one workflow id (`sale-<slotId>`): `SlotSale` acquires the slot
(workflows/sale.py) and continues as new into `SlotHosting` once its fill landed
(workflows/hosting.py). Each defines its steps, one per state, each returning the next state;
`run_steps` here owns what the reference repeats in every state file: racing a step against
chain events, operator cancellation, the phase's failure rule, transitions, logging.

Business failures from activities (typed `ApplicationError`s) are the steps' to interpret. What
escapes a step is handled by the phase: in acquisition an activity failure ends the sale as
Errored (everything returned); while hosting it never does — the step runs again after a pause.
Any other exception (a bug: TypeError, a validation error) fails the workflow task, so a fixed
worker replays the sale instead of cleanup that cannot be undone.
"""

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.exceptions import CancelledError as TemporalCancelledError

with workflow.unsafe.imports_passed_through():
    from sales.api import (
        SALE_RELEASED_SIGNAL,
        Activity,
        CloseReservationInput,
        CloseReservationResult,
        OnClearInput,
        RecordFillInput,
        RequestLookup,
        RequestRef,
        SaleReleased,
        SlotRef,
        SlotStatus,
        TxOutcome,
    )
    from sales.models import FillRecord, StorageRequest
    from sales.settlement import ChainFacts
    from workflows import metrics
    from workflows import search_attributes as sa
    from workflows.details import details_of
    from workflows.phases import TRANSITIONS, gives_up, options
    from workflows.sale_state import SaleData, SaleState, StateName

AVAILABILITY_SAVED_SIGNAL = "availability_saved"
"""Sale → queue: a reservation close made an availability usable again (SALES-14)."""

STEP_PAUSE_FIRST, STEP_PAUSE_MAX = 10, 600
"""Seconds a hosting step waits before running again after a business failure it did not
expect: doubling from the first to the max, so a persistent refusal costs little history."""

T = TypeVar("T")
Step = Callable[[SaleState], Coroutine[Any, Any, SaleState | None]]


def error_type(error: BaseException) -> str | None:
    """The business error type behind an activity failure, if any."""
    if isinstance(error, ActivityError) and isinstance(error.cause, ApplicationError):
        return error.cause.type
    return None


def describe(error: BaseException) -> str:
    """The innermost message of a Temporal failure chain (the activity's own words)."""
    while isinstance(error, FailureError) and error.cause is not None:
        error = error.cause
    return f"{type(error).__name__}: {error}"


def reraise_cancellation(error: ActivityError) -> None:
    """An activity ended by our own cancellation is not a failure to handle: keep cancelling."""
    if isinstance(error.cause, TemporalCancelledError):
        raise asyncio.CancelledError("an event moves the sale") from error


def same_address(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()


def facts_of(status: SlotStatus) -> ChainFacts:
    return ChainFacts(
        slot_state=status.slot_state,
        host=status.host,
        me=status.signer,
        current_collateral=status.current_collateral,
        request_state=status.request_state,
    )


class SaleSteps:
    """Base of both sale workflows: subclasses set `data` and `_steps` in their `__init__`."""

    data: SaleData
    _steps: dict[StateName, Step]

    def _init_runtime(self) -> None:
        self._interrupt: SaleState | None = None
        self._shield = 0
        self._cancel_requested = False
        self._step_failures = 0

    # --- the interpreter ----------------------------------------------------------------------

    def _interruptible(self, state: SaleState) -> bool:
        """Whether a chain event may end this step early (subclasses refine)."""
        return True

    async def run_steps(self, state: SaleState | None) -> None:
        """Step until a step returns None; `after_step` may end the run (continue-as-new)."""
        while state is not None:
            state = await self._step(state)
            if state is None:
                return
            if state == self.data.state and not state.terminal:
                await self._after_same_state(state)
            else:
                self._enter(state)

    async def _after_same_state(self, state: SaleState) -> None:
        """A step that returned its own state ran one round (a proving period)."""

    async def _step(self, state: SaleState) -> SaleState | None:
        try:
            after = await self._race(state)
        except ActivityError as error:
            if gives_up(state.name):
                if state.name == StateName.ERRORED:
                    self._log("cleanup after error failed", error=describe(error))
                    return None
                return SaleState(name=StateName.ERRORED, error=describe(error))
            # Hosting never gives up: a business failure nothing expected (a revert the step
            # does not interpret) is logged, and the step runs again on fresh chain facts.
            pause = min(STEP_PAUSE_MAX, STEP_PAUSE_FIRST * 2**self._step_failures)
            self._step_failures += 1
            self._log("step failed; running it again", error=describe(error), pause=pause)
            await workflow.sleep(timedelta(seconds=pause), summary="step failed, retrying")
            return state
        self._step_failures = 0
        return after

    async def _race(self, state: SaleState) -> SaleState | None:
        """Run the step as a task and race it against an event's transition (SM-3, SM-4)."""
        task: asyncio.Task[SaleState | None] = asyncio.create_task(self._steps[state.name](state))
        interruptible = self._interruptible(state)
        while not task.done():
            waiters: list[asyncio.Task[Any]] = [task]
            if interruptible:
                waiters.append(asyncio.create_task(workflow.wait_condition(self._interrupt_ready)))
            try:
                await workflow.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                self._on_operator_cancel()
            finally:
                for waiter in waiters[1:]:
                    waiter.cancel()
            if interruptible and self._interrupt_ready():
                break
        if interruptible and self._interrupt is not None:
            interrupt, self._interrupt = self._interrupt, None
            if not task.done():
                task.cancel()
                await workflow.wait([task])
            discarded = None if task.cancelled() else task.exception()
            if isinstance(discarded, ActivityError | asyncio.CancelledError):
                self._log("step ended by an event", error=describe(discarded))
            elif discarded is not None:
                raise discarded  # a bug in the step: fail the task, do not hide it
            return interrupt
        return task.result()

    def _interrupt_ready(self) -> bool:
        return self._interrupt is not None and self._shield == 0

    def _on_operator_cancel(self) -> None:
        """A workflow cancel cleans up like an error, then the workflow reports cancelled."""
        self._cancel_requested = True
        if self._interrupt is None and not self.data.state.terminal:
            self._interrupt = SaleState(name=StateName.ERRORED, error="sale cancelled by operator")

    def _enter(self, state: SaleState) -> None:
        previous = self.data.state.name
        if state.name != previous and state.name not in TRANSITIONS[previous]:
            raise RuntimeError(f"transition {previous} → {state.name} is not allowed")
        self.data.state = state
        if state.name != previous:
            metrics.state_entered(str(state.name))
        self._announce(f"{previous} → {state.name}")

    def _announce(self, what: str) -> None:
        """One log line, search attributes and current details per transition (§7)."""
        state = self.data.state
        self._log(f"sale {what}", state=state.name, error=state.error)
        pairs: list[SearchAttributeUpdate[Any]] = [
            sa.SALE_STATE.value_set(str(state.name)),
            sa.REQUEST_ID.value_set(self.data.request_id),
            sa.SLOT_INDEX.value_set(self.data.slot_index),
            sa.SLOT_ID.value_set(self.data.slot_id),
        ]
        if self.data.reservation is not None:
            pairs.append(sa.AVAILABILITY_ID.value_set(self.data.reservation.availability_id))
        workflow.upsert_search_attributes(pairs)
        self._show_details()

    def _show_details(self) -> None:
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        """The Web UI's one-glance summary of the sale (current details, markdown)."""
        return details_of(self.data)

    def _log(self, message: str, **extra: object) -> None:
        d = self.data
        workflow.logger.info(
            message,
            extra={
                "request_id": d.request_id,
                "slot_index": d.slot_index,
                "slot_id": d.slot_id,
                "reservation_id": d.reservation.id if d.reservation else None,
                "availability_id": d.reservation.availability_id if d.reservation else None,
                "sale_state": str(d.state.name),
                **extra,
            },
        )

    # --- activity calls -----------------------------------------------------------------------

    async def _call(
        self,
        name: Activity,
        arg: Any,
        result_type: type[T],
        *,
        in_step: bool = True,
        deadline: timedelta | None = None,
    ) -> T:
        """Run an activity as the current state's phase says; a step starts no new work once
        an event moves the sale. `deadline` bounds all attempts together (schedule-to-close)."""
        if in_step and self._interrupt_ready():
            raise asyncio.CancelledError("an event moves the sale")
        call = options(self.data.state.name, name)
        result: T = await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            task_queue=call.task_queue,
            start_to_close_timeout=call.start_to_close,
            schedule_to_close_timeout=deadline,
            heartbeat_timeout=call.heartbeat,
            retry_policy=call.retry,
            cancellation_type=call.cancellation,
            summary=str(name),
        )
        return result

    async def _void(self, name: Activity, arg: Any) -> None:
        await self._call(name, arg, type(None))

    @contextmanager
    def _shielded(self) -> Iterator[None]:
        """An event waits until the side effect inside has completed (never half-handled)."""
        self._shield += 1
        try:
            yield
        finally:
            self._shield -= 1

    async def _tx(self, name: Activity, arg: Any, deadline: timedelta | None = None) -> TxOutcome:
        with self._shielded():
            return await self._call(name, arg, TxOutcome, deadline=deadline)

    @property
    def _slot_ref(self) -> SlotRef:
        return SlotRef(request_id=self.data.request_id, slot_index=self.data.slot_index)

    def _chain_now(self) -> int:
        return int(workflow.now().timestamp()) + self.data.clock_offset

    def _track_clock(self, chain_time: int) -> None:
        self.data.clock_offset = chain_time - int(workflow.now().timestamp())

    async def _slot_status(self, in_step: bool = True) -> SlotStatus:
        status = await self._call(
            Activity.MARKET_SLOT_STATUS, self._slot_ref, SlotStatus, in_step=in_step
        )
        self._track_clock(status.chain_time)
        self.data.expires_at = status.request_expires_at
        self.data.request_end = status.request_end
        self.data.signer = status.signer
        return status

    async def _sleep_until(self, chain_time: float, why: str) -> None:
        """A durable timer to a chain timestamp, converted with the last chain_time read."""
        seconds = chain_time - self._chain_now()
        if seconds > 0:
            await workflow.sleep(timedelta(seconds=seconds), summary=why)

    def _request(self) -> StorageRequest:
        if self.data.request is None:
            raise ApplicationError("request is not known", non_retryable=True)
        return self.data.request

    async def _retrieve_request(self) -> bool:
        """AGENT-2: fetch the request once."""
        if self.data.request is None:
            ref = RequestRef(request_id=self.data.request_id)
            lookup = await self._call(Activity.MARKET_GET_REQUEST, ref, RequestLookup)
            self.data.request = lookup.request
        return self.data.request is not None

    # --- the durable fill record --------------------------------------------------------------

    async def _record_fill(self, fill: FillRecord) -> None:
        """Workflow state first, then the reservation row (what reconciliation reads)."""
        if fill == FillRecord.LANDED and self.data.fill != FillRecord.LANDED:
            metrics.fill_landed(self._deducted())
            self.data.filled_at = self._chain_now()
        self.data.fill = fill
        reservation = self.data.reservation
        if reservation is not None:
            record = RecordFillInput(reservation_id=reservation.id, fill=fill)
            await self._void(Activity.LEDGER_RECORD_FILL, record)

    # --- cleanup ------------------------------------------------------------------------------

    def _deducted(self) -> int:
        """What the reservation took from the availability (0 without a reservation)."""
        reservation = self.data.reservation
        if reservation is None:
            return 0
        if reservation.collateral:
            return reservation.collateral
        request = self.data.request
        return request.ask.collateral_per_slot if request is not None else 0

    async def _on_clear(self) -> None:
        if self.data.request is None:
            return
        try:
            hook = OnClearInput(request=self.data.request, slot_index=self.data.slot_index)
            await self._void(Activity.STORE_ON_CLEAR, hook)
        except ActivityError as error:
            reraise_cancellation(error)
            self._log("onClear failed", error=describe(error))

    async def _close_reservation(self, returned: int | None) -> None:
        """Return bytes and exactly `returned` collateral, once; then notify the queue."""
        reservation = self.data.reservation
        if reservation is not None:
            result = await self._call(
                Activity.LEDGER_CLOSE_RESERVATION,
                CloseReservationInput(
                    reservation_id=reservation.id,
                    availability_id=reservation.availability_id,
                    returned_collateral=returned,
                ),
                CloseReservationResult,
            )
            self.data.returned_collateral = returned
            metrics.collateral_returned(returned)
            if result.availability_saved is not None:
                await self._signal_queue(AVAILABILITY_SAVED_SIGNAL, result.availability_saved)

    async def _release(self, reprocess: bool) -> None:
        """Tell the queue this sale holds no worker any more (SALES-5), exactly once."""
        if self.data.released:
            return
        self.data.released = True
        reprocess = reprocess and self.data.item is not None and self.data.request is not None
        notice = SaleReleased(
            request_id=self.data.request_id,
            slot_index=self.data.slot_index,
            reprocess=reprocess,
            item=self.data.item if reprocess else None,
        )
        await self._signal_queue(SALE_RELEASED_SIGNAL, notice)

    async def _signal_queue(self, name: str, payload: Any) -> None:
        if self.data.queue_workflow_id is None:
            return
        try:
            queue = workflow.get_external_workflow_handle(self.data.queue_workflow_id)
            await queue.signal(name, payload)
        except Exception as error:  # the queue may be gone; the sale must still finish
            self._log("signalling the queue failed", signal=name, error=describe(error))
