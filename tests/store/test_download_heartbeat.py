"""A download heartbeats on a clock (issue 13, point 7): a source that holds one batch for
longer than the activity's heartbeat timeout does not look like a dead worker.

The activity runs on the real Temporal dev server with a 2 s heartbeat timeout and a single
attempt; the data server stalls 5 s mid-batch. Per-batch heartbeats alone would time the
attempt out; the clock's (every 0.5 s here) keep it alive, and the first attempt completes.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from activities.store import StoreActivities
from sales.api import Activity, OnStoreInput, OnStoreResult
from store.blockstore import BlockStore
from store.download import DownloadConfig
from store.server import DataServer
from tests.store.fakes import FakeReleaser, Faults
from tests.store.test_download import upload
from tests.store.test_store_activities import make_request, store_input

BATCH = 4096


@workflow.defn(sandboxed=False)
class StoreOnce:
    """Runs onStore once: a heartbeat timeout would fail the only attempt."""

    @workflow.run
    async def run(self, inp: OnStoreInput) -> OnStoreResult:
        result: OnStoreResult = await workflow.execute_activity(
            Activity.STORE_ON_STORE,
            inp,
            result_type=OnStoreResult,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return result


async def test_a_slow_source_outlasting_the_heartbeat_timeout_does_not_fail_the_download(
    temporal_client: Client,
    task_queue: str,
    data_server: DataServer,
    faults: Faults,
    releaser: FakeReleaser,
    tmp_path: Path,
) -> None:
    """Point 7: the source stalls 5 s inside the second batch (heartbeat timeout 2 s); clock
    heartbeats every 0.5 s keep the single attempt alive and every byte arrives."""
    data = os.urandom(3 * BATCH)
    cid, root, slot_size = await upload(data_server, data, 1)
    request = make_request(cid, root, 1, slot_size)
    store = BlockStore(tmp_path / "host", quota_bytes=1 << 20)
    config = DownloadConfig(base_url=data_server.base_url, batch_size=BATCH, heartbeat_every=0.5)
    acts = StoreActivities(store, releaser, config)
    faults.stall_after, faults.stall_seconds = BATCH + 100, 5.0
    worker = Worker(
        temporal_client, task_queue=task_queue, workflows=[StoreOnce], activities=[acts.on_store]
    )
    async with worker:
        result: Any = await temporal_client.execute_workflow(
            StoreOnce.run,
            store_input(request, 0),
            id=f"store-once-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )
    assert result.bytes_written == slot_size
    assert faults.stall_after is None  # the stall happened
    assert len(faults.stream_ranges()) == 1  # in one stream, in the one attempt
