"""The proving scheduler (issue "Proving at scale"): one batched chain read per period for all
hosted slots, only slots with something to do are woken, the chain's state still moves a sale
without any event, a worker that dies mid-run loses no proof, a terminated scheduler is started
again by the host's worker within a period and rebuilds its watch list from the chain (at most
`LOST_AT_MOST` due period lost per slot), and without that keeper a terminated scheduler costs
a slot at most the silence periods before it reads the chain itself (the fallback).

Hosting workflows start already proving (tests/workflows/fake_fleet.py) on the time-skipping
server; the fake chain's time is the server's virtual clock.
"""

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from sales import scheduling
from sales.api import (
    SALES_TASK_QUEUE,
    SLOT_HOSTING_WORKFLOW,
    Activity,
    SaleSettings,
    SlotRef,
    sale_workflow_id,
)
from sales.ids import slot_id
from sales.models import RequestState, SlotState
from sales.periods import Periodicity
from sales.scheduling import SchedulerInput, SchedulerStats, scheduler_workflow_id
from tests.workflows.conftest import eventually
from tests.workflows.fake_fleet import FakeFleet, fleet_workers, hosting_input, proving_fake
from tests.workflows.fakes import HOST, PERIOD, FakeSale, make_request
from worker import KEEP_INTO_PERIOD, keep_scheduler, next_check_in
from workflows.sale_state import SaleOutcome, StateName
from workflows.scheduler import ProvingSchedulerWorkflow

PERIODS = Periodicity(seconds=PERIOD)
SCHEDULED = SaleSettings(scheduled_proving=True, scheduler_silence_periods=3)

LOST_AT_MOST = 1
"""Due periods a slot may lose to one termination of its scheduler while the host's worker keeps
it (worker.py, `keep_scheduler`): only a period whose read landed but whose wakes the
termination cut off, since the keeper checks each period after the scheduler's read."""


@dataclass
class PatternSale(FakeSale):
    """A slot whose proof is due in every `due_every`-th period (shifted by `offset`)."""

    due_every: int = 3
    offset: int = 0

    def required(self, period: int) -> bool:
        return (period + self.offset) % self.due_every == 0


def periods_of(times: list[int]) -> list[int]:
    return [PERIODS.period_of(t) for t in times]


async def now_of(env: WorkflowEnvironment) -> int:
    return int((await env.get_current_time()).timestamp())


async def start_fleet(
    env: WorkflowEnvironment,
    fleet: FakeFleet,
    fakes: list[FakeSale],
    settings: SaleSettings = SCHEDULED,
    scheduler: bool = True,
) -> tuple[WorkflowHandle[Any, Any] | None, list[WorkflowHandle[Any, SaleOutcome]]]:
    client: Client = env.client
    now = await now_of(env)
    sched = None
    if scheduler:
        await client.start_workflow(
            ProvingSchedulerWorkflow.run,
            SchedulerInput(host=HOST),
            id=scheduler_workflow_id(HOST),
            task_queue=SALES_TASK_QUEUE,
        )
        sched = client.get_workflow_handle(scheduler_workflow_id(HOST))  # over its runs
    handles = []
    for fake in fakes:
        fleet.add(proving_fake(fake, now))
        handle: WorkflowHandle[Any, SaleOutcome] = await client.start_workflow(
            SLOT_HOSTING_WORKFLOW,
            hosting_input(fake, settings),
            id=sale_workflow_id(slot_id(fake.request.id, 0)),
            task_queue=SALES_TASK_QUEUE,
            result_type=SaleOutcome,
        )
        handles.append(handle)
    return sched, handles


async def stop(handle: WorkflowHandle[Any, Any]) -> None:
    """Terminate a workflow the test is done with. With every slot settled the scheduler waits
    without a timer, so the time-skipping server may already have run it into its timeout."""
    with contextlib.suppress(RPCError):
        await handle.terminate("test over")


async def stats(scheduler: WorkflowHandle[Any, Any]) -> SchedulerStats:
    result: SchedulerStats = await scheduler.query("stats", result_type=SchedulerStats)
    return result


