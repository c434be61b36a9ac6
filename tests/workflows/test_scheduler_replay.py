"""Replay of recorded histories of scheduled proving (TEMPORAL_PRACTICES §3): a hosting run on
the `proving-scheduler` patch path and the scheduler's own run. A change to either workflow
that would break a running one fails here. Re-record deliberately with:
SALE_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/workflows/test_scheduler_replay.py
"""

import os
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.workflows.fake_fleet import FakeFleet, fleet_workers, proving_fake
from tests.workflows.fakes import PERIOD, make_request
from tests.workflows.test_scheduler import PatternSale, start_fleet, stop
from workflows import ALL_WORKFLOWS

HISTORIES = Path(__file__).parent.parent / "histories"
RECORD = os.environ.get("SALE_RECORD_HISTORIES") == "1"
NAMES = ("scheduled_hosting_finished", "scheduled_scheduler_run")
REBUILT = "scheduled_scheduler_rebuilt"
"""A fresh run on the `scheduler-rebuilds-from-chain` path: its first act reads mySlots."""


def replayer() -> Replayer:
    return Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)


async def test_fresh_scheduled_histories_replay(time_skipping_env: WorkflowEnvironment) -> None:
    """A slot proven by the scheduler until its request ends, and the scheduler that served
    it: both replay deterministically (and are recorded when asked)."""
    env, fleet = time_skipping_env, FakeFleet()
    fake = PatternSale(request=make_request(duration=8 * PERIOD), due_every=2)
    async with fleet_workers(env.client, fleet):
        scheduler, [handle] = await start_fleet(env, fleet, [fake])
        await handle.result()
        assert scheduler is not None
        scheduler_history = await scheduler.fetch_history()
        await stop(scheduler)
    hosting_history = await handle.fetch_history()
    for name, history in zip(NAMES, (hosting_history, scheduler_history), strict=True):
        await replayer().replay_workflow(history)
        if RECORD:
            (HISTORIES / f"{name}.json").write_text(history.to_json())


async def test_a_scheduler_rebuilt_from_the_chain_replays(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A fresh scheduler (as after a termination) that finds the host's slot on chain before
    any registration, and serves it until the request ends: it replays (recorded when asked)."""
    env, fleet = time_skipping_env, FakeFleet()
    fake = PatternSale(request=make_request(duration=8 * PERIOD), due_every=2)
    fleet.add(proving_fake(fake, int((await env.get_current_time()).timestamp())))
    async with fleet_workers(env.client, fleet):
        scheduler, [handle] = await start_fleet(env, fleet, [fake])
        await handle.result()
        assert scheduler is not None
        history = await scheduler.fetch_history()
        await stop(scheduler)
    assert fleet.held_reads, "the run read the host's slots"
    await replayer().replay_workflow(history)
    if RECORD:
        (HISTORIES / f"{REBUILT}.json").write_text(history.to_json())


@pytest.mark.parametrize("name", [*NAMES, REBUILT])
async def test_recorded_scheduled_history_replays(name: str) -> None:
    path = HISTORIES / f"{name}.json"
    await replayer().replay_workflow(WorkflowHistory.from_json(name, path.read_text()))
