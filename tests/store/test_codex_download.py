"""onStore in Codex's layout: the slot root streams with the download (issue 16, point 2).

Against the real data server on loopback, serving a dataset committed in Codex's layout
(2 KiB cells, 64 KiB blocks, Poseidon2): the host computes the slot root while the bytes arrive,
checks it opens to the request's dataset root before the slot is marked complete, and keeps the
block hashes beside the data for proving.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from proofs.poseidon2 import layout
from proofs.poseidon2.circuit_input import CODEX_PARAMS, check_input
from proofs.poseidon2.layout import LayoutError
from store import client
from store.blockstore import BlockStore
from store.cid import cid_bytes
from store.codex_input import stored_circuit_input
from store.download import DownloadConfig, SlotDownloader, SlotRequest
from store.errors import ContentMismatchError
from store.server import DataServer
from tests.store.fakes import FakeReleaser, Faults

BLOCK = layout.BLOCK_BYTES


class NoSleep:
    async def __call__(self, delay: float) -> None:
        return None


@pytest.fixture
def dataset() -> bytes:
    # 3 slots of 3 blocks each (the tree pads each to 4); the last slot is partly zero padding
    return random.Random(16).randbytes(8 * BLOCK + 5000)


@pytest.fixture
def store(tmp_path: Path) -> BlockStore:
    return BlockStore(tmp_path / "host", quota_bytes=1 << 22)


async def upload(server: DataServer, data: bytes) -> client.Uploaded:
    return await client.upload(server.base_url, data, 3, layout="codex")


def request(up: client.Uploaded, index: int) -> SlotRequest:
    return SlotRequest(
        slot_key=f"slot{index}",
        reservation_id="res-1",
        cid=cid_bytes(up.cid),
        merkle_root=up.merkle_root,
        slots=up.slots,
        slot_size=up.slot_size,
        slot_index=index,
        expiry=1_900_000_000,
    )


def make(server: DataServer, store: BlockStore, releaser: FakeReleaser, batch: int):
    config = DownloadConfig(base_url=server.base_url, batch_size=batch, backoff_initial=0.01)
    return SlotDownloader(store, releaser, config, sleep=NoSleep())


def expected_slot(data: bytes, up: client.Uploaded, index: int) -> bytes:
    return data[index * up.slot_size : (index + 1) * up.slot_size].ljust(up.slot_size, b"\0")


async def test_codex_upload_commits_slots_in_whole_blocks(
    data_server: DataServer, dataset: bytes
) -> None:
    """The server's Codex-layout manifest: slot size in whole blocks, roots from layout.py."""
    up = await upload(data_server, dataset)
    assert up.slot_size == 3 * BLOCK
    roots = [layout.slot_root(expected_slot(dataset, up, i)) for i in range(3)]
    assert int.from_bytes(up.merkle_root, "little") == layout.dataset_root(roots)


@pytest.mark.parametrize("slot_index", [0, 2])
async def test_streamed_slot_root_is_checked_and_block_hashes_stored(
    data_server: DataServer,
    store: BlockStore,
    releaser: FakeReleaser,
    dataset: bytes,
    slot_index: int,
) -> None:
    """The slot root computed while streaming opens to the dataset root; block hashes are kept."""
    up = await upload(data_server, dataset)
    stored = await make(data_server, store, releaser, BLOCK).store_slot(request(up, slot_index))
    slot = expected_slot(dataset, up, slot_index)
    meta = store.meta(f"slot{slot_index}")
    assert stored.verified and meta is not None and meta.complete and meta.layout == "codex"
    assert meta.slot_root == str(layout.slot_root(slot))
    raw = store.read_block_hashes(f"slot{slot_index}")
    assert [int.from_bytes(raw[i : i + 32], "little") for i in range(0, len(raw), 32)] == (
        layout.block_hashes(slot)
    )
    assert releaser.total("res-1") == up.slot_size


async def test_resume_mid_block_rebuilds_the_streaming_hasher(
    data_server: DataServer,
    store: BlockStore,
    releaser: FakeReleaser,
    dataset: bytes,
    faults: Faults,
) -> None:
    """A cut stream resumes from progress that is not on a block boundary (40,000-byte batches):
    the hasher restarts from the stored block hashes plus the partial block read from disk."""
    up = await upload(data_server, dataset)
    faults.cut_after = 3 * 40_000 + 100
    dl = make(data_server, store, releaser, 40_000)
    await dl.store_slot(request(up, 1))
    assert len(faults.stream_ranges()) == 2  # resumed once
    meta = store.meta("slot1")
    assert meta is not None and meta.slot_root == str(
        layout.slot_root(expected_slot(dataset, up, 1))
    )


async def test_corrupted_byte_fails_the_opening_before_the_fill(
    data_server: DataServer,
    store: BlockStore,
    releaser: FakeReleaser,
    dataset: bytes,
    faults: Faults,
) -> None:
    """One flipped byte: the streamed slot root does not open to the dataset root, the slot is
    not complete and progress starts over, so it is never filled with bad data."""
    up = await upload(data_server, dataset)
    faults.corrupt_at = up.slot_size + 70_000
    dl = make(data_server, store, releaser, BLOCK)
    with pytest.raises(ContentMismatchError, match="does not match"):
        await dl.store_slot(request(up, 1))
    meta = store.meta("slot1")
    assert meta is not None and not meta.complete and store.progress("slot1") == 0
    faults.corrupt_at = None
    await make(data_server, store, releaser, BLOCK).store_slot(request(up, 1))
    assert store.read_slot("slot1") == expected_slot(dataset, up, 1)


async def test_proof_input_from_the_store_uses_stored_block_hashes(
    data_server: DataServer, store: BlockStore, releaser: FakeReleaser, dataset: bytes
) -> None:
    """After onStore, Codex's circuit input comes from the block-hash file and the sampled
    blocks (entropy = the challenge's first 31 bytes, little-endian); it passes the Python
    re-check of what the circuit checks, and a tampered hash file is refused."""
    up = await upload(data_server, dataset)
    await make(data_server, store, releaser, BLOCK).store_slot(request(up, 2))
    challenge = bytes(range(32))
    inp = stored_circuit_input(store, "slot2", challenge, CODEX_PARAMS)
    assert inp["entropy"] == str(int.from_bytes(challenge[:31], "little"))
    assert inp["slotIndex"] == "2" and inp["nCellsPerSlot"] == str(4 * 32)
    check_input(CODEX_PARAMS, inp)
    store.write_block_hashes("slot2", 1, bytes(32))
    with pytest.raises(LayoutError, match="verified slot root"):
        stored_circuit_input(store, "slot2", challenge, CODEX_PARAMS)
