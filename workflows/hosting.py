"""Hosting: the second workflow of a sale, `SlotHosting`, from the landed fill to settlement.

The acquisition workflow continues as new into this one (same workflow id) once its fill has
landed; reconciliation starts one at the recovery entry (Unknown) for a slot it finds on chain,
or for a reservation no sale accounts for. From here the sale never ends because of a transient
fault (every call retries without a limit, workflows/phases.py) and the chain is the truth:

- each proving period reads the slot's and the request's state at one block, and that read
  moves the sale (Finished → Payout, Cancelled, Failed, freed → Errored); chain events only wake
  it early, so a forged, lost or reorganised event cannot make it act on its own;
- every end settles through `sales.settlement.settle` on fresh chain facts: a slot still ours and
  running is never freed or cleared (the sale goes back to proving), freeSlot is sent only where
  the contract pays out or refunds, and the ledger gets exactly what the chain returns;
- a periodic proof is planned against the pointer wrap and the period's end
  (`sales.proof_window`), carries that deadline, and is proven again with the new challenge
  when the old one went stale before the proof landed.

The history stays bounded: the workflow continues as new into itself every `periods_per_run`
periods, carrying its typed `SaleData`.

With `settings.scheduled_proving` (behind the `proving-scheduler` patch) the workflow does not
poll: it registers with the host's `ProvingScheduler` (workflows/scheduler.py), reads the chain
once, and then waits on one long timer plus signals. `proof_due` carries the period's reading,
so a due proof costs the proof and its submission; `slot_state_changed` moves the sale by the
chain's state as before; an idle period runs no activity and adds no history. If it hears
nothing for `scheduler_silence_periods` periods it reads the chain itself and registers again;
with no scheduler running it reads every period, as without the setting.
"""

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from sales.api import (
        SLOT_HOSTING_WORKFLOW,
        Activity,
        ChainEvent,
        ErrorType,
        OnClearInput,
        OnExpiryUpdateInput,
        OnProveInput,
        ProvingStatus,
        SaleSignal,
        SlotIdRef,
        SubmitProofInput,
    )
    from sales.models import FillRecord, Groth16Proof, RequestState, Slot, SlotState
    from sales.periods import Periodicity
    from sales.proof_window import Move, plan_proof
    from sales.scheduling import (
        PROOF_DUE_SIGNAL,
        STATE_CHANGED_SIGNAL,
        WATCH_SLOT_SIGNAL,
        SlotWake,
        WakeReason,
        scheduler_workflow_id,
        undelivered,
    )
    from sales.settlement import Settlement, Verdict, settle
    from workflows import metrics
    from workflows.sale_base import (
        SaleSteps,
        describe,
        error_type,
        facts_of,
        reraise_cancellation,
        same_address,
    )
    from workflows.sale_matrix import SIGNAL_EVENTS, next_state
    from workflows.sale_state import (
        SEEN_EVENT_KEYS,
        HostingInput,
        SaleData,
        SaleOutcome,
        SaleState,
        StateName,
        errored,
    )

SLOT_FREED = "Slot was forcibly freed and host was removed from its hosting"

FREE_FAILED_SLOT_PATCH = "free-failed-slot"
"""Sales recorded before this patch ended a Failed slot without freeSlot; newer ones send it,
so the slot leaves this host's mySlots (ST-FAIL-1)."""

PROOF_ROUNDS = 4
"""Attempts at one period's proof: a stale challenge or a late prover costs a round, not the
period, while time is left."""

WAIT_FOR_FILL_OUTCOME = 60
"""Seconds between chain reads while a fill's outcome is unknown (nothing is settled then)."""

PROVING_STATES = (StateName.PROVING, StateName.PROVING_SIMULATED)

SCHEDULED_PROVING_PATCH = "proving-scheduler"
"""Proving woken by the host's scheduler instead of a read per period (a new command sequence)."""


