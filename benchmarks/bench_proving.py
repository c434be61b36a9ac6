"""Proving at scale: how many hosted slots one worker sustains with no missed period, and what
an idle and a due slot-period cost, for both hosting designs in the same run.

- **polling** (`SaleSettings()`): every hosting workflow reads the chain itself each period
  (one read activity and one timer per slot per period).
- **scheduled** (`SaleSettings(scheduled_proving=True)`): one `ProvingScheduler` per host reads
  every slot at one block once per period and signals only the slots whose proof is due.

Same dev server, same process (`worker.py --role all`: sales, chain-tx and proving queues), same
fake chain and fake prover (--prove-ms per proof, --prover-slots at once). A proof is due in a
slot-period with --probability percent, drawn from a hash of (request, period), so both designs
face the same draws. Hosting workflows start already proving (acquisition is not measured).
Capacity: for N slots per design (from --start, or --start-scheduled, growing by --growth) the
run waits until every slot has read the chain, watches --periods whole periods and counts due
periods whose proof did not land in the period. A design stops at its first N with a miss (or
at --max).

Cost: then --cost-slots slots per design run `scheduler_silence_periods` + 1 periods unwatched
(a fresh start shows no silence fallback for that long; after it, fallbacks occur as they do in
a long run) and --cost-periods watched; every history is inspected.

Per level it prints missed periods, the worst landing into a period, the scheduler's reads per
period, the events and activities per slot-period when idle and when a proof is due (the
scheduler's own events are shown per slot), and the share of idle slot-periods with a read of
the slot's own (polling: all; scheduled: the silence fallback) next to the most events any other
idle slot-period had (the target: 0). At the end: the sustained slots of both designs and, from
the cost runs, Temporal actions per slot per day at 120 s periods (the actions are the billed
commands in the histories: activities, timers, signals received and sent, search attribute
upserts, markers, continue-as-new; the scheduler's share divided over its slots).

    .venv/bin/python benchmarks/bench_proving.py [--period 10] [--periods 3] [--growth 1.5]

About 15 minutes on 2 shared cores (13 measured with the cost runs, 6.5 without: --cost-slots 0).
"""

import argparse
import asyncio
import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_sale import dev_server
from sales.api import (
    SALES_TASK_QUEUE,
    SLOT_HOSTING_WORKFLOW,
    Activity,
    OnProveInput,
    SaleSettings,
    SubmitProofInput,
    TxOutcome,
    sale_workflow_id,
)
from sales.ids import slot_id
from sales.models import Groth16Proof
from sales.periods import Periodicity
from sales.scheduling import PROVING_SCHEDULER_WORKFLOW, SchedulerInput, scheduler_workflow_id
from tests.workflows.fake_fleet import FakeFleet, fleet_workers, hosting_input, proving_fake
from tests.workflows.fakes import FakeSale, make_request
from workflows import ALL_WORKFLOWS

DESIGNS = ("polling", "scheduled")
TARGET_RATIO = 10
"""The issue's target: at least 10x the polling design's sustained slots."""
DAY_AT_120S = 24 * 3600 // 120
"""Periods per day at Codex's 120 s periods."""

