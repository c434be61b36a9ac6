"""onStore's data path against the real data server on loopback (ST-DL-2, ST-DL-5, RES-19)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import aiohttp
import pytest

from proofs import commitment
from store import client
from store.blockstore import BlockStore
from store.cid import cid_bytes, cid_for
from store.download import DownloadConfig, DownloadProgress, SlotDownloader, SlotRequest
from store.errors import (
    ContentMismatchError,
    ManifestMismatchError,
    QuotaExceededError,
    SlotConflictError,
    SourceError,
    SourceUnavailableError,
)
from store.server import DataServer
from tests.store.fakes import FakeReleaser, Faults, ignore_range_middleware

BATCH = 4096


async def upload(server: DataServer, data: bytes, slots: int) -> tuple[str, bytes, int]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.base_url}/api/codex/v1/data?slots={slots}", data=data) as resp,
    ):
        assert resp.status == 200
        cid = await resp.text()
        root = bytes.fromhex(resp.headers["X-Codex-Dataset-Root"].removeprefix("0x"))
        return cid, root, int(resp.headers["X-Codex-Slot-Size"])


def slot_request(cid: str, root: bytes, slot_size: int, index: int, slots: int = 3) -> SlotRequest:
    return SlotRequest(
        slot_key=f"slot{index}",
        reservation_id="res-1",
        cid=cid_bytes(cid),  # binary CID, as nim-codex puts it in Content.cid
        merkle_root=root,
        slots=slots,
        slot_size=slot_size,
        slot_index=index,
        expiry=1_900_000_000,
    )


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def downloader(
    server: DataServer, store: BlockStore, releaser: FakeReleaser, **kw: object
) -> tuple[SlotDownloader, Sleeps]:
    sleeps = Sleeps()
    defaults: dict[str, object] = {"batch_size": BATCH, "backoff_initial": 0.01}
    config = DownloadConfig(base_url=server.base_url, **{**defaults, **kw})  # type: ignore[arg-type]
    return SlotDownloader(store, releaser, config, sleep=sleeps), sleeps


@pytest.fixture
def dataset() -> bytes:
    return os.urandom(100_000)  # 3 slots of 33,480 bytes; the last one is zero-padded


@pytest.fixture
def store(tmp_path: Path) -> BlockStore:
    return BlockStore(tmp_path / "host", quota_bytes=1 << 20)


async def test_upload_answers_cid_and_root_and_serves_ranges(
    data_server: DataServer, dataset: bytes
) -> None:
    cid, root, slot_size = await upload(data_server, dataset, 3)
    assert cid == cid_for(dataset) and cid.startswith("z")
    expected = commitment.commit_dataset(dataset, 3)
    assert (root, slot_size) == (expected.merkle_root, expected.slot_size)
    base = f"{data_server.base_url}/api/codex/v1/data/{cid}/network"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/manifest") as resp:
            manifest = await resp.json()
        assert manifest["datasetRoot"] == "0x" + root.hex()
        assert manifest["slotRoots"] == [str(r) for r in expected.slot_roots]
        async with session.get(f"{base}/stream", headers={"Range": "bytes=10-19"}) as resp:
            assert resp.status == 206
            assert await resp.read() == dataset[10:20]


async def test_full_download_releases_every_batch_once(
    data_server: DataServer,
    store: BlockStore,
    releaser: FakeReleaser,
    dataset: bytes,
    faults: Faults,
) -> None:
    cid, root, slot_size = await upload(data_server, dataset, 3)
    dl, _ = downloader(data_server, store, releaser)
    beats: list[DownloadProgress] = []
    req = slot_request(cid, root, slot_size, 2)
    stored = await dl.store_slot(req, heartbeat=beats.append)

    expected_slot = dataset[2 * slot_size :].ljust(slot_size, b"\0")
    assert store.read_slot("slot2") == expected_slot
    assert stored.verified and stored.batches == -(-slot_size // BATCH)
    # RES-19: every written byte released exactly once, per batch sequence number
    assert releaser.total("res-1") == slot_size
    assert sorted(seq for _, seq in releaser.released) == list(range(stored.batches))
    assert [b.batch_seq for b in beats] == list(range(1, stored.batches + 1))
    assert beats[-1].offset == slot_size
    # idempotent: a second onStore of a complete slot downloads and releases nothing
    calls, streams = releaser.calls, len(faults.stream_ranges())
    await dl.store_slot(req)
    assert (releaser.calls, len(faults.stream_ranges())) == (calls, streams)


async def test_resume_after_mid_stream_failure_skips_finished_batches(
    data_server: DataServer,
    store: BlockStore,
    releaser: FakeReleaser,
    dataset: bytes,
    faults: Faults,
) -> None:
    cid, root, slot_size = await upload(data_server, dataset, 3)
    faults.cut_after = 2 * BATCH + 1000  # two whole batches arrive, the third is cut
    dl, sleeps = downloader(data_server, store, releaser)
    await dl.store_slot(slot_request(cid, root, slot_size, 1))

    start = slot_size  # slot 1 begins here in the dataset
    ranges = faults.stream_ranges()
    assert ranges[0] == f"bytes={start}-{2 * slot_size - 1}"
    assert ranges[1] == f"bytes={start + 2 * BATCH}-{2 * slot_size - 1}"  # resumed, not restarted
    assert len(sleeps.delays) == 1
    assert store.read_slot("slot1") == dataset[slot_size : 2 * slot_size]
    assert releaser.total("res-1") == slot_size
    assert releaser.calls == len(releaser.released)  # no batch released twice


async def test_crash_after_release_before_progress_counts_the_batch_once(
    data_server: DataServer, store: BlockStore, dataset: bytes
) -> None:
    """The worst moment to die: bytes released, progress not yet recorded."""

    class CrashingReleaser(FakeReleaser):
        async def release(self, reservation_id: str, batch_seq: int, nbytes: int) -> None:
            await super().release(reservation_id, batch_seq, nbytes)
            if batch_seq == 3 and self.calls == 4:
                raise RuntimeError("worker died right after releasing batch 3")

    releaser = CrashingReleaser()
    cid, root, slot_size = await upload(data_server, dataset, 3)
    dl, _ = downloader(data_server, store, releaser)
    req = slot_request(cid, root, slot_size, 0)
    with pytest.raises(RuntimeError, match="batch 3"):
        await dl.store_slot(req)
    assert store.progress("slot0") == 3 * BATCH

    dl2, _ = downloader(data_server, store, releaser)  # the retried attempt
    await dl2.store_slot(req)
    assert releaser.calls == len(releaser.released) + 1  # batch 3 was sent again ...
    assert releaser.total("res-1") == slot_size  # ... and counted once
    assert store.read_slot("slot0") == dataset[:slot_size]


async def test_corrupted_byte_is_detected_and_a_retry_recovers(
    data_server: DataServer,
    store: BlockStore,
    releaser: FakeReleaser,
    dataset: bytes,
    faults: Faults,
) -> None:
    cid, root, slot_size = await upload(data_server, dataset, 3)
    faults.corrupt_at = slot_size + 12_345
    dl, _ = downloader(data_server, store, releaser)
    req = slot_request(cid, root, slot_size, 1)
    with pytest.raises(ContentMismatchError, match="does not match"):
        await dl.store_slot(req)
    assert store.progress("slot1") == 0  # the bad bytes are not trusted on a retry
    meta = store.meta("slot1")
    assert meta is not None and not meta.complete

    faults.corrupt_at = None
    await dl.store_slot(req)
    assert store.read_slot("slot1") == dataset[slot_size : 2 * slot_size]
    assert releaser.total("res-1") == slot_size  # re-downloaded batches were not counted twice


async def test_source_failing_is_retried_with_backoff(
    data_server: DataServer,
    store: BlockStore,
    releaser: FakeReleaser,
    dataset: bytes,
    faults: Faults,
) -> None:
    cid, root, slot_size = await upload(data_server, dataset, 3)
    faults.fail_next = 3
    dl, sleeps = downloader(data_server, store, releaser)
    await dl.store_slot(slot_request(cid, root, slot_size, 0))
    assert sleeps.delays == [0.01, 0.02, 0.04]  # exponential
    assert store.read_slot("slot0") == dataset[:slot_size]


async def test_source_down_gives_up_with_a_retryable_error(
    store: BlockStore, releaser: FakeReleaser, unused_tcp_port: int
) -> None:
    config = DownloadConfig(
        base_url=f"http://127.0.0.1:{unused_tcp_port}", max_attempts=4, backoff_initial=0.01
    )
    sleeps = Sleeps()
    dl = SlotDownloader(store, releaser, config, sleep=sleeps)
    req = slot_request(cid_for(b"x"), b"\0" * 32, commitment.CELL_BYTES, 0, slots=1)
    with pytest.raises(SourceUnavailableError) as info:
        await dl.store_slot(req)
    assert info.value.retryable
    assert sleeps.delays == [0.01, 0.02, 0.04]
    assert store.meta("slot0") is None and releaser.calls == 0


async def test_slot_larger_than_quota_is_refused_before_download(
    data_server: DataServer, tmp_path: Path, releaser: FakeReleaser, dataset: bytes, faults: Faults
) -> None:
    cid, root, slot_size = await upload(data_server, dataset, 3)
    small = BlockStore(tmp_path / "small", quota_bytes=slot_size + 100)
    dl, _ = downloader(data_server, small, releaser)
    await dl.store_slot(slot_request(cid, root, slot_size, 0))
    with pytest.raises(QuotaExceededError, match="does not fit"):
        await dl.store_slot(slot_request(cid, root, slot_size, 1))
    assert small.meta("slot1") is None
    assert len(faults.stream_ranges()) == 1  # only slot 0 was fetched
    assert small.used_bytes() == slot_size

    tiny = BlockStore(tmp_path / "tiny", quota_bytes=slot_size - 1)
    dl, _ = downloader(data_server, tiny, releaser)
    with pytest.raises(QuotaExceededError):
        await dl.store_slot(slot_request(cid, root, slot_size, 2))


async def test_manifest_not_matching_the_request_root_is_refused(
    data_server: DataServer,
    store: BlockStore,
    releaser: FakeReleaser,
    dataset: bytes,
    faults: Faults,
) -> None:
    cid, root, slot_size = await upload(data_server, dataset, 3)
    dl, _ = downloader(data_server, store, releaser)
    wrong_root = (int.from_bytes(root, "little") ^ 1).to_bytes(32, "little")
    with pytest.raises(ManifestMismatchError, match="request's root"):
        await dl.store_slot(slot_request(cid, wrong_root, slot_size, 0))
    with pytest.raises(ManifestMismatchError, match="slots"):
        await dl.store_slot(slot_request(cid, root, slot_size + 248, 0))
    assert faults.stream_ranges() == [] and releaser.calls == 0


async def test_a_new_reservation_for_stored_data_gets_its_bytes_released(
    data_server: DataServer,
    store: BlockStore,
    releaser: FakeReleaser,
    dataset: bytes,
    faults: Faults,
) -> None:
    """A slot sold again (e.g. after an errored sale that never cleared its data): no second
    download, but the new reservation's bytes are released in full (RES-19)."""
    cid, root, slot_size = await upload(data_server, dataset, 3)
    dl, _ = downloader(data_server, store, releaser)
    await dl.store_slot(slot_request(cid, root, slot_size, 0))
    again = dataclasses.replace(slot_request(cid, root, slot_size, 0), reservation_id="res-2")
    await dl.store_slot(again)
    await dl.store_slot(again)
    assert len(faults.stream_ranges()) == 1
    assert releaser.total("res-1") == releaser.total("res-2") == slot_size