async def test_the_scheduler_wakes_only_slots_with_a_proof_due(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Issue point 1: one batched read per period serves every slot; a slot is woken only in
    a period its proof is due and proves from the scheduler's reading (no read of its own, two
    activities per due proof); an idle slot-period adds no history event at all."""
    env, fleet = time_skipping_env, FakeFleet()
    fakes: list[FakeSale] = [
        PatternSale(request=make_request(duration=12 * PERIOD, nonce=n + 1), offset=n)
        for n in range(3)
    ]
    async with fleet_workers(env.client, fleet):
        scheduler, handles = await start_fleet(env, fleet, fakes)
        outcomes = [await handle.result() for handle in handles]
        assert scheduler is not None
        await stop(scheduler)
    read_periods = periods_of(fleet.reads)
    assert read_periods == list(range(read_periods[0], read_periods[0] + len(read_periods))), (
        "exactly one read per period, none missed"
    )
    for fake, outcome, handle in zip(fakes, outcomes, handles, strict=True):
        assert outcome.state == StateName.FINISHED
        assert fake.names().count(Activity.MARKET_PROVING_STATUS) == 1, "only the first read"
        start, end = fake.created_at, fake.request_end
        proven = periods_of(fake.called_at(Activity.MARKET_SUBMIT_PROOF))
        first = PERIODS.period_of(start) + 1  # the start's own period may be too short
        last = PERIODS.period_of(end - 2)  # the last period read (one second in) before the end
        due = [p for p in range(first, last + 1) if fake.required(p)]
        assert [p for p in proven if p >= first] == due, "every due period, once"
        assert all(fake.required(p) for p in proven), "no proof where none was due"
        history = await handle.fetch_history()
        busy = {PERIODS.period_of(int(e.event_time.ToSeconds())) for e in history.events}
        idle = [p for p in range(first, last) if not fake.required(p)]
        assert idle and not busy & set(idle), "an idle period adds no history event"
        per_proof = [
            e
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and PERIODS.period_of(int(e.event_time.ToSeconds())) in due
        ]
        assert len(per_proof) == 2 * len(due), "a due proof costs the proof and its submission"


@pytest.mark.parametrize(
    ("slot", "request_state", "ends"),
    [
        (SlotState.Cancelled, RequestState.Cancelled, StateName.CANCELLED),
        (SlotState.Failed, RequestState.Failed, StateName.ERRORED),
    ],
)
async def test_a_state_the_chain_shows_ends_hosting_within_a_period_without_an_event(
    time_skipping_env: WorkflowEnvironment,
    slot: SlotState,
    request_state: RequestState,
    ends: StateName,
) -> None:
    """The chain stays the truth: a request cancelled or failed on chain, with no event ever
    sent, is read by the scheduler's next read and woken; the hosting workflow settles from
    the chain within a period. The other slot keeps being served."""
    env, fleet = time_skipping_env, FakeFleet()
    fakes: list[FakeSale] = [
        PatternSale(request=make_request(duration=60 * PERIOD, nonce=n + 1), due_every=2)
        for n in range(2)
    ]
    async with fleet_workers(env.client, fleet):
        scheduler, handles = await start_fleet(env, fleet, fakes)
        assert scheduler is not None

        async def read_twice() -> bool:
            return len(fleet.reads) >= 2

        await eventually(read_twice, env=env)
        moved = fakes[0]
        moved.slot_state, moved.request_state = slot, request_state
        changed_at = await now_of(env)
        outcome = await handles[0].result()
        assert outcome.state == ends
        settled = moved.called_at(Activity.MARKET_SLOT_STATUS)[-1]  # the settlement's read
        assert settled - changed_at <= PERIOD + 1, "settled within a period of the change"
        assert (await stats(scheduler)).change_wakes == 1
        assert (await stats(scheduler)).slots == 1, "the settled slot is no longer read"
        for handle in (handles[1], scheduler):
            await stop(handle)


async def test_a_terminated_scheduler_costs_the_silence_then_the_slot_reads_the_chain_itself(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Issue point 2 (the fallback): the scheduler is terminated mid-run. A hosting workflow
    that hears nothing for `scheduler_silence_periods` periods reads the chain itself, finds no
    scheduler to register with, and proves every due period from then on by itself. The due
    periods of the silence itself are lost: nothing tells a slot that its scheduler is gone."""
    env, fleet = time_skipping_env, FakeFleet()
    fake = PatternSale(request=make_request(duration=30 * PERIOD), due_every=1)
    async with fleet_workers(env.client, fleet):
        scheduler, [handle] = await start_fleet(env, fleet, [fake])
        assert scheduler is not None

        async def proven_twice() -> bool:
            return len(fake.called_at(Activity.MARKET_SUBMIT_PROOF)) >= 3

        await eventually(proven_twice, env=env)
        await scheduler.terminate("the scheduler dies")
        killed = PERIODS.period_of(await now_of(env))
        outcome = await handle.result()
    assert outcome.state == StateName.FINISHED
    proven = set(periods_of(fake.called_at(Activity.MARKET_SUBMIT_PROOF)))
    resumed = killed + SCHEDULED.scheduler_silence_periods + 2
    last = PERIODS.period_of(fake.request_end - 1)
    assert set(range(resumed, last)) <= proven, "every period after the fallback is proven"
    assert fake.names().count(Activity.MARKET_PROVING_STATUS) >= last - resumed, (
        "without a scheduler the slot reads the chain each period"
    )