ACTION_EVENTS = frozenset(
    {
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_TIMER_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        EventType.EVENT_TYPE_MARKER_RECORDED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)
"""History events that Temporal Cloud bills as actions (workflow tasks are not billed)."""
SIGNAL_SENT = EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED


@dataclass
class BenchSale(FakeSale):
    """One slot's fake chain and prover: a proof is due with `percent` probability per period,
    the prover takes `prove_seconds` (a sleep: its time, not its CPU)."""

    percent: int = 25
    prove_seconds: float = 0.1
    landed: list[float] = field(default_factory=list)
    """Wall-clock time at which each proof submission completed."""

    def required(self, period: int) -> bool:
        digest = hashlib.sha256(f"{self.request.id}:{period}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % 100 < self.percent

    async def on_prove(self, prove: OnProveInput) -> Groth16Proof:
        await asyncio.sleep(self.prove_seconds)
        return await super().on_prove(prove)

    async def submit_proof(self, submit: SubmitProofInput) -> TxOutcome:
        outcome = await super().submit_proof(submit)
        self.landed.append(time.time())
        return outcome


@dataclass
class Cost:
    """Events, activities and actions summed over slot-periods of one kind."""

    slot_periods: int = 0
    events: int = 0
    activities: int = 0
    actions: int = 0

    def add(self, events: int, activities: int, actions: int) -> None:
        self.slot_periods += 1
        self.events += events
        self.activities += activities
        self.actions += actions

    def per(self, what: str) -> float:
        return getattr(self, what) / self.slot_periods if self.slot_periods else 0.0


@dataclass
class Level:
    design: str
    slots: int
    missed: int
    due: int
    worst_delay: float
    reads_per_period: float
    watched: int
    """Periods watched (after `warmup` periods not watched)."""
    idle: Cost
    busy: Cost
    fallback: Cost
    """The idle slot-periods with a read of the slot's own: polling, every one; scheduled, the
    silence fallback."""
    quiet_worst: int
    """The most events in an idle slot-period without such a read (the target: 0)."""
    scheduler_events: float = 0.0
    """The scheduler's history events per slot-period."""
    scheduler_actions: float = 0.0
    """The scheduler's actions per slot-period, its wake signals not included."""
    signals_per_due: float = 0.0
    """Wake signals the scheduler sent per due slot-period (billed to the due period)."""
    scheduler_actions_per_period: float = 0.0
    """The scheduler's actions per period for all its slots, its wake signals not included."""

    def actions_per_day(self, percent: int, silence: int) -> tuple[float, float]:
        """Actions per slot per day at 120 s periods: as measured (proofs due at `percent`),
        and with no proof ever due. The latter from the measured costs: polling reads every
        period; a scheduled slot hears nothing then, so it falls back every `silence` + 1
        periods (its idle periods' cost when quiet is measured 0 in `quiet_worst`)."""
        idle = self.idle.per("actions") + self.scheduler_actions
        busy = self.busy.per("actions") + self.signals_per_due + self.scheduler_actions
        mixed = (percent / 100) * busy + (1 - percent / 100) * idle
        if self.design == "polling":
            never = idle
        else:
            never = self.fallback.per("actions") / (silence + 1) + self.scheduler_actions
        return mixed * DAY_AT_120S, never * DAY_AT_120S


async def in_chunks(calls: Iterable[Callable[[], Awaitable[Any]]], size: int = 100) -> list[Any]:
    """Run the calls `size` at a time (thousands of client calls without a burst)."""
    pending, results = list(calls), []
    for start in range(0, len(pending), size):
        results += await asyncio.gather(*(call() for call in pending[start : start + size]))
    return results


async def histories(client: Client, workflow_id: str, since: float) -> list[Any]:
    """Events of every run of the workflow that overlaps `since` (follows continue-as-new
    backwards from the latest run)."""
    events: list[Any] = []
    run: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run).fetch_history()
        events = list(history.events) + events
        started = history.events[0]
        previous = started.workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous or started.event_time.ToSeconds() < since:
            return events
        run = previous


def by_period(events: list[Any], periods: Periodicity, window: range) -> dict[int, list[Any]]:
    buckets: dict[int, list[Any]] = {p: [] for p in window}
    for event in events:
        period = periods.period_of(int(event.event_time.ToSeconds()))
        if period in buckets:
            buckets[period].append(event)
    return buckets


def reads_chain(events: list[Any]) -> bool:
    """Whether the slot-period holds a read of the slot's own (in scheduled proving: the silence
    fallback, since the scheduler's reading comes with the wake)."""
    return any(
        e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name
        == Activity.MARKET_PROVING_STATUS
        for e in events
    )


def count(events: list[Any]) -> tuple[int, int, int]:
    activities = sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in events)
    actions = sum(e.event_type in ACTION_EVENTS for e in events)
    return len(events), activities, actions


