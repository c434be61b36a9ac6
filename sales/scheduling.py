"""The contract of the host-level proving scheduler (issue "Proving at scale").

One `ProvingScheduler` workflow per host reads, once per period and in ONE activity, the proving
facts of every slot this host holds, all at one pinned block, and signals only the hosting
workflows that have something to do: a proof is due, or the slot's or the request's state moved.
Idle hosting workflows run nothing and add no history. This module holds the names, payloads
and the one pure rule both sides share (`wake_for`): which reading wakes a slot, and why.
"""

import math
from enum import StrEnum

from pydantic import Field
from temporalio.exceptions import ApplicationError

from sales.api import Message, ProvingStatus, SlotRef
from sales.hexbytes import Address
from sales.models import RequestState, SlotState
from sales.uint import Timestamp, Uint64

PROVING_SCHEDULER_WORKFLOW = "ProvingScheduler"
MARKET_PROVING_SCHEDULE = "market_proving_schedule"
"""The scheduler's one read per period (sales task queue)."""
MARKET_HELD_SLOTS = "market_held_slots"
"""A fresh scheduler's first read: the slots the chain shows this host holding (sales queue)."""

WATCH_SLOT_SIGNAL = "watch_slot"
"""Hosting → scheduler: read this slot every period from now on (idempotent)."""
PROOF_DUE_SIGNAL = "proof_due"
"""Scheduler → hosting: this period's proof is due; the payload is the period's reading."""
STATE_CHANGED_SIGNAL = "slot_state_changed"
"""Scheduler → hosting: the chain shows the slot or its request moved; settle from the chain."""

RUNNING_REQUEST_STATES = frozenset({RequestState.New, RequestState.Started})
"""Request states in which a Filled slot of ours keeps proving (New: other slots still fill)."""


UNDELIVERED_SIGNAL_CAUSES = frozenset(
    {"ExternalWorkflowExecutionNotFound", "SignalCountLimitExceeded"}
)
"""How Temporal reports a signal to another workflow that was not delivered: the target is not
running (never started, closed, terminated), or its run took all the signals it may."""


def undelivered(error: BaseException) -> bool:
    """Whether a failed external signal means the target cannot take it (for the hosting workflow:
    no scheduler running; for the scheduler: the sale is gone), as opposed to a bug of ours
    (a payload that does not convert, a wrong call), which must not pass for either."""
    return isinstance(error, ApplicationError) and error.type in UNDELIVERED_SIGNAL_CAUSES


def scheduler_workflow_id(host_address: str) -> str:
    return f"proving-scheduler-{host_address.lower()}"


class WakeReason(StrEnum):
    PROOF_DUE = "proof_due"
    STATE_CHANGED = "state_changed"


class SlotWake(Message):
    """One slot's reading that asks its hosting workflow to act (the signal's payload)."""

    slot: SlotRef
    reason: WakeReason
    status: ProvingStatus
    """The slot's facts at the scheduler's block: the hosting workflow proves from these without
    reading the chain again."""


class ScheduleReadInput(Message):
    slots: list[SlotRef]


class HeldSlots(Message):
    """The host's active slots on chain (`mySlots` filtered by `getActiveSlot`), as references a
    fresh scheduler watches: its memory may be gone, the chain's is not."""

    slots: list[SlotRef] = Field(default_factory=list)


class ScheduleRead(Message):
    """What one period's batched read found: only the slots that need their workflow."""

    block_number: Uint64
    chain_time: Timestamp
    period_seconds: Uint64
    slots_read: int
    wakes: list[SlotWake] = Field(default_factory=list)


class SchedulerInput(Message):
    """The scheduler's state, carried across continue-as-new (bounded: ids, no history)."""

    host: Address
    slots: list[SlotRef] = Field(default_factory=list)
    periods_per_run: int = 20
    """Continue as new after this many reads, so the history stays bounded."""
    last_period: int | None = None
    """The last period read: a new run first waits for the next one."""
    period_seconds: int | None = None
    clock_offset: int = 0
    """Chain time minus workflow time at the last read (periods are chain time)."""
    reads: int = 0
    proof_wakes: int = 0
    change_wakes: int = 0


class SchedulerStats(Message):
    slots: int
    reads: int
    proof_wakes: int
    change_wakes: int
    last_period: int | None
    runs_reads: int
    """Reads in the current run."""


class ScheduledSlotFacts(Message):
    """The batched read's facts for one slot (what `wake_for` decides on)."""

    slot_state: SlotState
    request_state: RequestState | None
    host: Address | None
    proof_required: bool
    proof_will_be_required: bool


def wake_for(facts: ScheduledSlotFacts, signer: str) -> WakeReason | None:
    """Which slots the scheduler wakes: the chain is the truth, so anything but our running slot
    is a state change (the hosting workflow settles on it), and a running slot whose proof is
    required now (or after the downtime) is due. Everything else sleeps, at no cost."""
    mine = facts.host is not None and facts.host.lower() == signer.lower()
    running = facts.slot_state == SlotState.Filled and mine
    if not running or facts.request_state not in RUNNING_REQUEST_STATES:
        return WakeReason.STATE_CHANGED
    if facts.proof_required or facts.proof_will_be_required:
        return WakeReason.PROOF_DUE
    return None


__all__ = [
    "MARKET_HELD_SLOTS",
    "MARKET_PROVING_SCHEDULE",
    "PROOF_DUE_SIGNAL",
    "PROVING_SCHEDULER_WORKFLOW",
    "STATE_CHANGED_SIGNAL",
    "UNDELIVERED_SIGNAL_CAUSES",
    "WATCH_SLOT_SIGNAL",
    "HeldSlots",
    "ScheduleRead",
    "ScheduleReadInput",
    "ScheduledSlotFacts",
    "SchedulerInput",
    "SchedulerStats",
    "SlotWake",
    "WakeReason",
    "proving_concurrency",
    "scheduler_workflow_id",
    "undelivered",
    "wake_for",
]


def proving_concurrency(
    *,
    proof_seconds: float,
    period_seconds: int,
    due_per_period: float,
    cores: int,
    landing_seconds: float = 5.0,
) -> int:
    """Proofs the proving role should run at once (`SALES_PROVING_CONCURRENCY`), from the
    measured time of one proof (`benchmarks/bench_proofs.py`): enough that the proofs due in a
    period all finish before its end minus the landing time, and never more than the cores,
    since a CPU-bound proof only slows the others down. When even the cores do not suffice the
    host needs more proving workers (each runs this many)."""
    if proof_seconds <= 0 or period_seconds <= 0 or cores < 1 or due_per_period < 0:
        raise ValueError("proof and period seconds must be positive, cores at least 1")
    budget = max(1.0, period_seconds - landing_seconds)
    needed = math.ceil(due_per_period * proof_seconds / budget)
    return max(1, min(cores, needed))