async def test_a_stored_slot_needs_no_source_and_conflicting_data_is_refused(
    data_server: DataServer,
    store: BlockStore,
    releaser: FakeReleaser,
    dataset: bytes,
    unused_tcp_port: int,
) -> None:
    cid, root, slot_size = await upload(data_server, dataset, 3)
    dl, _ = downloader(data_server, store, releaser)
    req = slot_request(cid, root, slot_size, 0)
    await dl.store_slot(req)
    offline = SlotDownloader(
        store, releaser, DownloadConfig(base_url=f"http://127.0.0.1:{unused_tcp_port}")
    )
    stored = await offline.store_slot(req)  # a retry after success: no source needed
    assert stored.verified and stored.slot_size == slot_size
    other_root = dataclasses.replace(req, merkle_root=b"\1" * 32)
    with pytest.raises(SlotConflictError):
        await offline.store_slot(other_root)


async def test_a_source_without_range_support_still_works(
    tmp_path: Path, store: BlockStore, releaser: FakeReleaser, dataset: bytes
) -> None:
    plain = tmp_path / "plain"
    server = DataServer(plain, middlewares=[ignore_range_middleware(plain)])
    await server.start()
    try:
        cid, root, slot_size = await upload(server, dataset, 3)
        dl, _ = downloader(server, store, releaser)
        await dl.store_slot(slot_request(cid, root, slot_size, 1))
    finally:
        await server.stop()
    assert store.read_slot("slot1") == dataset[slot_size : 2 * slot_size]
    assert releaser.total("res-1") == slot_size


async def test_client_upload_gives_the_request_fields(
    data_server: DataServer, store: BlockStore, releaser: FakeReleaser, dataset: bytes
) -> None:
    uploaded = await client.upload(data_server.base_url, dataset, 3)
    expected = commitment.commit_dataset(dataset, 3)
    assert uploaded.merkle_root == expected.merkle_root
    assert uploaded.slot_size == expected.slot_size and uploaded.slots == 3
    assert uploaded.cid_bytes[:4] == bytes([1, 0x55, 0x12, 0x20])
    too_big = os.urandom(commitment.MAX_SLOT_BYTES + 1)
    with pytest.raises(SourceError, match="too large"):
        await client.upload(data_server.base_url, too_big, 1)