async def run_level(
    client: Client,
    fleet: FakeFleet,
    design: str,
    count_: int,
    host: int,
    args: argparse.Namespace,
    *,
    warmup: int = 0,
    watched: int = 3,
    sample: int = 20,
) -> Level:
    periods = Periodicity(seconds=args.period)
    signer = f"0x{host:040x}"  # one host per level, with a scheduler of its own
    fakes = [
        BenchSale(
            request=make_request(expiry=600, duration=3600, nonce=host * 100_000 + n),
            signer=signer,
            period=args.period,
            percent=args.probability,
            prove_seconds=args.prove_ms / 1000,
        )
        for n in range(count_)
    ]
    now = int(time.time())
    for fake in fakes:
        fleet.add(proving_fake(fake, now))
    scheduled = design == "scheduled"
    scheduler: WorkflowHandle[Any, Any] | None = None
    if scheduled:
        scheduler = await client.start_workflow(
            PROVING_SCHEDULER_WORKFLOW,
            SchedulerInput(host=signer),
            id=scheduler_workflow_id(signer),
            task_queue=SALES_TASK_QUEUE,
        )
    settings = SaleSettings(scheduled_proving=scheduled)

    def start(fake: BenchSale) -> Callable[[], Awaitable[Any]]:
        return lambda: client.start_workflow(
            SLOT_HOSTING_WORKFLOW,
            hosting_input(fake, settings),
            id=sale_workflow_id(slot_id(fake.request.id, 0)),
            task_queue=SALES_TASK_QUEUE,
        )

    handles: list[WorkflowHandle[Any, Any]] = await in_chunks(start(f) for f in fakes)
    deadline = time.monotonic() + 120 + count_ / 10
    while any(Activity.MARKET_PROVING_STATUS not in f.names() for f in fakes):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count_} slots did not all start proving in time")
        await asyncio.sleep(0.2)
    first = periods.period_of(int(time.time())) + 1 + warmup  # whole periods, all proving
    window = range(first, first + watched)
    window_start, window_end = periods.period_start(first), periods.period_end(window[-1])
    reads_before = len(fleet.reads)
    while time.time() < window_end + 1:  # noqa: ASYNC110  (wall-clock, not a condition)
        await asyncio.sleep(0.5)
    reads = [t for t in fleet.reads[reads_before:] if window_start <= t < window_end]
    missed = due = 0
    worst = 0.0
    for fake in fakes:
        landed = {periods.period_of(int(t)): t for t in reversed(fake.landed)}
        for period in window:
            if not fake.required(period):
                continue
            due += 1
            if period not in landed:
                missed += 1
            else:
                worst = max(worst, landed[period] - periods.period_start(period))
    idle, busy, fallback = Cost(), Cost(), Cost()
    quiet_worst = 0
    for fake, handle in list(zip(fakes, handles, strict=True))[:sample]:
        events = await histories(client, handle.id, window_start)
        for period, bucket in by_period(events, periods, window).items():
            (busy if fake.required(period) else idle).add(*count(bucket))
            if fake.required(period):
                continue
            if reads_chain(bucket):
                fallback.add(*count(bucket))
            else:
                quiet_worst = max(quiet_worst, len(bucket))
    level = Level(
        design=design,
        slots=count_,
        missed=missed,
        due=due,
        worst_delay=worst,
        reads_per_period=len(reads) / watched,
        watched=watched,
        idle=idle,
        busy=busy,
        fallback=fallback,
        quiet_worst=quiet_worst,
    )
    if scheduler is not None:
        events = await histories(client, scheduler.id, window_start)
        inside = [e for b in by_period(events, periods, window).values() for e in b]
        total, _, actions = count(inside)
        sent = sum(e.event_type == SIGNAL_SENT for e in inside)
        level.scheduler_events = total / (watched * count_)
        level.scheduler_actions = (actions - sent) / (watched * count_)
        level.scheduler_actions_per_period = (actions - sent) / watched
        level.signals_per_due = sent / due if due else 0.0

    targets = [*handles, *([scheduler] if scheduler else [])]
    await in_chunks(terminator(h) for h in targets)
    return level


def terminator(handle: WorkflowHandle[Any, Any]) -> Callable[[], Awaitable[None]]:
    async def terminate() -> None:
        with contextlib.suppress(RPCError):
            await handle.terminate("benchmark level done")

    return terminate


