"""Codex-layout commitment throughput and memory: the streaming slot root of a big slot.

    .venv/bin/python benchmarks/bench_commitment.py [--mib 256] [--chunk-kib 1024]

Runs in a fresh child process so its peak RSS (ru_maxrss) is its own. The slot's bytes are made
deterministically chunk by chunk (never held whole), fed to StreamingSlotHasher as a download
would feed it, with block hashes written to a file like the block store does. Prints MB/s
(wall and CPU time of the hashing only, one core) and peak RSS; the issue's targets are
>= 20 MB/s and <= 64 MiB. Also prints the native permutation's cost (CPU time per permutation
in batches, on the AVX-512 IFMA path where the CPU has one and on the scalar path) and the
machine's load, because the machine is shared and timings move with it. `--scalar` measures the
slot on the scalar path (what CPUs without AVX512-IFMA run).
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


def _perm_us(simd: bool, states: int = 4096) -> float:
    """CPU microseconds per permutation of a batch (16-lane lockstep on the SIMD path)."""
    fast.simd(simd)
    rnd = random.Random(3)
    raw = fast.to_bytes([rnd.randrange(1 << 250) for _ in range(3 * states)])
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        fast.permute_many_raw(raw)
        best = min(best, time.process_time() - t0)
    return best / states * 1e6


def _run(mib: int, chunk: int, threads: int, scalar: bool, out: Any) -> None:
    simd = fast.simd(not scalar)
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
    perm_simd = _perm_us(True) if fast.simd(True) else None
    perm_scalar = _perm_us(False)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put(
        {
            "mb_s_wall": size / wall / 1e6,
            "mb_s_cpu": size / cpu / 1e6,
            "rss": rss_mib,
            "root": root,
            "hash_file": hash_file,
            "simd": simd,
            "perm_simd": perm_simd,
            "perm_scalar": perm_scalar,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--chunk-kib", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1, help="hashing threads (target: 1)")
    parser.add_argument("--scalar", action="store_true", help="the scalar path, not AVX-512")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    queue: Any = ctx.Queue()
    proc = ctx.Process(
        target=_run, args=(args.mib, args.chunk_kib << 10, args.threads, args.scalar, queue)
    )
    proc.start()
    result = queue.get()
    proc.join()
    load = os.getloadavg()[0]
    path = "AVX-512 IFMA, 16 lanes" if result["simd"] else "scalar"
    print(
        f"codex commitment, {args.mib} MiB slot (streaming, {args.chunk_kib} KiB chunks, "
        f"{args.threads} thread(s), {path}): "
        f"{result['mb_s_wall']:.1f} MB/s wall, {result['mb_s_cpu']:.1f} MB/s CPU, "
        f"peak RSS {result['rss']:.0f} MiB, block hashes {result['hash_file'] >> 10} KiB "
        f"(targets >= 20 MB/s, <= 64 MiB)"
    )
    simd_us = "n/a" if result["perm_simd"] is None else f"{result['perm_simd']:.2f} us"
    print(
        f"  native Poseidon2 permutation (CPU time, batched): {simd_us} AVX-512 IFMA, "
        f"{result['perm_scalar']:.2f} us scalar (load average {load:.1f} on {os.cpu_count()} cores)"
    )
    print(f"  slot root {result['root']:#066x} (the same on every path)")


if __name__ == "__main__":
    main()
