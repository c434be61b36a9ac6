"""onStore's data path: stream a slot from a Codex-compatible REST source into the block store.

Batches of `batch_size` bytes are the unit of progress. For each batch, in this order:
write it, release its bytes from the reservation (RES-19, ST-DL-2) under the batch's sequence
number, record local progress, heartbeat. A crash between any two steps is safe: a retry resumes
at the recorded progress (HTTP Range) and re-releases at most the last batch under the same
sequence number, which the releaser counts once. Batch k always covers the same bytes
[k*B, min((k+1)*B, slot_size)), so its size is the same on every attempt.

Heartbeats also run on a clock (every `heartbeat_every` seconds, repeating the latest progress),
independent of batch boundaries: a slow source may take longer than the heartbeat timeout for
one batch (its socket read timeout is 60 s), and that must not look like a dead worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from pydantic import ValidationError

from proofs import commitment
from proofs.poseidon2 import layout as codex_layout
from proofs.poseidon2.streaming import StreamingSlotHasher
from sales.redact import redact_text, redact_url
from store.blockstore import BlockStore, SlotMeta
from store.cid import cid_text
from store.errors import (
    ContentMismatchError,
    ManifestMismatchError,
    SlotConflictError,
    SourceError,
    SourceUnavailableError,
    UnverifiableContentError,
)
from store.manifest import Manifest

log = logging.getLogger(__name__)


class ByteReleaser(Protocol):
    """Releases downloaded bytes from a reservation; the same batch_seq twice counts once.

    The ledger's `release` (which returns the updated reservation) satisfies it; the result is
    ignored. Its typed errors (e.g. BytesOutOfBounds) propagate unchanged to the activity layer.
    """

    async def release(self, reservation_id: str, batch_seq: int, nbytes: int) -> object: ...


@dataclass(frozen=True)
class DownloadProgress:
    offset: int  # bytes of the slot written and released
    batch_seq: int  # sequence number of the next batch


@dataclass(frozen=True)
class SlotRequest:
    """What onStore needs from the storage request and the sale."""

    slot_key: str
    reservation_id: str
    cid: bytes | str
    merkle_root: bytes
    slots: int
    slot_size: int
    slot_index: int
    expiry: int
    is_repairing: bool = False


@dataclass(frozen=True)
class StoredSlot:
    slot_key: str
    slot_size: int
    batches: int
    resumed_from: int
    verified: bool


@dataclass(frozen=True)
class DownloadConfig:
    base_url: str
    batch_size: int = 1 << 20
    max_attempts: int = 5
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    read_chunk: int = 256 * 1024
    verify: bool = True  # False only for benchmarks of the raw data path
    timeout: float = 60.0
    hash_threads: int = 1  # Codex layout: threads hashing each batch's blocks (cores to spare)
    heartbeat_every: float = 5.0
    """Seconds between clock heartbeats (well below the activity's 30 s heartbeat timeout)."""


class _Beats:
    """The heartbeat callback plus the latest progress, which clock heartbeats repeat."""

    def __init__(self, heartbeat: Callable[[DownloadProgress], None]) -> None:
        self._heartbeat = heartbeat
        self.latest = DownloadProgress(offset=0, batch_seq=0)

    def __call__(self, progress: DownloadProgress) -> None:
        self.latest = progress
        self._heartbeat(progress)

    def note(self, progress: DownloadProgress) -> None:
        """Progress found (a resume) that the next clock heartbeat reports."""
        self.latest = progress

    def again(self) -> None:
        self._heartbeat(self.latest)


class _Retry(Exception):
    """A transient failure: back off and try again from the recorded progress."""


class SlotDownloader:
    def __init__(
        self,
        store: BlockStore,
        releaser: ByteReleaser,
        config: DownloadConfig,
        session: aiohttp.ClientSession | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if config.batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self.store = store
        self.releaser = releaser
        self.config = config
        self._session = session
        self._sleep = sleep
        self._hasher: StreamingSlotHasher | None = None  # Codex layout: the streaming slot root

    def _api(self, cid: str, what: str) -> str:
        return f"{self.config.base_url.rstrip('/')}/api/codex/v1/data/{cid}/network/{what}"

    async def store_slot(
        self,
        req: SlotRequest,
        heartbeat: Callable[[DownloadProgress], None] = lambda _p: None,
    ) -> StoredSlot:
        """Download, release, verify; idempotent (a completed slot returns at once).

        ``heartbeat`` hears of every batch and, every `heartbeat_every` seconds in between, of
        the latest progress again."""
        beats = _Beats(heartbeat)

        async def clock() -> None:
            while True:
                await asyncio.sleep(self.config.heartbeat_every)
                beats.again()

        ticker = asyncio.create_task(clock())
        try:
            return await self._store_slot(req, beats)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def _store_slot(self, req: SlotRequest, heartbeat: _Beats) -> StoredSlot:
        cid = cid_text(req.cid)
        if req.is_repairing:
            log.info("storing slot %s for a repair (same download)", req.slot_key)
        done = await self._already_stored(req, cid)
        if done is not None:
            return done
        timeout = self.config.timeout
        session = self._session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        )
        try:
            manifest = await self._manifest(session, cid)
            slot_roots = self._check_manifest(manifest, req)
            meta = self.store.allocate(
                SlotMeta(
                    slot_key=req.slot_key,
                    cid=cid,
                    slot_index=req.slot_index,
                    slot_size=req.slot_size,
                    merkle_root="0x" + req.merkle_root.hex(),
                    slot_roots=None if slot_roots is None else [str(r) for r in slot_roots],
                    batch_size=self.config.batch_size,
                    expiry=req.expiry,
                    is_repairing=req.is_repairing,
                    reservation_id=req.reservation_id,
                    layout=manifest.layout,
                )
            )
            batches = -(-req.slot_size // meta.batch_size)
            if meta.reservation_id != req.reservation_id:
                meta = await self._adopt(meta, req.reservation_id)
            if manifest.layout == "codex" and slot_roots is not None:
                self._hasher = await asyncio.to_thread(self._resume_hasher, req)
            resumed_from = self.store.progress(req.slot_key)
            heartbeat.note(DownloadProgress(resumed_from, resumed_from // meta.batch_size))
            await self._download(session, manifest, req, meta.batch_size, heartbeat)
        finally:
            if self._session is None:
                await session.close()
        update: dict[str, object] = {"complete": True}
        if self._hasher is not None and slot_roots is not None:
            update["slot_root"] = str(await self._verify_streamed(req, slot_roots))
        elif slot_roots is not None:
            await self._verify(req, slot_roots)
        self.store.sync(req.slot_key)
        self.store.save_meta(meta.model_copy(update=update))
        verified = slot_roots is not None
        return StoredSlot(req.slot_key, req.slot_size, batches, resumed_from, verified)

    async def _already_stored(self, req: SlotRequest, cid: str) -> StoredSlot | None:
        """A slot stored completely before answers without asking the source (idempotency)."""
        meta = self.store.meta(req.slot_key)
        if meta is None or not meta.complete:
            return None
        if (meta.cid, meta.slot_index, meta.slot_size, meta.merkle_root) != (
            cid,
            req.slot_index,
            req.slot_size,
            "0x" + req.merkle_root.hex(),
        ):
            raise SlotConflictError(f"slot {req.slot_key} already holds other data")
        if meta.reservation_id != req.reservation_id:
            meta = await self._adopt(meta, req.reservation_id)
        batches = -(-meta.slot_size // meta.batch_size)
        return StoredSlot(req.slot_key, meta.slot_size, batches, meta.slot_size, True)

    # -- source ---------------------------------------------------------------------------------

    async def _backoff(self, attempt: int, why: str) -> None:
        if attempt >= self.config.max_attempts:
            raise SourceUnavailableError(
                f"data source {redact_url(self.config.base_url)} failing after {attempt} "
                f"attempts: {redact_text(why)}"
            )
        delay = min(self.config.backoff_max, self.config.backoff_initial * 2 ** (attempt - 1))
        log.warning("data source failing (%s); retry %d in %.2fs", redact_text(why), attempt, delay)
        await self._sleep(delay)

    async def _manifest(self, session: aiohttp.ClientSession, cid: str) -> Manifest:
        attempt = 0
        while True:
            attempt += 1
            try:
                async with session.get(self._api(cid, "manifest")) as resp:
                    if resp.status >= 500 or resp.status in (404, 429):
                        raise _Retry(f"manifest HTTP {resp.status}")
                    if resp.status != 200:
                        raise SourceError(f"manifest HTTP {resp.status}: {await resp.text()}")
                    try:
                        return Manifest.model_validate(await resp.json())
                    except ValidationError as e:
                        raise SourceError(f"unusable manifest for {cid}: {e}") from e
            except (_Retry, aiohttp.ClientError, TimeoutError) as e:
                await self._backoff(attempt, str(e) or type(e).__name__)

    def _check_manifest(self, manifest: Manifest, req: SlotRequest) -> list[int] | None:
        if manifest.cid != cid_text(req.cid):
            raise ManifestMismatchError(f"asked for {cid_text(req.cid)}, got {manifest.cid}")
        if manifest.slots != req.slots or manifest.slot_size != req.slot_size:
            raise ManifestMismatchError(
                f"source has {manifest.slots} slots of {manifest.slot_size} bytes, request says "
                f"{req.slots} of {req.slot_size}"
            )
        if not 0 <= req.slot_index < req.slots:
            raise ManifestMismatchError(f"slot index {req.slot_index} outside 0..{req.slots - 1}")
        if not self.config.verify:
            return None
        slot_roots = manifest.slot_root_ints()
        if slot_roots is None or manifest.dataset_root is None:
            raise UnverifiableContentError(
                f"source has no commitment for {manifest.cid} (too large for the dev commitment?)"
            )
        expected = int.from_bytes(req.merkle_root, "little")
        root_of = (
            codex_layout.dataset_root if manifest.layout == "codex" else commitment.dataset_root
        )
        if root_of(slot_roots) != expected:
            raise ManifestMismatchError("the source's slot roots do not hash to the request's root")
        return slot_roots

    # -- data -----------------------------------------------------------------------------------

    async def _download(
        self,
        session: aiohttp.ClientSession,
        manifest: Manifest,
        req: SlotRequest,
        batch_size: int,
        heartbeat: Callable[[DownloadProgress], None],
    ) -> None:
        slot_start = req.slot_index * req.slot_size
        # bytes of this slot that exist in the source; the rest is zero padding
        available = max(0, min(req.slot_size, manifest.dataset_size - slot_start))
        failures = 0
        while (offset := self.store.progress(req.slot_key)) < req.slot_size:
            if offset >= available:
                await self._commit_batch(req, offset, b"", batch_size, heartbeat)
                continue
            try:
                await self._stream_from(
                    session, cid_text(req.cid), req, offset, available, batch_size, heartbeat
                )
                failures = 0
            except (_Retry, aiohttp.ClientError, TimeoutError, ConnectionError) as e:
                made_progress = self.store.progress(req.slot_key) > offset
                failures = 1 if made_progress else failures + 1
                await self._backoff(failures, str(e) or type(e).__name__)

    async def _stream_from(
        self,
        session: aiohttp.ClientSession,
        cid: str,
        req: SlotRequest,
        offset: int,
        available: int,
        batch_size: int,
        heartbeat: Callable[[DownloadProgress], None],
    ) -> None:
        first = req.slot_index * req.slot_size + offset
        last = req.slot_index * req.slot_size + available - 1
        headers = {"Range": f"bytes={first}-{last}"}
        async with session.get(self._api(cid, "stream"), headers=headers) as resp:
            if resp.status >= 500 or resp.status == 429:
                raise _Retry(f"stream HTTP {resp.status}")
            skip = self._bytes_to_skip(resp, first)
            pending: list[bytes | memoryview] = []  # chunks of the current batch, not copied
            pending_len = 0
            batch_end = min((offset // batch_size + 1) * batch_size, available)
            async for chunk in resp.content.iter_chunked(self.config.read_chunk):
                view = memoryview(chunk)
                if skip:
                    dropped = min(skip, len(view))
                    view, skip = view[dropped:], skip - dropped
                while view and offset < available:
                    room = batch_end - offset - pending_len
                    pending.append(view[:room])
                    pending_len += min(room, len(view))
                    view = view[room:]
                    if offset + pending_len == batch_end:
                        data = b"".join(pending)
                        pending, pending_len = [], 0
                        await self._commit_batch(req, offset, data, batch_size, heartbeat)
                        offset = batch_end
                        batch_end = min(offset + batch_size, available)
            if offset < available:
                raise _Retry(f"stream ended early at slot offset {offset + pending_len}")

    @staticmethod
    def _bytes_to_skip(resp: aiohttp.ClientResponse, first: int) -> int:
        """206 must start where we asked; a source that ignores Range (200) sends everything
        from byte 0, so the bytes before `first` are read and dropped (slow but correct)."""
        if resp.status == 200:
            return first
        if resp.status != 206:
            raise SourceError(f"stream HTTP {resp.status} to a Range request")
        content_range = resp.headers.get("Content-Range", "")
        try:
            start = int(content_range.removeprefix("bytes ").split("-")[0])
        except ValueError as e:
            raise SourceError(f"206 without a usable Content-Range: {content_range!r}") from e
        if start != first:
            raise SourceError(f"asked for bytes from {first}, source sent from {start}")
        return 0

    async def _commit_batch(
        self,
        req: SlotRequest,
        offset: int,
        data: bytes,
        batch_size: int,
        heartbeat: Callable[[DownloadProgress], None],
    ) -> None:
        """Write (data, zero-padded to the batch end), release, record, heartbeat."""
        seq, rest = divmod(offset, batch_size)
        if rest:
            raise AssertionError("batches always start at a batch boundary")
        end = min((seq + 1) * batch_size, req.slot_size)
        padded = data.ljust(end - offset, b"\0")
        await asyncio.to_thread(self.store.write_at, req.slot_key, offset, padded)
        if self._hasher is not None:  # block hashes are stored before progress moves past them
            await asyncio.to_thread(self._hasher.update, padded)
        await self.releaser.release(req.reservation_id, seq, len(padded))
        self.store.set_progress(req.slot_key, end)
        heartbeat(DownloadProgress(offset=end, batch_seq=seq + 1))

    async def _adopt(self, meta: SlotMeta, reservation_id: str) -> SlotMeta:
        """Bytes already on disk for this slot were released for an earlier reservation (a sale
        that ended without onClear): release them again for the new one, batch by batch, so
        its accounting is exact (RES-19). Idempotent like every release."""
        written = self.store.progress(meta.slot_key)
        for seq in range(-(-written // meta.batch_size)):
            nbytes = min(meta.batch_size, meta.slot_size - seq * meta.batch_size)
            await self.releaser.release(reservation_id, seq, nbytes)
        meta = meta.model_copy(update={"reservation_id": reservation_id})
        self.store.save_meta(meta)
        return meta

    async def _verify(self, req: SlotRequest, slot_roots: list[int]) -> None:
        data = await asyncio.to_thread(self.store.read_slot, req.slot_key)
        root = int.from_bytes(req.merkle_root, "little")
        try:
            await asyncio.to_thread(commitment.check_slot, data, req.slot_index, slot_roots, root)
        except commitment.CommitmentError as e:
            # start over on a retry: the bytes on disk are not the committed ones
            self.store.set_progress(req.slot_key, 0)
            raise ContentMismatchError(f"slot {req.slot_key}: {e}") from e

    # -- Codex layout: the slot root streams with the download ----------------------------------

    def _resume_hasher(self, req: SlotRequest) -> StreamingSlotHasher:
        """A streaming hasher at the recorded progress: the stored block hashes of the blocks
        before it, plus the bytes of its partial block read back (at most 64 KiB)."""
        key = req.slot_key
        n_blocks = codex_layout.padded_blocks(req.slot_size)

        def sink(first: int, raw: bytes) -> None:
            self.store.write_block_hashes(key, first, raw)

        offset = self.store.progress(key)
        whole, rest = divmod(offset, codex_layout.BLOCK_BYTES)
        raw = self.store.read_block_hashes(key)
        if len(raw) < 32 * whole:  # hashes lost (should not happen): start the slot over
            log.warning("slot %s: block hashes behind progress; downloading again", key)
            self.store.set_progress(key, 0)
            return StreamingSlotHasher(n_blocks, sink, self.config.hash_threads)
        stored = [int.from_bytes(raw[32 * i : 32 * i + 32], "little") for i in range(whole)]
        partial = self.store.read_at(key, whole * codex_layout.BLOCK_BYTES, rest) if rest else b""
        return StreamingSlotHasher.resume(n_blocks, stored, partial, sink, self.config.hash_threads)

    async def _verify_streamed(self, req: SlotRequest, slot_roots: list[int]) -> int:
        """Check the streamed slot root opens to the request's dataset root at this slot."""
        assert self._hasher is not None
        root = await asyncio.to_thread(self._hasher.finish)
        try:
            codex_layout.check_slot_root(
                root, req.slot_index, slot_roots, int.from_bytes(req.merkle_root, "little")
            )
        except codex_layout.LayoutError as e:
            self.store.set_progress(req.slot_key, 0)
            raise ContentMismatchError(f"slot {req.slot_key}: {e}") from e
        return root
