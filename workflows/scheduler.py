"""`ProvingScheduler`: one workflow per host that reads the chain once per period for every slot
the host holds, and wakes only the hosting workflows that have something to do.

Why: a hosting workflow that polls the chain itself costs a read activity and a timer per slot
per period (about 1,440 Temporal actions per slot per day at 120 s periods) even when no proof
is ever due. Here the host pays one batched read per period (`market_proving_schedule`: proof
requirements, slot and request state, challenge and pointer of every watched slot, all at one
pinned block), and an idle slot costs nothing: its workflow sleeps on a long timer.

- Hosting workflows register with `watch_slot` when they start proving (idempotent).
- A fresh scheduler (not one continued as new) first lists the slots the chain shows this host
  holding (`market_held_slots`, from `mySlots`) and watches them all: after a termination its
  memory is gone, but no hosting workflow needs to register again (behind the
  `scheduler-rebuilds-from-chain` patch). The host's worker starts a new one within a period
  of a termination (worker.py, `keep_scheduler`).
- Each period: one read; a slot whose proof is due gets `proof_due` with its reading (it proves
  from it without reading again); a slot whose slot or request state moved gets
  `slot_state_changed` and is dropped (its workflow settles from the chain, and registers again
  if the chain says it still holds the slot). A slot whose workflow is gone is dropped.
- A read that fails or runs late is retried until the period's end; the next attempt, at the
  next period's start, reads the period current then, so a missed or late period still wakes
  what is due now. A slot whose views cannot be read is left out of that read; its workflow's
  silence fallback reads it.
- The history stays bounded: continue-as-new every `periods_per_run` reads (or when Temporal
  suggests it), carrying only the watched slots' ids.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from sales.api import SlotRef, sale_workflow_id
    from sales.periods import Periodicity
    from sales.scheduling import (
        MARKET_HELD_SLOTS,
        MARKET_PROVING_SCHEDULE,
        PROOF_DUE_SIGNAL,
        PROVING_SCHEDULER_WORKFLOW,
        STATE_CHANGED_SIGNAL,
        WATCH_SLOT_SIGNAL,
        HeldSlots,
        ScheduleRead,
        ScheduleReadInput,
        SchedulerInput,
        SchedulerStats,
        SlotWake,
        WakeReason,
        undelivered,
    )
    from workflows.phases import NON_RETRYABLE

READ_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=0,
    non_retryable_error_types=NON_RETRYABLE,
)
"""A failed read is tried again within the period, until the period's end."""

READ_TIMEOUT = timedelta(seconds=60)
"""One attempt at the batched read: thousands of slots take a few JSON-RPC batches."""

FAILED_READ_PAUSE = timedelta(seconds=10)
"""Before the period length is known, a failed read is tried again after this pause."""

SIGNALS_AT_ONCE = 500
"""Wake signals in flight at once (Temporal limits pending external signals per workflow)."""

AFTER_PERIOD_START = 1
"""Seconds into a period at which it is read: the period's challenge is set by its first block."""

HELD_SLOTS_DEADLINE = timedelta(minutes=2)
"""How long a fresh scheduler tries to list the host's slots before it serves the registrations
alone (each hosting workflow's silence fallback registers it again)."""

REBUILD_PATCH = "scheduler-rebuilds-from-chain"
"""Fresh runs recorded before this patch started from registrations only; newer ones first read
the host's slots from the chain (one more activity)."""