def report(level: Level) -> None:
    idle = level.idle.slot_periods
    fallback = 100 * level.fallback.slot_periods / idle if idle else 0.0
    print(
        f"  {level.design:9s} {level.slots:5d} slots: {level.missed:4d} of {level.due:5d} due "
        f"proofs missed, worst landing {level.worst_delay:4.1f} s into its period, "
        f"scheduler reads/period {level.reads_per_period:.1f}\n"
        f"  {'':9s} per slot-period  idle: {level.idle.per('events'):5.2f} events "
        f"{level.idle.per('activities'):4.2f} activities   due: {level.busy.per('events'):5.2f} "
        f"events {level.busy.per('activities'):4.2f} activities   (+ scheduler "
        f"{level.scheduler_events:.2f} events)\n"
        f"  {'':9s} idle slot-periods with a read of their own (polling: every one; scheduled: "
        f"the silence fallback): {fallback:5.1f} % at {level.fallback.per('events'):5.2f} events "
        f"{level.fallback.per('activities'):4.2f} activities; the others: at most "
        f"{level.quiet_worst} events",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    async with await dev_server() as env:
        client = env.client
        fleet = FakeFleet()
        async with fleet_workers(
            client,
            fleet,
            workflows=ALL_WORKFLOWS,
            prover_slots=args.prover_slots,
            max_cached_workflows=args.max * 2,
            max_concurrent_activities=args.max_activities,
        ):
            silence = SaleSettings().scheduler_silence_periods
            print(
                f"hosted slots on one worker, both designs: {args.period} s periods, a proof due "
                f"with {args.probability} % probability per slot-period, fake prover "
                f"{args.prove_ms} ms x {args.prover_slots} slots",
                flush=True,
            )
            print(f"capacity: levels of slots, {args.periods} periods watched per level")
            sustained: dict[str, Level | None] = {}
            host = 1
            starts = {"polling": args.start, "scheduled": args.start_scheduled}
            for design in DESIGNS:
                sustained[design] = None
                count_ = starts[design]
                while count_ <= args.max:
                    level = await run_level(
                        client,
                        fleet,
                        design,
                        count_,
                        host,
                        args,
                        watched=args.periods,
                        sample=args.sample,
                    )
                    host += 1
                    report(level)
                    if level.missed:
                        break
                    sustained[design] = level
                    count_ = max(count_ + 1, int(count_ * args.growth))
            costs: dict[str, Level] = {}
            if args.cost_slots:
                print(
                    f"cost: {args.cost_slots} slots per design, {args.cost_periods} periods "
                    f"watched after {silence + 1} not watched (a fresh start has no silence "
                    f"fallback, {silence} periods, before), every history inspected"
                )
            for design in DESIGNS if args.cost_slots else ():
                costs[design] = await run_level(
                    client,
                    fleet,
                    design,
                    args.cost_slots,
                    host,
                    args,
                    warmup=silence + 1,
                    watched=args.cost_periods,
                    sample=args.cost_slots,
                )
                host += 1
                report(costs[design])
            print("results:")
            for design in DESIGNS:
                best = sustained[design]
                line = (
                    f"  {design:9s} sustained {best.slots:5d} slots with no missed period"
                    if best is not None
                    else f"  {design:9s} sustained no level without a missed period"
                )
                if design in costs:
                    cost = costs[design]
                    mixed, never = cost.actions_per_day(args.probability, silence)
                    line += (
                        f"; Temporal actions per slot per day at 120 s periods: {mixed:6.0f} "
                        f"({args.probability} % due), {never:6.0f} (no proof ever due; the "
                        f"scheduler's share at {args.cost_slots} slots, "
                        f"{cost.scheduler_actions_per_period:.1f} actions per period for all)"
                    )
                print(line)
            old, new = sustained["polling"], sustained["scheduled"]
            if old is not None and new is not None:
                ratio = new.slots / old.slots
                verdict = "meets" if ratio >= TARGET_RATIO else "misses"
                print(
                    f"  scheduled / polling sustained slots: {ratio:.1f}x ({verdict} the "
                    f"{TARGET_RATIO}x target; levels grow by {args.growth}x, so each figure is "
                    "a floor within that factor)"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--period", type=int, default=10)
    parser.add_argument("--periods", type=int, default=3)
    parser.add_argument("--probability", type=int, default=25)
    parser.add_argument("--prove-ms", type=int, default=100)
    parser.add_argument("--prover-slots", type=int, default=64)
    parser.add_argument("--max-activities", type=int, default=200)
    parser.add_argument("--start", type=int, default=20, help="first level of polling")
    parser.add_argument("--start-scheduled", type=int, default=100, help="first scheduled level")
    parser.add_argument("--growth", type=float, default=1.5, help="next level = level x growth")
    parser.add_argument("--max", type=int, default=6400)
    parser.add_argument("--sample", type=int, default=20, help="histories inspected per level")
    parser.add_argument(
        "--cost-slots", type=int, default=100, help="slots of the cost runs (0: none)"
    )
    parser.add_argument("--cost-periods", type=int, default=8, help="periods the cost runs watch")
    asyncio.run(main(parser.parse_args()))
    # Leave without the interpreter's finalization: the SDK core's Tokio threads may still
    # take and release the GIL then ("Fatal Python error: PyGILState_Release ... runtime state:
    # finalizing", rc 134, seen once after a complete run). Every worker and the dev server are
    # shut down by then (their `async with` blocks); what outlives them is the Rust runtime the
    # clients share, which has no close call. It is an open SDK bug (temporalio/sdk-python#300,
    # also hit by short client-only processes), not a leak of ours, so skipping finalization is
    # the workaround, as elsewhere.
    sys.stdout.flush()
    os._exit(0)
