"""Codex-layout commitment throughput and memory: the streaming slot root of a big slot.

    .venv/bin/python benchmarks/bench_commitment.py [--mib 256] [--chunk-kib 1024]

Runs in a fresh child process so its peak RSS (ru_maxrss) is its own. The slot's bytes are made
deterministically chunk by chunk (never held whole), fed to StreamingSlotHasher as a download
would feed it, with block hashes written to a file like the block store does. Prints MB/s
(wall and CPU time of the hashing only, one core) and peak RSS; the issue's targets are
>= 20 MB/s and <= 64 MiB. Also prints the native permutation's cost and the machine's load,
because the machine is shared and timings move with it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proofs.poseidon2 import fast, layout
from proofs.poseidon2.streaming import StreamingSlotHasher


def _run(mib: int, chunk: int, threads: int, out: Any) -> None:
    size = mib << 20
    rnd = random.Random(16)
    pattern = rnd.randbytes(chunk)
    with tempfile.TemporaryDirectory() as tmp:
        hashes = Path(tmp) / "blockhashes"
        with hashes.open("wb") as f:

            def sink(first: int, raw: bytes) -> None:
                f.seek(32 * first)
                f.write(raw)

            hasher = StreamingSlotHasher(layout.padded_blocks(size), sink, threads=threads)
            wall = cpu = 0.0
            done = 0
            counter = 0
            while done < size:
                n = min(chunk, size - done)
                # fresh bytes per chunk without holding the slot: vary the pattern's first word
                counter += 1
                data = counter.to_bytes(8, "little") + pattern[8:n]
                w0, c0 = time.perf_counter(), time.process_time()
                hasher.update(data)
                wall += time.perf_counter() - w0
                cpu += time.process_time() - c0
                done += n
            w0, c0 = time.perf_counter(), time.process_time()
            root = hasher.finish()
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
        hash_file = hashes.stat().st_size
    t0 = time.process_time()
    for _ in range(2000):
        fast.compress(1, 2, 0)
    perm_us = (time.process_time() - t0) / 2000 * 1e6
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put(
        {
            "mb_s_wall": size / wall / 1e6,
            "mb_s_cpu": size / cpu / 1e6,
            "rss": rss_mib,
            "root": root,
            "hash_file": hash_file,
            "perm_us": perm_us,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--chunk-kib", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1, help="hashing threads (target: 1)")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    queue: Any = ctx.Queue()
    proc = ctx.Process(target=_run, args=(args.mib, args.chunk_kib << 10, args.threads, queue))
    proc.start()
    result = queue.get()
    proc.join()
    load = os.getloadavg()[0]
    print(
        f"codex commitment, {args.mib} MiB slot (streaming, {args.chunk_kib} KiB chunks, "
        f"{args.threads} thread(s)): "
        f"{result['mb_s_wall']:.1f} MB/s wall, {result['mb_s_cpu']:.1f} MB/s CPU, "
        f"peak RSS {result['rss']:.0f} MiB, block hashes {result['hash_file'] >> 10} KiB "
        f"(targets >= 20 MB/s, <= 64 MiB)"
    )
    print(
        f"  native Poseidon2 permutation {result['perm_us']:.2f} us "
        f"(load average {load:.1f} on {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
