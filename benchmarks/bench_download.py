"""Download throughput of onStore's data path vs a raw loopback HTTP-to-file copy.

    .venv/bin/python benchmarks/bench_download.py [--mib 256] [--batch-kib 1024]

The data server runs in its own process (python -m store.server); each client measurement runs in
a fresh child process so its peak RSS (ru_maxrss) is its own. The slot is too large for the
development commitment, so the downloader runs with verify=False here; the commitment check's
own cost is printed separately for the largest provable slot (63,488 bytes). With --codex the
same bytes are also uploaded in Codex's layout and stored verified: the slot root streams with
the download (proofs/poseidon2/streaming.py), which is onStore's real cost in that layout.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from proofs import commitment
from store.blockstore import BlockStore
from store.download import DownloadConfig, SlotDownloader, SlotRequest

CHUNK = 256 * 1024


class NullReleaser:
    async def release(self, reservation_id: str, batch_seq: int, nbytes: int) -> None:
        return None


async def _raw_copy(base: str, cid: str, out: Path) -> int:
    url = f"{base}/api/codex/v1/data/{cid}/network/stream"
    total = 0
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        with out.open("wb") as f:
            async for chunk in resp.content.iter_chunked(CHUNK):
                f.write(chunk)
                total += len(chunk)
            f.flush()
            os.fsync(f.fileno())  # the store syncs a finished slot too: compare like for like
    return total


async def _download(
    base: str, cid: str, slot_size: int, work: Path, batch: int, root: bytes | None
) -> int:
    """onStore's data path; with a merkle root (Codex layout) it verifies, streaming the hash."""
    store = BlockStore(work, quota_bytes=slot_size)
    config = DownloadConfig(base_url=base, batch_size=batch, verify=root is not None)
    req = SlotRequest(
        slot_key="bench",
        reservation_id="bench",
        cid=cid,
        merkle_root=root or b"\0" * 32,
        slots=1,
        slot_size=slot_size,
        slot_index=0,
        expiry=0,
    )
    stored = await SlotDownloader(store, NullReleaser(), config).store_slot(req)
    return stored.slot_size


def _child(
    kind: str, base: str, cid: str, slot_size: int, work: str, batch: int, root: Any, q: Any
) -> None:
    start = time.perf_counter()
    if kind == "raw":
        n = asyncio.run(_raw_copy(base, cid, Path(work) / "raw.bin"))
    else:
        n = asyncio.run(_download(base, cid, slot_size, Path(work) / kind, batch, root))
    elapsed = time.perf_counter() - start
    q.put((n, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def _measure(kind: str, *args: object) -> tuple[int, float, int]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(kind, *args, q))
    p.start()
    result = q.get()
    p.join()
    return result  # type: ignore[no-any-return]


async def _upload(base: str, path: Path, layout: str) -> tuple[str, int, bytes | None]:
    url = f"{base}/api/codex/v1/data?slots=1&layout={layout}"
    async with aiohttp.ClientSession() as session:
        with path.open("rb") as f:
            async with session.post(url, data=f, timeout=aiohttp.ClientTimeout(None)) as resp:
                resp.raise_for_status()
                root = resp.headers.get("X-Codex-Dataset-Root")
                return (
                    await resp.text(),
                    int(resp.headers["X-Codex-Slot-Size"]),
                    bytes.fromhex(root.removeprefix("0x")) if root else None,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=32, help="slot size in MiB (256 for the spec)")
    parser.add_argument("--batch-kib", type=int, default=1024)
    parser.add_argument(
        "--codex",
        action="store_true",
        help="also onStore of a Codex-layout upload, verified by the streaming commitment",
    )
    args = parser.parse_args()
    size = args.mib << 20
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = work / "dataset.bin"
        with src.open("wb") as f:
            for _ in range(0, size, 1 << 20):
                f.write(os.urandom(1 << 20))
        server = subprocess.Popen(
            [sys.executable, "-m", "store.server", "--data-dir", str(work / "server")],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        try:
            assert server.stdout is not None
            base = server.stdout.readline().strip()
            cid, slot_size, _ = asyncio.run(_upload(base, src, "dev"))
            print(f"slot: {size / 2**20:.0f} MiB ({slot_size} bytes with cell padding)")
            runs: list[tuple[str, str, str, int, bytes | None]] = [
                ("raw", "raw HTTP->file+fsync", cid, slot_size, None),
                ("store", "SlotDownloader", cid, slot_size, None),
            ]
            if args.codex:  # same bytes, same CID: uploaded again after the dev runs
                runs.append(("codex", "+ Codex commitment", cid, 0, None))
            for kind, label, c, n_bytes, root in runs:
                if kind == "codex":
                    c, n_bytes, root = asyncio.run(_upload(base, src, "codex"))
                batch = args.batch_kib << 10
                n, secs, rss_kib = _measure(kind, base, c, n_bytes, tmp, batch, root)
                print(
                    f"{label:>22}: {n / 2**20 / secs:8.1f} MiB/s  ({secs:.2f} s)  "
                    f"peak RSS {rss_kib / 1024:.0f} MiB"
                )
        finally:
            server.terminate()
            server.wait()
    slot = os.urandom(commitment.MAX_SLOT_BYTES)
    start = time.perf_counter()
    commitment.slot_root(slot)
    secs = time.perf_counter() - start
    print(
        f"commitment check of a {commitment.MAX_SLOT_BYTES}-byte slot: {secs:.3f} s "
        f"({commitment.MAX_SLOT_BYTES / 2**20 / secs:.2f} MiB/s, Python Poseidon)"
    )


if __name__ == "__main__":
    main()
