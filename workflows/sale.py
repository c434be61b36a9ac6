"""Acquisition: the first workflow of a sale, `SlotSale` (SALES_BEHAVIOUR §5-§8).

Preparing → SlotReserving → Downloading → InitialProving → Filling. Nothing of the host's is on
chain until the fill is broadcast, so these steps may give up: when retries run out, or the
chain says no, the sale ends Ignored or Errored and returns every byte and all the collateral
(settlement: nothing deposited). From the fill's broadcast on the sale is in its hosting phase
(workflows/phases.py): the fill transaction retries without a limit until the chain has
answered, and once it landed the workflow continues as new into `SlotHosting`
(workflows/hosting.py), under the same workflow id.

Chain events race every step (the matrix in `sale_matrix`); critical sections (creating the
reservation, every transaction) are shielded, so an event waits until the side effect is done.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from sales.api import (
        SLOT_HOSTING_WORKFLOW,
        SLOT_SALE_WORKFLOW,
        Activity,
        AvailabilityLookup,
        ChainEvent,
        CreateReservationInput,
        ErrorType,
        FillSlotInput,
        FindAvailabilityInput,
        OnProveInput,
        OnStoreInput,
        OnStoreResult,
        ProvingStatus,
        SaleInput,
        SaleSignal,
    )
    from sales.dispersal import eligible_at
    from sales.models import FillRecord, Groth16Proof, RequestState, Reservation, Slot, SlotState
    from sales.periods import Periodicity
    from sales.proof_window import Move, plan_proof
    from sales.settlement import ChainFacts, Verdict, settle
    from workflows import metrics
    from workflows.sale_base import (
        SaleSteps,
        describe,
        error_type,
        reraise_cancellation,
        same_address,
    )
    from workflows.sale_matrix import SIGNAL_EVENTS, SaleEvent, next_state
    from workflows.sale_state import (
        SEEN_EVENT_KEYS,
        HostingInput,
        SaleData,
        SaleOutcome,
        SaleState,
        StateName,
        Watcher,
        errored,
        ignored,
    )

WATCH_POLL_MAX = 60
"""AGENT-5 polls every second while the request is still New; we back off to this cap."""

ENDED_REQUESTS = (RequestState.Cancelled, RequestState.Failed, RequestState.Finished)
"""Requests whose free slots can no longer be filled (checked in Preparing)."""

MAX_STALE_PROOFS = 3
"""How often a fill refused for a stale initial proof is proven again before the sale errs."""


@workflow.defn(name=SLOT_SALE_WORKFLOW)
class SlotSaleWorkflow(SaleSteps):
    @workflow.init
    def __init__(self, sale: SaleInput) -> None:
        self.data = SaleData.start(sale)
        self._init_runtime()
        self._watcher_task: asyncio.Task[None] | None = None
        self._hand_over = False
        self._steps = {
            StateName.PREPARING: self._preparing,
            StateName.SLOT_RESERVING: self._slot_reserving,
            StateName.DOWNLOADING: self._downloading,
            StateName.INITIAL_PROVING: self._initial_proving,
            StateName.FILLING: self._filling,
            StateName.FILLED: self._filled,
            StateName.CANCELLED: self._ended_before_fill,
            StateName.FAILED: self._failed_before_fill,
            StateName.ERRORED: self._ended_before_fill,
            StateName.IGNORED: self._ended_before_fill,
        }

    @workflow.run
    async def run(self, sale: SaleInput) -> SaleOutcome:
        self._announce("started")
        metrics.sale_started("queue" if sale.item is not None else "recovery")
        try:
            await self.run_steps(self.data.state)
        finally:
            self._stop_watcher()
        if self._hand_over:
            await workflow.wait_condition(workflow.all_handlers_finished)
            self._log("fill landed: hosting continues the sale")
            workflow.continue_as_new(
                args=[HostingInput(data=self.data)], workflow=SLOT_HOSTING_WORKFLOW
            )
        metrics.sale_ended(str(self.data.state.name))
        if self._cancel_requested:
            raise asyncio.CancelledError("sale cancelled by operator")
        final = self.data.state
        return SaleOutcome(
            state=final.name,
            error=final.error,
            reprocess=final.reprocess,
            returned_collateral=self.data.returned_collateral,
        )

    def _interruptible(self, state: SaleState) -> bool:
        return not state.terminal and state.name != StateName.FILLED

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

    # --- the steps ----------------------------------------------------------------------------

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
            raise RuntimeError("downloading needs a reservation")
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

    async def _proving_status(self) -> ProvingStatus:
        status = await self._call(Activity.MARKET_PROVING_STATUS, self._slot_ref, ProvingStatus)
        self._track_clock(status.chain_time)
        return status

    async def _initial_proving(self, state: SaleState) -> SaleState:
        """ST-IPRV-1..4: prove right after a period boundary, on a challenge that holds until
        the fill lands.

        Beyond ST-IPRV-3, which waits a whole period whenever the pointer is within the
        downtime of the wrap: the wrap only matters if it falls inside this period, and then
        the sale waits for it and proves the new challenge in the same period. Until a proof
        has been timed, the downtime (in seconds) stands for the proof's duration, as in the
        reference; a chain whose pointer sits near the wrap at every period start would
        otherwise never be filled.
        """
        status = await self._proving_status()
        margin = self.data.settings.proof_margin_seconds
        # A margin that fills the whole period makes every period too late: without this the
        # sale would sleep period after period, holding its bytes, and never fill. Evaluated
        # before `patched` so sales with a sane margin record no marker (their histories replay).
        if margin >= status.period_seconds and workflow.patched("margin-fits-period"):
            return errored(
                f"proof_margin_seconds ({margin}) is not shorter than the proof period "
                f"({status.period_seconds} s): no proof could ever land"
            )
        periods = Periodicity(seconds=status.period_seconds)
        await self._sleep_until(periods.next_period_start(status.chain_time) + 1, "next period")
        status = await self._proving_status()
        while True:
            periods = Periodicity(seconds=status.period_seconds)
            end = periods.period_start(periods.period_of(status.chain_time) + 1)
            plan = plan_proof(
                now=status.chain_time,
                period_end=end,
                pointer=status.pointer,
                seconds_per_block=status.seconds_per_block,
                proof_seconds=self.data.last_proof_seconds
                or status.downtime * status.seconds_per_block,
                landing_seconds=self.data.settings.proof_margin_seconds,
            )
            if plan.move == Move.PROVE:
                break
            if plan.move == Move.WAIT_FOR_WRAP:
                await self._sleep_until(plan.wait_until, "pointer about to wrap")
            else:
                await self._sleep_until(end + 1, "too late in the period")
            status = await self._proving_status()
        started = workflow.now()
        proof = await self._call(
            Activity.PROVER_ON_PROVE,
            OnProveInput(
                slot=Slot(request=self._request(), slot_index=self.data.slot_index),
                challenge=status.challenge,
            ),
            Groth16Proof,
        )
        self.data.last_proof_seconds = (workflow.now() - started).total_seconds()
        return SaleState(name=StateName.FILLING, proof=proof)

    async def _filling(self, state: SaleState) -> SaleState:
        """ST-FILL-1..2; the point of no return: recorded as sent before the broadcast."""
        if state.proof is None:
            raise RuntimeError("filling needs the initial proof")
        collateral = await self._call(Activity.MARKET_SLOT_COLLATERAL, self._slot_ref, int)
        fill = FillSlotInput(slot=self._slot_ref, proof=state.proof, collateral=collateral)
        with self._shielded():
            await self._record_fill(FillRecord.SENT)
            try:
                await self._tx(Activity.MARKET_FILL_SLOT, fill)
            except ActivityError as error:
                reraise_cancellation(error)
                await self._record_fill(FillRecord.REFUSED)  # a revert: nothing deposited
                kind = error_type(error)
                if kind == ErrorType.SLOT_STATE_MISMATCH:
                    return ignored(returns_collateral=True)
                if kind == ErrorType.PROOF_INVALID and self.data.fill_attempts < MAX_STALE_PROOFS:
                    # Beyond ST-FILL-2: proving outlasted the period (or the pointer wrapped),
                    # so the challenge moved on. Nothing was deposited; prove again.
                    self.data.fill_attempts += 1
                    self._log("initial proof went stale; proving again")
                    return SaleState(name=StateName.INITIAL_PROVING)
                return errored(describe(error))
            await self._record_fill(FillRecord.LANDED)
        return SaleState(name=StateName.FILLED)

    async def _filled(self, state: SaleState) -> SaleState | None:
        """Our fill landed, or the chain says the slot was filled: hosting takes over if it is
        ours. A slot filled by another host ends this sale (nothing of ours on chain)."""
        if self.data.fill != FillRecord.LANDED:
            if not await self._retrieve_request():
                return errored("request could not be retrieved")
            status = await self._slot_status()
            if not same_address(status.host, status.signer):
                return errored("Slot filled by other host")
            await self._record_fill(FillRecord.LANDED)
        self._hand_over_to_hosting()
        return None

    def _hand_over_to_hosting(self) -> None:
        """End this run; `run` continues as new into SlotHosting, which starts at Filled."""
        self.data.state = SaleState(name=StateName.FILLED)
        self._hand_over = True

    # --- the ends before a fill ---------------------------------------------------------------

    async def _failed_before_fill(self, state: SaleState) -> SaleState | None:
        """ST-FAIL-1 before our fill: nothing to free; the sale errs and cleans up."""
        if self.data.fill in (FillRecord.SENT, FillRecord.LANDED):
            self._hand_over_to_hosting()  # our collateral may be on chain: hosting settles
            return None
        return errored("Sale failed")

    async def _ended_before_fill(self, state: SaleState) -> None:
        """ST-IGN-1..2, ST-ERR-1, and Cancelled before our fill: settle from chain facts
        (nothing of ours is on chain, so the whole deduction returns), clear what was written,
        free the queue worker. An event that raced a landing fill hands over to hosting."""
        if self.data.fill in (FillRecord.SENT, FillRecord.LANDED):
            self._hand_over_to_hosting()
            return
        if state.name == StateName.ERRORED:
            self._log("sale errored", error=state.error)
        returned = await self._settled_collateral()
        if self.data.request is not None and state.name != StateName.IGNORED:
            await self._on_clear()
        await self._close_reservation(returned)
        await self._release(state.reprocess)

    async def _settled_collateral(self) -> int | None:
        """The settlement's verdict on the collateral (None: nothing reserved). Before a fill
        nothing can be on chain, so no chain read is needed: the whole deduction returns."""
        if self.data.reservation is None:
            return None
        verdict = settle(_NOTHING_ON_CHAIN, self.data.fill, self._deducted())
        if verdict.verdict != Verdict.SETTLE or verdict.returned_collateral is None:
            raise RuntimeError(f"acquisition cannot settle a fill that is {self.data.fill}")
        return verdict.returned_collateral


_NOTHING_ON_CHAIN = ChainFacts(
    slot_state=SlotState.Free,
    host=None,
    me="0x" + "00" * 20,
    current_collateral=0,
    request_state=None,
)
"""Before a fill is sent the chain's view cannot change the settlement (see settle())."""
