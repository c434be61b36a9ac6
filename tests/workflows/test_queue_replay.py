"""Replay of recorded slot-queue histories (ARCHITECTURE §3 versioning, TEMPORAL_PRACTICES §3).

`tests/histories/queue_*.json` were recorded from the scenarios below on the real dev server.
`queue_push_request_per_item` is a queue that expanded a StorageRequested into one item per
slot, recorded before bounded intake existed: it must keep replaying, which proves the new intake
sits behind `workflow.patched`. `queue_push_request_bounded` is the same scenario on the bounded
intake. Re-record deliberately with:  SALE_RECORD_HISTORIES=1 .venv/bin/python -m pytest \
tests/workflows/test_queue_replay.py
"""

import asyncio
import os
import time
import uuid
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

with workflow.unsafe.imports_passed_through():
    from activities.service import closed_sales
    from sales.queue_api import PushItems, PushRequest, QueueInput, QueueSettings, QueueSignal
    from tests.sales.conftest import example_request
    from tests.workflows.fake_sale import FakeEnd, FakeSale
    from tests.workflows.test_queue import FAR_FUTURE, item
    from workflows.queue import SlotQueueWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"
RECORD = os.environ.get("SALE_RECORD_HISTORIES") == "1"
CURRENT = "queue_push_request_bounded"
"""The history today's code records; the per-item one was recorded before bounded intake."""


def replayer() -> Replayer:
    return Replayer(workflows=[SlotQueueWorkflow], data_converter=pydantic_data_converter)


async def _poll_running(client: Client, queue_id: str, count: int, not_: str = "") -> list[str]:
    """Workflow ids of the queue's running sales once there are ``count`` and ``not_`` is not
    among them (polled, no sleeps standing in for the condition)."""
    handle = client.get_workflow_handle(queue_id)
    deadline = time.monotonic() + 15
    while True:
        status = await handle.query(SlotQueueWorkflow.status)
        running = [r.workflow_id for r in status.running]
        if len(running) == count and not_ not in running:
            return running
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} sales not running; last status {status}")
        await asyncio.sleep(0.05)


async def test_push_request_history_replays(temporal_client: Client, task_queue: str) -> None:
    """A queue run with a StorageRequested push, a freed-slot push, one released sale and a
    stop replays deterministically on today's code (and is recorded when asked)."""
    request = example_request(nonce=uuid.uuid4().int, slots=6)
    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[SlotQueueWorkflow, FakeSale],
        activities=[closed_sales],
    ):
        queue = await temporal_client.start_workflow(
            SlotQueueWorkflow.run,
            QueueInput(settings=QueueSettings(max_workers=1, max_size=4)),
            id=f"queue-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        push = PushRequest(
            key="0xfeed:1",
            request_id=request.id,
            ask=request.ask,
            expires_at=FAR_FUTURE,
            collateral=request.ask.collateral_per_slot,
        )
        await queue.execute_update(SlotQueueWorkflow.push_request, push)
        other = "0x" + uuid.uuid4().hex * 2
        await queue.execute_update(
            SlotQueueWorkflow.push_items,
            PushItems(key="0xfeed:2", items=[item(0, request_id=other)]),
        )
        (sale,) = await _poll_running(temporal_client, queue.id, 1)
        await temporal_client.get_workflow_handle(sale).signal(FakeSale.end, FakeEnd())
        await _poll_running(temporal_client, queue.id, 1, not_=sale)  # the next took the worker
        await queue.signal(QueueSignal.STOP)
        await queue.result()
        history = await queue.fetch_history()
    for running in await _running_sales(temporal_client, queue.id):
        await temporal_client.get_workflow_handle(running).terminate("test over")
    await replayer().replay_workflow(history)
    if RECORD:
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{CURRENT}.json").write_text(history.to_json())


async def _running_sales(client: Client, queue_id: str) -> list[str]:
    history = await client.get_workflow_handle(queue_id).fetch_history()
    started = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    alive = []
    for workflow_id in started:
        description = await client.get_workflow_handle(workflow_id).describe()
        if description.status is not None and description.status.name == "RUNNING":
            alive.append(workflow_id)
    return alive


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("queue_*.json")), ids=lambda p: p.stem)
async def test_recorded_queue_history_replays(path: Path) -> None:
    """Every recorded queue history, the pre-bounded-intake one included, replays unchanged."""
    text = path.read_text()  # noqa: ASYNC240 - a small file, read once
    await replayer().replay_workflow(WorkflowHistory.from_json(path.stem, text))


def test_queue_histories_are_recorded() -> None:
    """Both intake paths have a recorded history: the per-item one and the bounded one."""
    names = {p.stem for p in HISTORIES.glob("queue_*.json")}
    assert {"queue_push_request_per_item", CURRENT} <= names
