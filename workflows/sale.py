"""The per-slot sale as a Temporal workflow (ARCHITECTURE §3, SALES_BEHAVIOUR §5-§8).

One workflow per slot (id `sale-<slotId>`). Each state of the spec is one short step method
returning the next state; `run` is a small interpreter that owns what the reference repeats in
every state file: races each step against chain events (the matrix in `sale_matrix`), maps
unexpected errors to Errored, handles operator cancellation, logs every transition and keeps
search attributes and current details up to date.

Critical sections (creating the reservation, every transaction) are shielded: an event that
arrives meanwhile waits until the section is done, so an on-chain effect is never half-handled
(a fill that succeeded while a cancel arrived ends in Cancelled, which frees the slot).
"""

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from sales.api import (
        SALE_RELEASED_SIGNAL,
        SLOT_SALE_WORKFLOW,
        Activity,
        AvailabilityLookup,
        ChainEvent,
        CloseReservationInput,
        CloseReservationResult,
        CreateReservationInput,
        ErrorType,
        FillSlotInput,
        FindAvailabilityInput,
        OnClearInput,
        OnExpiryUpdateInput,
        OnProveInput,
        OnStoreInput,
        OnStoreResult,
        ProvingStatus,
        RequestLookup,
        RequestRef,
        SaleInput,
        SaleReleased,
        SaleSignal,
        SlotIdRef,
        SlotRef,
        SlotStatus,
        SubmitProofInput,
        TxOutcome,
    )
    from sales.dispersal import eligible_at
    from sales.models import (
        Groth16Proof,
        RequestState,
        Reservation,
        Slot,
        SlotState,
        StorageRequest,
    )
    from sales.periods import Periodicity
    from workflows import search_attributes as sa
    from workflows.sale_calls import OPTIONS
    from workflows.sale_matrix import SIGNAL_EVENTS, SaleEvent, next_state
    from workflows.sale_state import (
        SEEN_EVENT_KEYS,
        TERMINAL_STATES,
        SaleData,
        SaleOutcome,
        SaleState,
        StateName,
        Watcher,
        errored,
        ignored,
    )

AVAILABILITY_SAVED_SIGNAL = "availability_saved"
"""Sale → queue: a reservation close made an availability usable again (SALES-14)."""

WATCH_POLL_MAX = 60
"""AGENT-5 polls every second while the request is still New; we back off to this cap."""

POINTER_WRAP = 256
"""ST-IPRV-3: the challenge pointer runs over 256 values."""

ENDED_REQUESTS = (RequestState.Cancelled, RequestState.Failed, RequestState.Finished)
"""Requests whose free slots can no longer be filled (checked in Preparing)."""

MAX_STALE_PROOFS = 3
"""How often a fill refused for a stale initial proof is proven again before the sale errs."""

SLOT_FREED = "Slot was forcibly freed and host was removed from its hosting"

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