@workflow.defn(name=PROVING_SCHEDULER_WORKFLOW)
class ProvingSchedulerWorkflow:
    @workflow.init
    def __init__(self, start: SchedulerInput) -> None:
        self._start = start
        self._slots: dict[str, SlotRef] = {ref.slot_id: ref for ref in start.slots}
        self._reads = start.reads
        self._proof_wakes = start.proof_wakes
        self._change_wakes = start.change_wakes
        self._last_period = start.last_period
        self._period_seconds = start.period_seconds
        self._clock_offset = start.clock_offset
        self._reads_this_run = 0

    # --- messages -----------------------------------------------------------------------------

    @workflow.signal(name=WATCH_SLOT_SIGNAL)
    def watch_slot(self, ref: SlotRef) -> None:
        self._slots[ref.slot_id] = ref

    @workflow.query(name="stats")
    def stats(self) -> SchedulerStats:
        return SchedulerStats(
            slots=len(self._slots),
            reads=self._reads,
            proof_wakes=self._proof_wakes,
            change_wakes=self._change_wakes,
            last_period=self._last_period,
            runs_reads=self._reads_this_run,
        )

    @workflow.query(name="slots")
    def slots(self) -> list[str]:
        return sorted(self._slots)

    # --- the loop -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: SchedulerInput) -> None:
        if self._last_period is not None:
            await self._sleep_to_period(self._last_period + 1)
        elif workflow.patched(REBUILD_PATCH):
            await self._watch_held_slots()
        while True:
            await workflow.wait_condition(lambda: bool(self._slots))  # no slots: no history
            read = await self._read()
            if read is None:  # failed until the period's end, or refused: read the next one
                await self._after_failed_read()
                continue
            period = Periodicity(seconds=read.period_seconds).period_of(read.chain_time)
            self._last_period, self._period_seconds = period, read.period_seconds
            await self._wake_all(read.wakes)
            self._reads += 1
            self._reads_this_run += 1
            self._continue_as_new_if_due()
            await self._sleep_to_period(period + 1)

    async def _watch_held_slots(self) -> None:
        """Watch every slot the chain shows this host holding. A slot whose sale is not running
        is dropped at its first wake (not delivered); one not ours any more is woken as changed."""
        try:
            held: HeldSlots = await workflow.execute_activity(
                MARKET_HELD_SLOTS,
                result_type=HeldSlots,
                start_to_close_timeout=READ_TIMEOUT,
                schedule_to_close_timeout=HELD_SLOTS_DEADLINE,
                retry_policy=READ_RETRY,
                summary="the host's slots on chain",
            )
        except ActivityError as error:
            workflow.logger.warning("host's slots not read", extra={"error": str(error)})
            return
        for ref in held.slots:
            self._slots.setdefault(ref.slot_id, ref)

    def _chain_now(self) -> int:
        return int(workflow.now().timestamp()) + self._clock_offset

    async def _read(self) -> ScheduleRead | None:
        """The period's one read; None when it failed until the period's end."""
        deadline: timedelta | None = None
        if self._period_seconds is not None:
            periods = Periodicity(seconds=self._period_seconds)
            left = periods.next_period_start(self._chain_now()) - self._chain_now()
            deadline = timedelta(seconds=max(AFTER_PERIOD_START + 1, left))
        refs = list(self._slots.values())
        try:
            read: ScheduleRead = await workflow.execute_activity(
                MARKET_PROVING_SCHEDULE,
                ScheduleReadInput(slots=refs),
                result_type=ScheduleRead,
                start_to_close_timeout=READ_TIMEOUT,
                schedule_to_close_timeout=deadline,
                retry_policy=READ_RETRY,
                summary=f"read {len(refs)} slots",
            )
        except ActivityError as error:
            workflow.logger.warning("proving read failed this period", extra={"error": str(error)})
            return None
        self._clock_offset = read.chain_time - int(workflow.now().timestamp())
        return read

    async def _wake_all(self, wakes: list[SlotWake]) -> None:
        for start in range(0, len(wakes), SIGNALS_AT_ONCE):
            chunk = wakes[start : start + SIGNALS_AT_ONCE]
            await asyncio.gather(*(self._wake(wake) for wake in chunk))

    async def _wake(self, wake: SlotWake) -> None:
        slot_id = wake.slot.slot_id
        if wake.reason == WakeReason.STATE_CHANGED:
            self._slots.pop(slot_id, None)  # its workflow settles; it registers again if held
            self._change_wakes += 1
            name = STATE_CHANGED_SIGNAL
        else:
            self._proof_wakes += 1
            name = PROOF_DUE_SIGNAL
        try:
            handle = workflow.get_external_workflow_handle(sale_workflow_id(slot_id))
            await handle.signal(name, wake)
        except ApplicationError as error:
            if not undelivered(error):  # unexpected: fail the task (retried), not the scheduler
                raise RuntimeError(f"wake of {slot_id}: {error}") from error
            self._slots.pop(slot_id, None)  # the sale is gone: stop reading its slot
            extra = {"slot_id": slot_id, "error": str(error)}
            workflow.logger.info("slot dropped: its workflow is gone", extra=extra)

    async def _after_failed_read(self) -> None:
        """Pause until the next period (or FAILED_READ_PAUSE before the first read), so a read
        the chain refuses outright does not loop without end."""
        if self._period_seconds is None:
            await workflow.sleep(FAILED_READ_PAUSE, summary="read failed")
            return
        periods = Periodicity(seconds=self._period_seconds)
        await self._sleep_to_period(periods.period_of(self._chain_now()) + 1)

    async def _sleep_to_period(self, period: int) -> None:
        if self._period_seconds is None:
            return
        at = Periodicity(seconds=self._period_seconds).period_start(period) + AFTER_PERIOD_START
        seconds = at - self._chain_now()
        if seconds > 0:
            await workflow.sleep(timedelta(seconds=seconds), summary=f"period {period}")

    def _continue_as_new_if_due(self) -> None:
        due = self._reads_this_run >= self._start.periods_per_run
        if not (due or workflow.info().is_continue_as_new_suggested()):
            return
        workflow.continue_as_new(
            SchedulerInput(
                host=self._start.host,
                slots=list(self._slots.values()),
                periods_per_run=self._start.periods_per_run,
                last_period=self._last_period,
                period_seconds=self._period_seconds,
                clock_offset=self._clock_offset,
                reads=self._reads,
                proof_wakes=self._proof_wakes,
                change_wakes=self._change_wakes,
            )
        )
