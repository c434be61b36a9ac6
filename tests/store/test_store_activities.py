"""The store activities under Temporal's ActivityEnvironment: heartbeats, resume, idempotency
(ST-DL-5, RES-19, SALES-6 onClear)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.store import StoreActivities, slot_key
from sales.api import ErrorType, OnClearInput, OnExpiryUpdateInput, OnStoreInput
from sales.ids import slot_id
from sales.models import StorageAsk, StorageContent, StorageRequest
from store.blockstore import BlockStore
from store.cid import cid_bytes
from store.download import DownloadConfig
from store.server import DataServer
from tests.store.fakes import FakeReleaser, Faults
from tests.store.test_download import upload

BATCH = 4096
RESERVATION = "0x" + "11" * 32


def make_request(cid: str, root: bytes, slots: int, slot_size: int) -> StorageRequest:
    return StorageRequest(
        client="0x" + "22" * 20,
        ask=StorageAsk(
            proof_probability=1,
            price_per_byte_per_second=1,
            collateral_per_byte=1,
            slots=slots,
            slot_size=slot_size,
            duration=1000,
            max_slot_loss=0,
        ),
        content=StorageContent(cid=cid_bytes(cid), merkle_root=root),
        expiry=600,
        nonce="0x" + "33" * 32,
    )


def env_recording(beats: list[Any], attempt: int = 1, details: list[Any] | None = None) -> Any:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, attempt=attempt, heartbeat_details=details or [], heartbeat_timeout=None
    )
    env.on_heartbeat = lambda *d: beats.append(d[0])
    return env


@pytest.fixture
async def uploaded(data_server: DataServer) -> tuple[StorageRequest, bytes]:
    data = os.urandom(70_000)
    cid, root, slot_size = await upload(data_server, data, 2)
    return make_request(cid, root, 2, slot_size), data


def store_input(request: StorageRequest, index: int, repairing: bool = False) -> OnStoreInput:
    return OnStoreInput(
        request=request,
        slot_index=index,
        expiry=1_900_000_000,
        reservation_id=RESERVATION,
        availability_id="0x" + "44" * 32,
        is_repairing=repairing,
    )


def activities(
    server: DataServer, tmp_path: Path, releaser: FakeReleaser, **kw: Any
) -> StoreActivities:
    store = BlockStore(tmp_path / "host", quota_bytes=kw.pop("quota", 1 << 20))
    config = DownloadConfig(base_url=server.base_url, batch_size=BATCH, **kw)
    return StoreActivities(store, releaser, config)


async def test_retried_activity_resumes_from_its_heartbeat(
    data_server: DataServer,
    tmp_path: Path,
    releaser: FakeReleaser,
    faults: Faults,
    uploaded: tuple[StorageRequest, bytes],
) -> None:
    request, data = uploaded
    slot_size = request.ask.slot_size
    acts = activities(data_server, tmp_path, releaser, max_attempts=1)
    faults.cut_after = 3 * BATCH + 5
    beats: list[Any] = []
    with pytest.raises(ApplicationError) as failed:
        await env_recording(beats).run(acts.on_store, store_input(request, 1, repairing=True))
    assert failed.value.type == "SourceUnavailable" and not failed.value.non_retryable
    assert beats[-1] == {"offset": 3 * BATCH, "batch_seq": 3}

    beats2: list[Any] = []
    env2 = env_recording(beats2, attempt=2, details=[beats[-1]])
    result = await env2.run(acts.on_store, store_input(request, 1, repairing=True))

    assert result.bytes_written == slot_size
    assert faults.stream_ranges()[-1] == f"bytes={slot_size + 3 * BATCH}-{len(data) - 1}"
    assert beats2[0] == {"offset": 4 * BATCH, "batch_seq": 4}  # no batch downloaded twice
    assert releaser.total(RESERVATION) == slot_size
    assert releaser.calls == result.batches
    key = slot_key(slot_id(request.id, 1))
    meta = acts.store.meta(key)
    assert meta is not None and meta.complete and meta.is_repairing
    padded = data[slot_size:].ljust(slot_size, b"\0")
    assert acts.store.read_slot(key) == padded


async def test_business_errors_are_non_retryable(
    data_server: DataServer,
    tmp_path: Path,
    releaser: FakeReleaser,
    faults: Faults,
    uploaded: tuple[StorageRequest, bytes],
) -> None:
    request, _ = uploaded
    small = activities(data_server, tmp_path, releaser, quota=request.ask.slot_size - 1)
    with pytest.raises(ApplicationError) as quota:
        await ActivityEnvironment().run(small.on_store, store_input(request, 0))
    assert (quota.value.type, quota.value.non_retryable) == (ErrorType.QUOTA_NOT_ENOUGH, True)

    faults.corrupt_at = 17
    acts = activities(data_server, tmp_path / "other", releaser)
    with pytest.raises(ApplicationError) as corrupt:
        await ActivityEnvironment().run(acts.on_store, store_input(request, 0))
    assert (corrupt.value.type, corrupt.value.non_retryable) == (ErrorType.DATA_INVALID, True)


async def test_expiry_update_and_clear_are_idempotent(
    data_server: DataServer,
    tmp_path: Path,
    releaser: FakeReleaser,
    uploaded: tuple[StorageRequest, bytes],
) -> None:
    request, _ = uploaded
    acts = activities(data_server, tmp_path, releaser)
    env = ActivityEnvironment()
    for index in (0, 1):
        await env.run(acts.on_store, store_input(request, index))
    update = OnExpiryUpdateInput(cid=request.content.cid, expiry=2_000_000_000)
    for _ in range(2):
        await env.run(acts.on_expiry_update, update)
    keys = [slot_key(slot_id(request.id, i)) for i in (0, 1)]
    for key in keys:
        meta = acts.store.meta(key)
        assert meta is not None and meta.expiry == 2_000_000_000

    clear = OnClearInput(request=request, slot_index=0)
    for _ in range(2):
        await env.run(acts.on_clear, clear)
    assert acts.store.meta(keys[0]) is None
    assert not acts.store.data_path(keys[0]).exists()
    assert acts.store.meta(keys[1]) is not None  # the other slot is untouched
    assert acts.store.used_bytes() == request.ask.slot_size


async def test_concurrent_attempts_of_one_slot_download_once(
    data_server: DataServer,
    tmp_path: Path,
    releaser: FakeReleaser,
    faults: Faults,
    uploaded: tuple[StorageRequest, bytes],
) -> None:
    request, _ = uploaded
    acts = activities(data_server, tmp_path, releaser)
    results = await asyncio.gather(
        *(ActivityEnvironment().run(acts.on_store, store_input(request, 0)) for _ in range(2))
    )
    assert results[0] == results[1]
    assert len(faults.stream_ranges()) == 1
    assert releaser.calls == results[0].batches