def same_address(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()


@workflow.defn(name=SLOT_SALE_WORKFLOW)
class SlotSaleWorkflow:
    @workflow.init
    def __init__(self, sale: SaleInput) -> None:
        if sale.checkpoint:
            self.data = SaleData.model_validate_json(sale.checkpoint)
            self.data.runs += 1
        else:
            self.data = SaleData.start(sale)
        self._interrupt: SaleState | None = None
        self._shield = 0
        self._cancel_requested = False
        self._watcher_task: asyncio.Task[None] | None = None
        self._periods_this_run = 0
        self._steps: dict[StateName, Step] = {
            StateName.UNKNOWN: self._unknown,
            StateName.PREPARING: self._preparing,
            StateName.SLOT_RESERVING: self._slot_reserving,
            StateName.DOWNLOADING: self._downloading,
            StateName.INITIAL_PROVING: self._initial_proving,
            StateName.FILLING: self._filling,
            StateName.FILLED: self._filled,
            StateName.PROVING: self._proving,
            StateName.PROVING_SIMULATED: self._proving,
            StateName.PAYOUT: self._payout,
            StateName.FINISHED: self._finished,
            StateName.CANCELLED: self._cancelled,
            StateName.FAILED: self._failed,
            StateName.ERRORED: self._errored,
            StateName.IGNORED: self._ignored,
        }

    # --- the interpreter ----------------------------------------------------------------------

    @workflow.run
    async def run(self, sale: SaleInput) -> SaleOutcome:
        self._announce("resumed" if sale.checkpoint else "started")
        if self.data.watcher == Watcher.ON:
            self._start_watcher()
        try:
            state: SaleState | None = self.data.state
            while state is not None:
                state = await self._step(state)
                if state is None:
                    break
                if state == self.data.state and state.name in (
                    StateName.PROVING,
                    StateName.PROVING_SIMULATED,
                ):
                    await self._maybe_continue_as_new()
                else:
                    self._enter(state)
        finally:
            self._stop_watcher()
        if self._cancel_requested:
            raise asyncio.CancelledError("sale cancelled by operator")
        final = self.data.state
        return SaleOutcome(
            state=final.name,
            error=final.error,
            reprocess=final.reprocess,
            returned_collateral=self.data.returned_collateral,
            periods=self.data.periods,
            proofs_submitted=self.data.proofs_submitted,
        )

    async def _step(self, state: SaleState) -> SaleState | None:
        """Run one step; an unexpected error becomes Errored (SM general rule)."""
        try:
            return await self._race(state)
        except Exception as error:
            if state.name == StateName.ERRORED:
                self._log("cleanup after error failed", error=describe(error))
                return None
            return errored(describe(error))

    async def _race(self, state: SaleState) -> SaleState | None:
        """Run the step as a task and race it against an event's transition (SM-3, SM-4)."""
        task: asyncio.Task[SaleState | None] = asyncio.create_task(self._steps[state.name](state))
        interruptible = state.name not in TERMINAL_STATES
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
            if discarded is not None:
                self._log("step ended by an event", error=describe(discarded))
            return interrupt
        return task.result()

    def _interrupt_ready(self) -> bool:
        return self._interrupt is not None and self._shield == 0

    def _on_operator_cancel(self) -> None:
        """A workflow cancel cleans up like an error, then the workflow reports cancelled."""
        self._cancel_requested = True
        if self._interrupt is None and self.data.state.name not in TERMINAL_STATES:
            self._interrupt = errored("sale cancelled by operator")

    async def _maybe_continue_as_new(self) -> None:
        """Keep a months-long proving history bounded (TEMPORAL_PRACTICES §1)."""
        self._periods_this_run += 1
        due = self._periods_this_run >= self.data.settings.periods_per_run
        if not (due or workflow.info().is_continue_as_new_suggested()):
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._interrupt is not None:
            return  # an event arrived meanwhile: handle it in this run
        self._stop_watcher()
        self._log("continue as new", periods=self.data.periods)
        workflow.continue_as_new(
            SaleInput(
                request_id=self.data.request_id,
                slot_index=self.data.slot_index,
                item=self.data.item,
                queue_workflow_id=self.data.queue_workflow_id,
                settings=self.data.settings,
                checkpoint=self.data.model_dump_json(),
            )
        )

    def _enter(self, state: SaleState) -> None:
        previous = self.data.state.name
        self.data.state = state
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
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        d = self.data
        lines = [
            f"**{d.state.name}**",
            "",
            f"- request `{d.request_id}` slot {d.slot_index}",
            f"- slot id `{d.slot_id}`",
        ]
        if d.reservation is not None:
            lines.append(f"- reservation `{d.reservation.id}`")
            lines.append(f"- availability `{d.reservation.availability_id}`")
        if d.periods:
            lines.append(f"- proving periods {d.periods}, proofs submitted {d.proofs_submitted}")
        if d.state.error:
            lines.append(f"- error: {d.state.error}")
        return "\n".join(lines)

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
                **extra,
            },
        )

    # --- queries and signals ------------------------------------------------------------------

    @workflow.query(name="state")
    def state(self) -> StateName:
        return self.data.state.name

    @workflow.query(name="sale")
    def sale(self) -> SaleData:
        return self.data

    @workflow.signal(name=SaleSignal.REQUEST_CANCELLED)
    def request_cancelled(self, event: ChainEvent) -> None:
        self._on_chain_event(SaleSignal.REQUEST_CANCELLED, event)

    @workflow.signal(name=SaleSignal.REQUEST_FAILED)
    def request_failed(self, event: ChainEvent) -> None:
        self._on_chain_event(SaleSignal.REQUEST_FAILED, event)

    @workflow.signal(name=SaleSignal.REQUEST_FULFILLED)
    def request_fulfilled(self, event: ChainEvent) -> None:
        self._on_chain_event(SaleSignal.REQUEST_FULFILLED, event)

    @workflow.signal(name=SaleSignal.SLOT_FILLED)
    def slot_filled(self, event: ChainEvent) -> None:
        self._on_chain_event(SaleSignal.SLOT_FILLED, event)

    def _on_chain_event(self, signal: SaleSignal, event: ChainEvent) -> None:
        d = self.data
        if event.key in d.seen_events or event.request_id != d.request_id:
            return
        d.seen_events = [*d.seen_events, event.key][-SEEN_EVENT_KEYS:]
        if signal == SaleSignal.REQUEST_FULFILLED:
            self._stop_watcher(done=True)  # AGENT-6
            return
        if signal == SaleSignal.SLOT_FILLED and event.slot_index != d.slot_index:
            return  # AGENT-8
        self._on_event(SIGNAL_EVENTS[signal], f"signal {signal}")

    def _on_event(self, event: SaleEvent, source: str) -> None:
        """Consult the matrix; the first event that moves the state wins."""
        target = next_state(self.data.state.name, event)
        self._log("event", sale_event=str(event), source=source, target=target)
        if target is None or self._interrupt is not None:
            return
        self._interrupt = SaleState(name=target)

    # --- expiry watcher (AGENT-3..6, EXP-2) ----------------------------------------------------

    def _subscribe(self) -> None:
        if self.data.watcher == Watcher.OFF and self.data.expires_at is not None:
            self.data.watcher = Watcher.ON
            self._start_watcher()

    def _start_watcher(self) -> None:
        if self._watcher_task is None:
            self._watcher_task = asyncio.create_task(self._watch_expiry())

    def _stop_watcher(self, done: bool = False) -> None:
        if done and self.data.watcher == Watcher.ON:
            self.data.watcher = Watcher.DONE
        if self._watcher_task is not None and not self._watcher_task.done():
            self._watcher_task.cancel()
        self._watcher_task = None

    async def _watch_expiry(self) -> None:
        """Durable timer to expiry + 1 s (chain time), then confirm Cancelled on chain (AGENT-5)."""
        assert self.data.expires_at is not None
        try:
            await self._sleep_until(self.data.expires_at + 1, "request expiry")
            delay = 1
            while True:
                status = await self._slot_status(in_step=False)
                if status.request_state == RequestState.New:
                    await workflow.sleep(timedelta(seconds=delay), summary="request still New")
                    delay = min(delay * 2, WATCH_POLL_MAX)
                    continue
                if status.request_state == RequestState.Cancelled:
                    self._on_event(SaleEvent.CANCELLED, "expiry watcher")
                break
        except ActivityError as error:
            self._log("expiry watcher failed", error=describe(error))
        self.data.watcher = Watcher.DONE

    # --- activity calls -----------------------------------------------------------------------

    async def _call(
        self, name: Activity, arg: Any, result_type: type[T], *, in_step: bool = True
    ) -> T:
        """Run an activity; a step starts no new work once an event moves the sale."""
        if in_step and self._interrupt_ready():
            raise asyncio.CancelledError("an event moves the sale")
        options = OPTIONS[name]
        result: T = await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            task_queue=options.task_queue,
            start_to_close_timeout=options.start_to_close,
            heartbeat_timeout=options.heartbeat,
            retry_policy=options.retry,
            cancellation_type=options.cancellation,
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

    async def _tx(self, name: Activity, arg: Any) -> TxOutcome:
        with self._shielded():
            return await self._call(name, arg, TxOutcome)

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

    async def _proving_status(self) -> ProvingStatus:
        ref = SlotIdRef(slot_id=self.data.slot_id)
        status = await self._call(Activity.MARKET_PROVING_STATUS, ref, ProvingStatus)
        self._track_clock(status.chain_time)
        return status

    async def _sleep_until(self, chain_time: int, why: str) -> None:
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

    # --- states: the happy path ---------------------------------------------------------------

    async def _preparing(self, state: SaleState) -> SaleState:
        """ST-PREP-1..6."""
        if not await self._retrieve_request():
            return errored("request could not be retrieved")
        request = self._request()
        status = await self._slot_status()
        self._subscribe()
        if status.slot_state not in (SlotState.Free, SlotState.Repair):
            return ignored(reprocess=False)
        if status.request_state in ENDED_REQUESTS:
            # Beyond ST-PREP-3: an ended request's slot still reads Free, but fillSlot would
            # revert (SlotNotFree); don't reserve, download and prove for nothing, nor retry.
            return ignored(reprocess=False)
        ask = request.ask
        lookup = await self._call(
            Activity.LEDGER_FIND_AVAILABILITY,
            FindAvailabilityInput(
                slot_size=ask.slot_size,
                duration=ask.duration,
                price_per_byte_per_second=ask.price_per_byte_per_second,
                collateral_per_byte=ask.collateral_per_byte,
                valid_until=status.request_end,
            ),
            AvailabilityLookup,
        )
        if lookup.availability is None:
            return ignored(reprocess=True)
        create = CreateReservationInput(
            availability_id=lookup.availability.id,
            slot_size=ask.slot_size,
            request_id=self.data.request_id,
            slot_index=self.data.slot_index,
            collateral_per_byte=ask.collateral_per_byte,
            valid_until=status.request_end,
        )
        try:
            with self._shielded():
                self.data.reservation = await self._call(
                    Activity.LEDGER_CREATE_RESERVATION, create, Reservation
                )
        except ActivityError as error:
            if error_type(error) == ErrorType.BYTES_OUT_OF_BOUNDS:
                return ignored(reprocess=True)
            raise
        return SaleState(name=StateName.SLOT_RESERVING)

    async def _slot_reserving(self, state: SaleState) -> SaleState:
        """Dispersal window (ARCHITECTURE §5), then ST-RESV-1..2."""
        await self._wait_for_window()
        if not await self._call(Activity.MARKET_CAN_RESERVE_SLOT, self._slot_ref, bool):
            return ignored(returns_collateral=True)
        try:
            await self._tx(Activity.MARKET_RESERVE_SLOT, self._slot_ref)
        except ActivityError as error:
            if error_type(error) == ErrorType.SLOT_RESERVATION_NOT_ALLOWED:
                return ignored(returns_collateral=True)
            raise
        return SaleState(name=StateName.DOWNLOADING)

    async def _wait_for_window(self) -> None:
        """Sleep until this host is eligible for the slot (`sales.dispersal.eligible_at`)."""
        window = self.data.settings.dispersal
        request = self._request()
        if not window.enabled:
            return
        if self.data.signer is None or self.data.expires_at is None:
            await self._slot_status()
        assert self.data.signer is not None and self.data.expires_at is not None
        item = self.data.item
        start = (
            item.window_start
            if item is not None and item.window_start
            else self.data.expires_at - request.expiry
        )
        at = eligible_at(window, self.data.slot_id, self.data.signer, start, request.expiry)
        if at > self._chain_now():
            self._log("waiting for the dispersal window", eligible_at=at)
            await self._sleep_until(at, "dispersal window")

    async def _downloading(self, state: SaleState) -> SaleState:
        """ST-DL-1..5."""
        request = self._request()
        reservation = self.data.reservation
        if reservation is None:
            raise ApplicationError("downloading needs a reservation", non_retryable=True)
        status = await self._slot_status()
        started = status.request_state == RequestState.Started
        await self._call(
            Activity.STORE_ON_STORE,
            OnStoreInput(
                request=request,
                slot_index=self.data.slot_index,
                expiry=status.request_end if started else status.request_expires_at,
                reservation_id=reservation.id,
                availability_id=reservation.availability_id,
                is_repairing=status.slot_state == SlotState.Repair,
            ),
            OnStoreResult,
        )
        return SaleState(name=StateName.INITIAL_PROVING)

    async def _initial_proving(self, state: SaleState) -> SaleState:
        """ST-IPRV-1..4: prove right after a period boundary, never close to a pointer wrap."""
        status = await self._proving_status()
        periods = Periodicity(seconds=status.period_seconds)
        await self._sleep_until(periods.next_period_start(status.chain_time) + 1, "next period")
        status = await self._proving_status()
        while status.pointer > POINTER_WRAP - status.downtime:
            periods = Periodicity(seconds=status.period_seconds)
            await self._sleep_until(
                periods.next_period_start(status.chain_time) + 1, "pointer about to wrap"
            )
            status = await self._proving_status()
        proof = await self._call(
            Activity.PROVER_ON_PROVE,
            OnProveInput(
                slot=Slot(request=self._request(), slot_index=self.data.slot_index),
                challenge=status.challenge,
            ),
            Groth16Proof,
        )
        return SaleState(name=StateName.FILLING, proof=proof)

    async def _filling(self, state: SaleState) -> SaleState:
        """ST-FILL-1..2."""
        if state.proof is None:
            raise ApplicationError("filling needs the initial proof", non_retryable=True)
        collateral = await self._call(Activity.MARKET_SLOT_COLLATERAL, self._slot_ref, int)
        fill = FillSlotInput(slot=self._slot_ref, proof=state.proof, collateral=collateral)
        self.data.fill_sent = True
        try:
            await self._tx(Activity.MARKET_FILL_SLOT, fill)
        except ActivityError as error:
            kind = error_type(error)
            if kind == ErrorType.SLOT_STATE_MISMATCH:
                return ignored(returns_collateral=True)
            if kind == ErrorType.PROOF_INVALID and self.data.fill_attempts < MAX_STALE_PROOFS:
                # Beyond ST-FILL-2: proving outlasted the period (or the pointer wrapped), so
                # the challenge moved on. Nothing was deposited; prove again rather than error.
                self.data.fill_attempts += 1
                self._log("initial proof went stale; proving again")
                return SaleState(name=StateName.INITIAL_PROVING)
            raise
        self.data.deposited = True
        return SaleState(name=StateName.FILLED)

    async def _filled(self, state: SaleState) -> SaleState:
        """ST-FILLED-1..3: free the queue worker, extend the data's expiry, start proving."""
        if not await self._retrieve_request():
            return errored("request could not be retrieved")
        request = self._request()
        status = await self._slot_status()
        if not same_address(status.host, status.signer):
            return errored("Slot filled by other host")
        self.data.deposited = True
        await self._release(reprocess=False)
        try:
            hook = OnClearInput(request=request, slot_index=self.data.slot_index)
            await self._void(Activity.STORE_ON_SALE, hook)
        except ActivityError as error:
            self._log("onSale failed", error=describe(error))
        await self._void(
            Activity.STORE_ON_EXPIRY_UPDATE,
            OnExpiryUpdateInput(cid=request.content.cid, expiry=status.request_end),
        )
        if self.data.settings.simulate_proof_failures > 0:
            return SaleState(name=StateName.PROVING_SIMULATED)
        return SaleState(name=StateName.PROVING)

    async def _proving(self, state: SaleState) -> SaleState:
        """One period of the proving loop (PRV-1); returning the same state means "next period"."""
        status = await self._proving_status()
        periods = Periodicity(seconds=status.period_seconds)
        current = periods.period_of(status.chain_time)
        match status.slot_state:
            case SlotState.Filled:
                if status.proof_required or status.proof_will_be_required:
                    await self._prove_period(state, status)
            case SlotState.Cancelled | SlotState.Failed:
                pass  # PRV-1: the event (watcher or follower) moves the sale
            case SlotState.Finished:
                return SaleState(name=StateName.PAYOUT)
            case SlotState.Repair:
                return errored(SLOT_FREED)
            case other:
                return errored(f"Slot is not in Filled state, but in state: {other.name}")
        self.data.periods += 1
        await self._sleep_until(periods.period_start(current + 1) + 1, "next period")
        return state

    async def _prove_period(self, state: SaleState, status: ProvingStatus) -> None:
        """PRV-2 and ST-SIM-1: a prover failure skips the period; submit errors are logged."""
        every = self.data.settings.simulate_proof_failures
        if state.name == StateName.PROVING_SIMULATED and every > 0:
            self.data.proof_count += 1
            if self.data.proof_count % every == 0:
                self.data.proof_count = 0
                await self._submit(Groth16Proof.zero(), expect_invalid=True)
                return
        try:
            proof = await self._call(
                Activity.PROVER_ON_PROVE,
                OnProveInput(
                    slot=Slot(request=self._request(), slot_index=self.data.slot_index),
                    challenge=status.challenge,
                ),
                Groth16Proof,
            )
        except ActivityError as error:
            self._log("proof generation failed, period skipped", error=describe(error))
            return
        await self._submit(proof)

    async def _submit(self, proof: Groth16Proof, expect_invalid: bool = False) -> None:
        try:
            await self._tx(
                Activity.MARKET_SUBMIT_PROOF,
                SubmitProofInput(slot_id=self.data.slot_id, proof=proof),
            )
            self.data.proofs_submitted += 1
        except ActivityError as error:
            if expect_invalid and error_type(error) == ErrorType.PROOF_INVALID:
                self._log("simulated proof failure submitted")
                self.data.proofs_submitted += 1
                return
            self._log("proof submission failed", error=describe(error))

    async def _payout(self, state: SaleState) -> SaleState:
        """ST-PAY-1: read the collateral the chain will return, then free the slot."""
        status = await self._slot_status()
        await self._tx(Activity.MARKET_FREE_SLOT, SlotIdRef(slot_id=self.data.slot_id))
        return SaleState(name=StateName.FINISHED, returned_collateral=status.current_collateral)

    # --- states: the ends ---------------------------------------------------------------------

    async def _finished(self, state: SaleState) -> None:
        """ST-FIN-1."""
        await self._on_clear()
        await self._clean_up(reprocess=False, returned=state.returned_collateral)

    async def _cancelled(self, state: SaleState) -> SaleState | None:
        """ST-CAN-1..3: free our slot and take back what the chain returns."""
        try:
            status = await self._slot_status()
            if same_address(status.host, status.signer):
                self.data.deposited = True
                returned: int | None = status.current_collateral
                try:
                    await self._tx(Activity.MARKET_FREE_SLOT, SlotIdRef(slot_id=self.data.slot_id))
                except ActivityError as error:
                    if error_type(error) != ErrorType.SLOT_STATE_MISMATCH:
                        raise
                    self._log("freeSlot on a cancelled slot: state mismatch ignored")
            else:
                returned = self._undeposited_collateral()
        except ActivityError as error:
            return errored(describe(error))
        await self._on_clear()
        await self._clean_up(reprocess=False, returned=returned)
        return None

    async def _failed(self, state: SaleState) -> SaleState:
        """ST-FAIL-1: freeing only removes the slot from ours; the collateral is lost."""
        if self.data.deposited:
            try:
                await self._tx(Activity.MARKET_FREE_SLOT, SlotIdRef(slot_id=self.data.slot_id))
            except ActivityError as error:
                return errored(describe(error))
        return errored("Sale failed")

    async def _errored(self, state: SaleState) -> None:
        """ST-ERR-1."""
        self._log("sale errored", error=state.error)
        if self.data.request is not None:
            await self._on_clear()
        await self._clean_up(reprocess=state.reprocess, returned=self._undeposited_collateral())

    async def _ignored(self, state: SaleState) -> None:
        """ST-IGN-1..2."""
        await self._clean_up(reprocess=state.reprocess, returned=self._undeposited_collateral())

    async def _unknown(self, state: SaleState) -> SaleState:
        """ST-UNK-1..2: the recovery entry maps the on-chain slot state to a state."""
        if not await self._retrieve_request():
            return errored("request could not be retrieved")
        status = await self._slot_status()
        self._subscribe()
        self.data.deposited = same_address(status.host, status.signer)
        match status.slot_state:
            case SlotState.Free:
                return errored("Slot state on chain should not be 'free'")
            case SlotState.Filled:
                return SaleState(name=StateName.FILLED)
            case SlotState.Finished:
                return SaleState(name=StateName.PAYOUT)
            case SlotState.Paid:
                return SaleState(name=StateName.FINISHED)
            case SlotState.Failed:
                return SaleState(name=StateName.FAILED)
            case SlotState.Cancelled:
                return SaleState(name=StateName.CANCELLED)
            case _:
                return errored(SLOT_FREED)

    # --- cleanup (SALES-6, COL-4 decisions of ARCHITECTURE §4) --------------------------------

    def _undeposited_collateral(self) -> int | None:
        """Everything the reservation deducted, when none of it went on chain (Q-6 decision)."""
        if self.data.deposited or self.data.reservation is None or self.data.request is None:
            return None
        return self.data.request.ask.collateral_per_slot

    async def _on_clear(self) -> None:
        if self.data.request is None:
            return
        try:
            hook = OnClearInput(request=self.data.request, slot_index=self.data.slot_index)
            await self._void(Activity.STORE_ON_CLEAR, hook)
        except ActivityError as error:
            self._log("onClear failed", error=describe(error))

    async def _clean_up(self, reprocess: bool, returned: int | None) -> None:
        """Return bytes and collateral, then free the queue worker; each exactly once."""
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
            if result.availability_saved is not None:
                await self._signal_queue(AVAILABILITY_SAVED_SIGNAL, result.availability_saved)
        await self._release(reprocess)

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
