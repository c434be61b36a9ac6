"""Reservation cycles per second on PostgresLedger, next to a plain single-row UPDATE ceiling.

A cycle is what one sale does to the ledger: create_reservation, release in BATCHES batches,
return_bytes_to_availability, delete_reservation (BATCHES + 3 transactions). Measured at 1, 4
and 16 concurrent connections, all on one availability (they serialise on its row lock) and
spread over 16 availabilities.

    .venv/bin/python benchmarks/bench_ledger.py                 # own durable server (fsync on)
    .venv/bin/python benchmarks/bench_ledger.py --no-fsync      # own server, fsync off
    .venv/bin/python benchmarks/bench_ledger.py --dsn postgresql://...   # an existing server
"""

import argparse
import asyncio
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from psycopg import AsyncConnection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy.local.postgres import PostgresServer
from ledger.api import NewAvailability
from ledger.postgres import PostgresLedger

BATCHES = 4
SLOT = 4096
CONCURRENCY = (1, 4, 16)


async def cycle(ledger: PostgresLedger, av_id: str) -> None:
    res = await ledger.create_reservation(
        availability_id=av_id,
        slot_size=SLOT,
        request_id="0x" + secrets.token_hex(32),
        slot_index=0,
        collateral_per_byte=1,
        valid_until=0,
    )
    for seq in range(BATCHES):
        await ledger.release(res.id, seq, SLOT // BATCHES)
    await ledger.return_bytes_to_availability(res.id, SLOT)
    await ledger.delete_reservation(res.id, SLOT)


async def measure(workers: int, seconds: float, job: Callable[[int], Awaitable[None]]) -> float:
    """Run `job(worker_index)` in a loop on `workers` tasks for `seconds`; return ops/s."""
    done = 0
    stop = time.monotonic() + seconds

    async def loop(i: int) -> None:
        nonlocal done
        while time.monotonic() < stop:
            await job(i)
            done += 1

    start = time.monotonic()
    await asyncio.gather(*(loop(i) for i in range(workers)))
    return done / (time.monotonic() - start)


async def update_ceiling(dsn: str, workers: int, seconds: float) -> float:
    conns = [await AsyncConnection.connect(dsn, autocommit=True) for _ in range(workers)]
    try:
        await conns[0].execute(
            "CREATE TABLE IF NOT EXISTS bench_counter (id int PRIMARY KEY, n bigint)"
        )
        await conns[0].execute("INSERT INTO bench_counter VALUES (1, 0) ON CONFLICT DO NOTHING")

        async def job(i: int) -> None:
            await conns[i].execute("UPDATE bench_counter SET n = n + 1 WHERE id = 1")

        return await measure(workers, seconds, job)
    finally:
        for c in conns:
            await c.close()


async def run(dsn: str, seconds: float) -> None:
    ledger = await PostgresLedger.connect(dsn, min_size=16, max_size=16)
    try:
        avs = [
            (
                await ledger.create_availability(
                    NewAvailability(
                        total_size=2**26,
                        duration=10**6,
                        min_price_per_byte_per_second=1,
                        total_collateral=2**40,
                    )
                )
            ).availability.id
            for _ in range(16)
        ]
        print(
            f"reservation cycle = create + {BATCHES} releases + return + delete "
            f"({BATCHES + 3} transactions); {seconds:.0f} s per cell"
        )
        print(
            f"{'connections':>11} | {'1 availability':>16} | {'16 availabilities':>17} | "
            f"{'UPDATE ceiling':>14}"
        )
        print(f"{'':>11} | {'cycles/s (tx/s)':>16} | {'cycles/s (tx/s)':>17} | {'tx/s':>14}")
        for workers in CONCURRENCY:
            one = await measure(workers, seconds, lambda i: cycle(ledger, avs[0]))
            spread = await measure(workers, seconds, lambda i: cycle(ledger, avs[i % 16]))
            ceiling = await update_ceiling(dsn, workers, seconds)
            tx = BATCHES + 3
            print(
                f"{workers:>11} | {one:>7.0f} ({one * tx:>6.0f}) | "
                f"{spread:>8.0f} ({spread * tx:>6.0f}) | {ceiling:>14.0f}"
            )
        rows = await ledger.availability_rows()
        assert all(r.free_size == r.total_size for r in rows), "bytes leaked"
        assert all(r.total_remaining_collateral == r.total_collateral for r in rows), "leak"
        print("after the run: every availability is whole again (no bytes or collateral leaked)")
    finally:
        await ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="an existing PostgreSQL; default: start a private one")
    parser.add_argument("--seconds", type=float, default=2.5, help="per measurement")
    parser.add_argument("--no-fsync", action="store_true", help="own server without fsync")
    args = parser.parse_args()
    if args.dsn:
        asyncio.run(run(args.dsn, args.seconds))
        return
    root = Path(tempfile.mkdtemp(prefix="bench-ledger-pg-"))
    root.chmod(0o755)
    server = PostgresServer(root / "postgres", durable=not args.no_fsync)
    try:
        info = server.start()
        fsync = "off" if args.no_fsync else "on"
        print(f"private PostgreSQL on 127.0.0.1:{info.port} (fsync {fsync})")
        asyncio.run(run(info.dsn(), args.seconds))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