async def test_a_read_failing_for_a_whole_period_still_reads_the_next_one(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Issue point 2: the batched read fails until its period's end (an RPC outage); the
    scheduler gives that period up and reads the next one at its start, waking the slot in
    time, so only the outage's period goes unproven and no slot had to fall back."""
    env, fleet = time_skipping_env, FakeFleet()
    fake = PatternSale(request=make_request(duration=20 * PERIOD), due_every=1)
    async with fleet_workers(env.client, fleet):
        scheduler, [handle] = await start_fleet(env, fleet, [fake])
        assert scheduler is not None

        async def read_thrice() -> bool:
            return len(fleet.reads) >= 3

        await eventually(read_thrice, env=env)
        fleet.outage = 100  # every attempt fails ...
        outage_from = PERIODS.period_of(await now_of(env))

        async def failing() -> bool:
            return fleet.outage <= 100 - 4  # ... long enough for the period's deadline

        await eventually(failing, env=env)
        fleet.outage = 0
        outcome = await handle.result()
        await stop(scheduler)
    assert outcome.state == StateName.FINISHED
    read_periods = periods_of(fleet.reads)
    assert len(read_periods) == len(set(read_periods)), "never two reads in one period"
    after = [p for p in read_periods if p > outage_from]
    assert after and after == list(range(after[0], after[0] + len(after))), (
        "after the outage, one read per period again"
    )
    proven = set(periods_of(fake.called_at(Activity.MARKET_SUBMIT_PROOF)))
    last = PERIODS.period_of(fake.request_end - 2)
    assert set(range(after[0], last + 1)) <= proven, "every period read is proven"
    assert fake.names().count(Activity.MARKET_PROVING_STATUS) == 1, "no slot fell back"


async def test_the_scheduler_drops_a_slot_whose_sale_is_gone(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A slot registered with no hosting workflow behind it (the sale ended, was terminated):
    its wake is not delivered, the scheduler stops reading it and keeps serving the others."""
    env, fleet = time_skipping_env, FakeFleet()
    fakes: list[FakeSale] = [
        PatternSale(request=make_request(duration=20 * PERIOD, nonce=n + 1), due_every=1)
        for n in range(2)
    ]
    async with fleet_workers(env.client, fleet):
        scheduler, [handle] = await start_fleet(env, fleet, fakes[:1])
        assert scheduler is not None
        orphan = proving_fake(fakes[1], await now_of(env))
        fleet.add(orphan)
        await scheduler.signal("watch_slot", SlotRef(request_id=orphan.request.id, slot_index=0))

        async def orphan_dropped() -> bool:
            s = await stats(scheduler)
            return s.slots == 1 and s.reads >= 2

        await eventually(orphan_dropped, env=env)
        reads = (await stats(scheduler)).reads

        async def still_reading() -> bool:
            return (await stats(scheduler)).reads >= reads + 2

        await eventually(still_reading, env=env)
        assert await scheduler.query("slots") == [slot_id(fakes[0].request.id, 0)]
        for h in (handle, scheduler):
            await stop(h)


async def test_an_unexpected_registration_failure_fails_the_task_not_passes_for_polling(
    time_skipping_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only Temporal's "not delivered" verdicts mean "no scheduler running". Here no cause is
    taken for one, so the failed registration is a failure the workflow does not expect: its
    task fails (visible, retried until fixed) and the slot does not quietly poll the chain."""
    monkeypatch.setattr(scheduling, "UNDELIVERED_SIGNAL_CAUSES", frozenset())
    env, fleet = time_skipping_env, FakeFleet()
    fake = PatternSale(request=make_request(duration=20 * PERIOD))
    async with fleet_workers(env.client, fleet):
        _, [handle] = await start_fleet(env, fleet, [fake], scheduler=False)

        async def task_failed() -> str:
            history = await handle.fetch_history()
            return next(
                (
                    e.workflow_task_failed_event_attributes.failure.message
                    for e in history.events
                    if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
                ),
                "",
            )

        message = await eventually(task_failed)
        await stop(handle)
    assert "registration with the scheduler" in message
    assert Activity.MARKET_PROVING_STATUS not in fake.names(), "no polling on a bug"


async def test_the_hosts_worker_dying_mid_run_loses_no_proof(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The host's worker process dies mid-run (every worker shut down, their caches gone) and
    comes back: the scheduler resumes from its history with every registration, and no due
    period is missed, with no slot falling back to reading the chain itself."""
    env, fleet = time_skipping_env, FakeFleet()
    fakes: list[FakeSale] = [
        PatternSale(request=make_request(duration=16 * PERIOD, nonce=n + 1), offset=n)
        for n in range(3)
    ]
    # No sticky caches: with them, the stopped worker's tasks never reached the new one on the
    # time-skipping server (the test hung). So every task replays the history, as after a crash.
    async with fleet_workers(env.client, fleet, max_cached_workflows=0):
        scheduler, handles = await start_fleet(env, fleet, fakes)
        assert scheduler is not None

        async def read_thrice() -> bool:
            return len(fleet.reads) >= 3

        await eventually(read_thrice, env=env)
    async with fleet_workers(env.client, fleet, max_cached_workflows=0):  # a new process
        outcomes = [await handle.result() for handle in handles]
        await stop(scheduler)
    read_periods = periods_of(fleet.reads)
    assert read_periods == list(range(read_periods[0], read_periods[0] + len(read_periods)))
    for fake, outcome in zip(fakes, outcomes, strict=True):
        assert outcome.state == StateName.FINISHED
        proven = periods_of(fake.called_at(Activity.MARKET_SUBMIT_PROOF))
        first, last = (
            PERIODS.period_of(fake.created_at) + 1,
            PERIODS.period_of(fake.request_end - 2),
        )
        assert [p for p in proven if p >= first] == [
            p for p in range(first, last + 1) if fake.required(p)
        ], "every due period proven once, across the restart"
        assert fake.names().count(Activity.MARKET_PROVING_STATUS) == 1, "no slot fell back"


def test_the_keeper_checks_just_after_each_periods_read() -> None:
    """The keeper's clock: `KEEP_INTO_PERIOD` seconds into the next period (this one's, when
    that point is still ahead), every period; until the period is known, a fixed pause."""
    assert next_check_in(100.0, 10) == KEEP_INTO_PERIOD
    assert next_check_in(101.5, 10) == KEEP_INTO_PERIOD - 1.5
    assert next_check_in(100.0 + KEEP_INTO_PERIOD, 10) == 10
    assert next_check_in(109.0, 10) == 1 + KEEP_INTO_PERIOD
    assert next_check_in(100.0, 2) == 1, "a short period: halfway in"
    assert next_check_in(100.0, None) > 0


async def test_a_terminated_scheduler_is_back_within_a_period_and_rebuilt_from_the_chain(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The scheduler is terminated mid-run (an operator, a reset, a bug) while the host's worker
    keeps it (`keep_scheduler`, on the test server's clock). A new run starts within a period,
    reads the host's slots from the chain (no hosting workflow registers again: none of them
    heard of the termination), wakes every due slot, and drops a slot held on chain whose
    sale is not running. Each slot loses at most `LOST_AT_MOST` due period and none falls back
    to reading the chain itself."""
    env, fleet = time_skipping_env, FakeFleet()
    fakes: list[FakeSale] = [
        PatternSale(request=make_request(duration=24 * PERIOD, nonce=n + 1), due_every=1)
        for n in range(3)
    ]

    kill = asyncio.Event()
    killed: list[tuple[int, str]] = []
    """When, and which run, the keeper's first check after `kill` terminated."""

    async def period_seconds() -> int:
        return PERIOD

    async def virtual_now() -> float:
        return (await env.get_current_time()).timestamp()

    async def keeper_sleep(seconds: float) -> None:
        """The keeper's pause, on the test server's clock. After `kill`, the scheduler is
        terminated here, just after a keeper's check: a whole period passes until the next.
        (Here the scheduler waits on its timer; a workflow terminated with an activity in
        flight can leave the test server's clock locked, running in real time after.)"""
        if kill.is_set() and not killed:
            handle = env.client.get_workflow_handle(scheduler_workflow_id(HOST))
            run_id = (await handle.describe()).run_id
            await handle.terminate("an operator ends the scheduler")
            killed.append((await now_of(env), run_id or ""))
        await env.sleep(seconds)

    # The keeper's sleeps are the only thing moving the test server's clock (the test polls in
    # real time): time passes period by period as on a host, and the server never skips past
    # a keeper's check (two callers skipping time at once make the test server time out).
    with env.auto_time_skipping_disabled():
        async with fleet_workers(env.client, fleet):
            scheduler, handles = await start_fleet(env, fleet, fakes)
            assert scheduler is not None
            orphan = PatternSale(request=make_request(duration=24 * PERIOD, nonce=9), due_every=1)
            fleet.add(proving_fake(orphan, await now_of(env)))  # held on chain, no sale running
            keeper = asyncio.create_task(
                keep_scheduler(
                    env.client, HOST, period_seconds, now=virtual_now, sleep=keeper_sleep
                )
            )
            try:

                async def proven_thrice() -> bool:
                    return all(len(f.called_at(Activity.MARKET_SUBMIT_PROOF)) >= 3 for f in fakes)

                await eventually(proven_thrice, deadline=120)
                kill.set()

                async def restarted() -> bool:
                    described = await scheduler.describe()
                    return (
                        bool(killed)
                        and described.run_id != killed[0][1]
                        and described.status == WorkflowExecutionStatus.RUNNING
                        and (await stats(scheduler)).reads >= 2
                    )

                await eventually(restarted, deadline=120)
                assert (await stats(scheduler)).slots == len(fakes), "rebuilt; the orphan dropped"
                outcomes = [
                    await asyncio.wait_for(handle.result(), timeout=300) for handle in handles
                ]
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
                await stop(scheduler)
    killed_at = killed[0][0]
    assert len(fleet.held_reads) >= 2, "the new run read the host's slots from the chain"
    back_at = fleet.held_reads[-1]
    assert back_at - killed_at <= PERIOD + KEEP_INTO_PERIOD + 1, "back within about a period"
    lost: list[int] = []
    for fake, outcome in zip(fakes, outcomes, strict=True):
        assert outcome.state == StateName.FINISHED
        proven = set(periods_of(fake.called_at(Activity.MARKET_SUBMIT_PROOF)))
        first = PERIODS.period_of(fake.created_at) + 1
        last = PERIODS.period_of(fake.request_end - 2)
        missing = [p for p in range(first, last + 1) if p not in proven]
        assert len(missing) <= LOST_AT_MOST, f"due periods lost to the termination: {missing}"
        lost += missing
        assert fake.names().count(Activity.MARKET_PROVING_STATUS) == 1, "no slot fell back"
    print(f"killed in period {PERIODS.period_of(killed_at)}, periods lost: {lost}")