@workflow.defn(name=SLOT_HOSTING_WORKFLOW)
class SlotHostingWorkflow(SaleSteps):
    @workflow.init
    def __init__(self, hosting: HostingInput) -> None:
        self.data = hosting.data
        self.data.runs += 1
        self._init_runtime()
        self._periods_this_run = 0
        self._wake: SlotWake | None = None
        self._watched = False
        """The scheduler took our registration (and has not dropped us since)."""
        self._polled = False
        """This run (or this stay in proving) has read the chain itself once."""
        self._period_seconds = 1
        """The proof period, from the last reading (set before any wait)."""
        settle_step = self._settle_step
        self._steps = {
            StateName.UNKNOWN: self._unknown,
            StateName.FILLED: self._filled,
            StateName.PROVING: self._proving,
            StateName.PROVING_SIMULATED: self._proving,
            StateName.PAYOUT: settle_step,
            StateName.CANCELLED: settle_step,
            StateName.FAILED: settle_step,
            StateName.ERRORED: settle_step,
            StateName.FINISHED: settle_step,
        }

    @workflow.run
    async def run(self, hosting: HostingInput) -> SaleOutcome:
        self._announce("hosting" if self.data.runs <= 2 else "hosting continues")
        if self.data.state.name == StateName.UNKNOWN and self.data.periods == 0:
            metrics.sale_started("recovery")
        await self.run_steps(self.data.state)
        metrics.sale_ended(str(self.data.state.name))
        final = self.data.state
        return SaleOutcome(
            state=final.name,
            error=final.error,
            returned_collateral=self.data.returned_collateral,
            periods=self.data.periods,
            proofs_submitted=self.data.proofs_submitted,
        )

    def _interruptible(self, state: SaleState) -> bool:
        return state.name in PROVING_STATES

    async def _after_same_state(self, state: SaleState) -> None:
        """Keep a months-long proving history bounded (TEMPORAL_PRACTICES §1)."""
        self._periods_this_run += 1
        due = self._periods_this_run >= self.data.settings.periods_per_run
        if not (due or workflow.info().is_continue_as_new_suggested()):
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._interrupt is not None:
            return  # an event arrived meanwhile: handle it in this run
        self._log("continue as new", periods=self.data.periods)
        workflow.continue_as_new(HostingInput(data=self.data))

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

    @workflow.signal(name=PROOF_DUE_SIGNAL)
    def proof_due(self, wake: SlotWake) -> None:
        self._on_wake(wake)

    @workflow.signal(name=STATE_CHANGED_SIGNAL)
    def slot_state_changed(self, wake: SlotWake) -> None:
        self._on_wake(wake)

    def _on_wake(self, wake: SlotWake) -> None:
        """The scheduler's reading of our slot: the newest one is what the next step acts on."""
        if wake.slot.slot_id != self.data.slot_id:
            return
        if wake.reason == WakeReason.STATE_CHANGED:
            self._watched = False  # the scheduler dropped the slot; register again if held
        if self._wake is None or wake.status.block_number >= self._wake.status.block_number:
            self._wake = wake

    def _enter(self, state: SaleState) -> None:
        super()._enter(state)
        if state.name not in PROVING_STATES:
            self._watched = self._polled = False

    def _on_chain_event(self, signal: SaleSignal, event: ChainEvent) -> None:
        """An event only wakes the sale: the matrix sends it to a fresh chain read."""
        d = self.data
        if event.key in d.seen_events or event.request_id != d.request_id:
            return
        d.seen_events = [*d.seen_events, event.key][-SEEN_EVENT_KEYS:]
        if signal not in SIGNAL_EVENTS:
            return
        target = next_state(d.state.name, SIGNAL_EVENTS[signal])
        self._log("event", signal=str(signal), target=target)
        if target is not None and self._interrupt is None:
            self._interrupt = SaleState(name=target)

    # --- entries ------------------------------------------------------------------------------

    async def _unknown(self, state: SaleState) -> SaleState:
        """ST-UNK-1..2: the recovery entry maps the chain's facts to a state."""
        await self._retrieve_request()
        status = await self._slot_status()
        if status.slot_state == SlotState.Filled and same_address(status.host, status.signer):
            await self._record_fill(FillRecord.LANDED)
            return SaleState(name=StateName.FILLED)
        return self._end_for(status.slot_state, mine=same_address(status.host, status.signer))

    def _end_for(self, slot: SlotState, *, mine: bool) -> SaleState:
        """Which end a chain state leads to; the end's settlement decides what happens."""
        if not mine:
            if self.data.fill == FillRecord.LANDED:
                return errored(SLOT_FREED)
            return errored("Slot is not held by this host")
        match slot:
            case SlotState.Finished | SlotState.Paid:
                return SaleState(name=StateName.PAYOUT)
            case SlotState.Cancelled:
                return SaleState(name=StateName.CANCELLED)
            case SlotState.Failed:
                return SaleState(name=StateName.FAILED)
            case SlotState.Repair:
                return errored(SLOT_FREED)
            case other:
                return errored(f"Slot is not in Filled state, but in state: {other.name}")

    async def _filled(self, state: SaleState) -> SaleState:
        """ST-FILLED-1..3: free the queue worker, extend the data's expiry, start proving."""
        if not await self._retrieve_request():
            return errored("request could not be retrieved")
        request = self._request()
        status = await self._slot_status()
        if not same_address(status.host, status.signer):
            return errored("Slot filled by other host")
        if self.data.fill != FillRecord.LANDED:
            await self._record_fill(FillRecord.LANDED)
        self.data.collateral_on_chain = status.current_collateral
        await self._release(reprocess=False)
        try:
            hook = OnClearInput(request=request, slot_index=self.data.slot_index)
            await self._void(Activity.STORE_ON_SALE, hook)
        except ActivityError as error:
            reraise_cancellation(error)
            self._log("onSale failed", error=describe(error))
        await self._void(
            Activity.STORE_ON_EXPIRY_UPDATE,
            OnExpiryUpdateInput(cid=request.content.cid, expiry=status.request_end),
        )
        if self.data.settings.simulate_proof_failures > 0:
            return SaleState(name=StateName.PROVING_SIMULATED)
        return SaleState(name=StateName.PROVING)

    # --- proving ------------------------------------------------------------------------------

    async def _proving_status(self) -> ProvingStatus:
        status = await self._call(Activity.MARKET_PROVING_STATUS, self._slot_ref, ProvingStatus)
        self._track_clock(status.chain_time)
        return status

    def _moved_by_chain(self, status: ProvingStatus) -> SaleState | None:
        """PRV-1 with the chain as the truth: anything but our running slot ends proving."""
        mine = same_address(status.host, self.data.signer)
        if status.slot_state == SlotState.Filled and mine:
            return None
        return self._end_for(status.slot_state, mine=mine)

    async def _proving(self, state: SaleState) -> SaleState:
        """One period (PRV-1); returning the same state means "next period"."""
        if self.data.settings.scheduled_proving and workflow.patched(SCHEDULED_PROVING_PATCH):
            return await self._proving_scheduled(state)
        status = await self._proving_status()
        moved = self._moved_by_chain(status)
        if moved is not None:
            return moved
        periods = Periodicity(seconds=status.period_seconds)
        period = periods.period_of(status.chain_time)
        end = periods.period_start(period + 1)
        self.data.current_period, self.data.next_deadline = period, end
        self._show_details()
        due = status.proof_required or status.proof_will_be_required
        if due and period != self.data.last_proven_period:
            moved = await self._prove_period(state, status, period, end)
            if moved is not None:
                return moved
        self.data.periods += 1
        self._show_details()
        await self._sleep_until(end + 1, "next period")
        return state

    async def _proving_scheduled(self, state: SaleState) -> SaleState:
        """One wake of scheduled proving (PRV-1 with the scheduler reading the chain): the
        chain's state moves the sale, a due proof is proven once per period."""
        status = await self._scheduled_status()
        if status is None:
            return state
        moved = self._moved_by_chain(status)
        if moved is not None:
            return moved
        self._period_seconds = status.period_seconds
        periods = Periodicity(seconds=status.period_seconds)
        period = periods.period_of(status.chain_time)
        end = periods.period_start(period + 1)
        previous = self.data.current_period
        self.data.periods += 1 if previous is None else max(0, period - previous)
        self.data.current_period, self.data.next_deadline = period, end
        due = status.proof_required or status.proof_will_be_required
        if due and period != self.data.last_proven_period:
            moved = await self._prove_period(state, status, period, end)
            if moved is not None:
                return moved
        self._show_details()
        return state

    async def _scheduled_status(self) -> ProvingStatus | None:
        """The next reading to act on: the scheduler's, or our own read when this stay in
        proving has none yet, the scheduler was silent too long, or there is no scheduler.
        None: a proof wake that came too late to act on."""
        if self._wake is None and self._polled:
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(
                    lambda: self._wake is not None,
                    timeout=timedelta(seconds=self._silence_seconds()),
                    timeout_summary="scheduler silent" if self._watched else "next period",
                )
        wake, self._wake = self._wake, None
        if wake is not None:
            periods = Periodicity(seconds=wake.status.period_seconds)
            current = periods.next_period_start(wake.status.chain_time) > self._chain_now()
            if current or wake.reason == WakeReason.STATE_CHANGED:
                return wake.status
            # the period is over: its proof can no longer land, and the scheduler reads the
            # next one; reading the chain now would only add load to a late worker
            self._log("a proof wake for a period already over: dropped")
            return None
        self._watched = await self._watch()
        self._polled = True
        return await self._proving_status()

    def _silence_seconds(self) -> int:
        """How long to wait for a wake. Watched by a scheduler: until `scheduler_silence_periods`
        whole periods after the current one passed without a word, plus half a period for the
        scheduler's read of the next one to arrive. Else until just after the current period
        (polling, as without a scheduler)."""
        end = self.data.next_deadline or self._chain_now()
        if self._watched:
            silent = self.data.settings.scheduler_silence_periods * self._period_seconds
            end += silent + self._period_seconds // 2
        return max(1, end + 1 - self._chain_now())

    async def _watch(self) -> bool:
        """Register with the host's scheduler (idempotent); False when none is running."""
        if self.data.signer is None:
            return False
        try:
            handle = workflow.get_external_workflow_handle(scheduler_workflow_id(self.data.signer))
            await handle.signal(WATCH_SLOT_SIGNAL, self._slot_ref)
        except ApplicationError as error:
            if not undelivered(error):  # unexpected: fail the task (retried), not the sale
                raise RuntimeError(f"registration with the scheduler: {error}") from error
            self._log("no proving scheduler: reading the chain every period", error=describe(error))
            return False
        return True

    async def _prove_period(
        self, state: SaleState, status: ProvingStatus, period: int, end: int
    ) -> SaleState | None:
        """Prove this period's challenge so that the proof lands before the pointer wraps and
        before the period ends; prove again if the challenge moved (PRV-2, ST-SIM-1)."""
        for _ in range(PROOF_ROUNDS):
            plan = plan_proof(
                now=status.chain_time,
                period_end=end,
                pointer=status.pointer,
                seconds_per_block=status.seconds_per_block,
                proof_seconds=self.data.last_proof_seconds,
                landing_seconds=self.data.settings.proof_margin_seconds,
            )
            if plan.move == Move.TOO_LATE:
                break
            if plan.move == Move.WAIT_FOR_WRAP:
                self._log(
                    "pointer about to wrap: proving the next challenge", pointer=status.pointer
                )
                await self._sleep_until(plan.wait_until, "pointer wrap")
            else:
                done = await self._prove_and_submit(state, status, plan.deadline)
                if done:
                    self.data.last_proven_period = period
                    return None
            status = await self._proving_status()
            moved = self._moved_by_chain(status)
            if moved is not None:
                return moved
            if Periodicity(seconds=status.period_seconds).period_of(status.chain_time) != period:
                break
            if not (status.proof_required or status.proof_will_be_required):
                return None  # the new challenge asks for no proof this period
        self.data.missed_periods += 1
        metrics.period_missed()
        self._log("no proof landed this period", period=period)
        return None

    async def _prove_and_submit(
        self, state: SaleState, status: ProvingStatus, deadline: int
    ) -> bool:
        """True when the period has our proof on chain (new, or one submitted before)."""
        every = self.data.settings.simulate_proof_failures
        if state.name == StateName.PROVING_SIMULATED and every > 0:
            self.data.proof_count += 1
            if self.data.proof_count % every == 0:
                self.data.proof_count = 0
                await self._submit(Groth16Proof.zero(), deadline, expect_invalid=True)
                return True
        started = workflow.now()
        try:
            proof = await self._call(
                Activity.PROVER_ON_PROVE,
                OnProveInput(
                    slot=Slot(request=self._request(), slot_index=self.data.slot_index),
                    challenge=status.challenge,
                ),
                Groth16Proof,
                deadline=self._until(deadline),
            )
        except ActivityError as error:
            reraise_cancellation(error)
            self._log("proof generation failed", error=describe(error))
            metrics.proof_failed("generation")
            return False
        self.data.last_proof_seconds = (workflow.now() - started).total_seconds()
        return await self._submit(proof, deadline)

    async def _submit(
        self, proof: Groth16Proof, deadline: int, expect_invalid: bool = False
    ) -> bool:
        try:
            outcome = await self._tx(
                Activity.MARKET_SUBMIT_PROOF,
                SubmitProofInput(slot_id=self.data.slot_id, proof=proof),
                deadline=self._until(deadline),
            )
        except ActivityError as error:
            reraise_cancellation(error)
            if expect_invalid and error_type(error) == ErrorType.PROOF_INVALID:
                self._log("simulated proof failure submitted")
                self.data.proofs_submitted += 1
                return True
            self._log("proof submission failed", error=describe(error))
            metrics.proof_failed("submission")
            return False
        if not outcome.already_done:
            self.data.proofs_submitted += 1
            metrics.proof_submitted()
        return True

    def _earned(self) -> int:
        """A payout's earnings: price per slot-second times the seconds held (fill to end)."""
        d = self.data
        if d.request is None or d.request_end is None or d.filled_at is None:
            return 0
        return d.request.ask.price_per_slot_per_second * max(0, d.request_end - d.filled_at)

    def _until(self, chain_time: int) -> timedelta:
        """A schedule-to-close deadline at a chain timestamp (at least one second)."""
        return timedelta(seconds=max(1, chain_time - self._chain_now()))

    # --- the ends: settlement -----------------------------------------------------------------

    async def _settle_step(self, state: SaleState) -> SaleState | None:
        """Every end of a hosted sale: settle on fresh chain facts (sales/settlement.py)."""
        if state.settled:
            return None
        await self._retrieve_request()
        status = await self._slot_status()
        verdict = settle(facts_of(status), self.data.fill, self._deducted())
        self._log("settlement", verdict=str(verdict.verdict), reason=verdict.reason)
        if verdict.verdict == Verdict.HOLD:
            self._log("the chain shows our slot still running: back to proving")
            return SaleState(name=StateName.PROVING)
        if verdict.verdict == Verdict.WAIT:
            await workflow.sleep(
                timedelta(seconds=WAIT_FOR_FILL_OUTCOME), summary="fill outcome unknown"
            )
            return state
        if self._frees_slot(verdict, status.slot_state):
            await self._tx(Activity.MARKET_FREE_SLOT, SlotIdRef(slot_id=self.data.slot_id))
        if verdict.clear_data:
            await self._on_clear()
        await self._close_reservation(verdict.returned_collateral)
        await self._release(reprocess=False)
        return self._settled_end(state, status.slot_state, status.request_state, verdict)

    @staticmethod
    def _frees_slot(verdict: Settlement, slot: SlotState) -> bool:
        """Whether settlement sends freeSlot; a Failed slot only does in sales after the patch."""
        if not verdict.free_slot:
            return False
        return slot != SlotState.Failed or workflow.patched(FREE_FAILED_SLOT_PATCH)

    def _settled_end(
        self,
        state: SaleState,
        slot: SlotState,
        request: RequestState | None,
        verdict: Settlement,
    ) -> SaleState:
        """The state the sale ends in, named by what the chain says happened."""
        returned = verdict.returned_collateral
        if slot == SlotState.Failed or request == RequestState.Failed:
            return SaleState(name=StateName.ERRORED, error="Sale failed", settled=True)
        if verdict.free_slot or slot == SlotState.Paid:
            name = StateName.CANCELLED if slot == SlotState.Cancelled else StateName.FINISHED
            if name == StateName.FINISHED and verdict.free_slot:
                metrics.payout(self._earned())
            return SaleState(name=name, settled=True, returned_collateral=returned)
        return SaleState(name=StateName.ERRORED, error=state.error or verdict.reason, settled=True)
