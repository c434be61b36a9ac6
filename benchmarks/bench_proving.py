"""How many proving sales one worker sustains with no missed period (fake prover).

One process plays one worker (`worker.py --role all`): the sales, chain-tx and proving task
queues, the proving queue limited to --prover-slots concurrent proofs. Every sale runs the real
SlotSale workflow against fake activities; the fake chain requires a proof in every period and
the fake prover takes --prove-ms. For N = 25, 50, 100, ... sales the run waits until all are
filled, then watches --periods whole periods and counts the periods in which a sale's proof was
not submitted in time. It stops at the first N with a miss (or at --max).

Prints per N: missed periods, the worst submission delay into a period, and the largest N with
no miss. The dev server shares the machine, so the figure is a floor for a dedicated worker.

    .venv/bin/python benchmarks/bench_proving.py [--period 10] [--periods 3] [--max 800]
"""

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_sale import Router, dev_server, fake_host, start_sale
from sales.api import (
    OnProveInput,
    SubmitProofInput,
    TxOutcome,
)
from sales.models import Groth16Proof, RequestState, SlotState
from sales.periods import Periodicity
from tests.workflows.fakes import FakeSale, an_availability, chain_now, make_request


@dataclass
class TimedFakeSale(FakeSale):
    """The fake chain and prover of one sale, recording when each proof was submitted."""

    prove_seconds: float = 0.1
    submitted: list[int] = field(default_factory=list)

    async def on_prove(self, prove: OnProveInput) -> Groth16Proof:
        await asyncio.sleep(self.prove_seconds)  # the prover's time, without its CPU
        return await super().on_prove(prove)

    async def submit_proof(self, submit: SubmitProofInput) -> TxOutcome:
        self.submitted.append(chain_now())
        return await super().submit_proof(submit)


def new_sale(nonce: int, period: int, prove_seconds: float) -> TimedFakeSale:
    fake = TimedFakeSale(
        availability=an_availability(),
        request=make_request(expiry=600, duration=3600, nonce=nonce),
        period=period,
        request_state_after_fill=RequestState.Started,
        prove_seconds=prove_seconds,
    )
    fake.created_at = int(time.time())
    return fake


class Level:
    def __init__(self, sales: int, missed: int, worst_delay: int) -> None:
        self.sales, self.missed, self.worst_delay = sales, missed, worst_delay


async def run_level(
    client: Client, router: Router, count: int, first_nonce: int, args: argparse.Namespace
) -> Level:
    periods = Periodicity(seconds=args.period)
    fakes = [new_sale(first_nonce + n, args.period, args.prove_ms / 1000) for n in range(count)]
    for fake in fakes:
        router.add(fake)
    handles = [await start_sale(client, fake, None) for fake in fakes]
    deadline = time.monotonic() + 120 + count
    while any(f.slot_state != SlotState.Filled for f in fakes):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} sales did not all fill in time")
        await asyncio.sleep(0.2)
    first = periods.period_of(int(time.time())) + 1  # the first whole period with all filled
    window = range(first, first + args.periods)
    end_of_window = periods.period_end(window[-1])
    while time.time() < end_of_window + 1:  # noqa: ASYNC110  (wall-clock, not a condition)
        await asyncio.sleep(0.5)
    missed, worst = 0, 0
    for fake in fakes:
        by_period = {periods.period_of(t): t for t in reversed(fake.submitted)}
        for period in window:
            if period not in by_period:
                missed += 1
            else:
                worst = max(worst, by_period[period] - periods.period_start(period))
    for handle in handles:
        await handle.terminate("benchmark level done")
    return Level(count, missed, worst)


async def main(args: argparse.Namespace) -> None:
    async with await dev_server() as env:
        client = env.client
        router = Router()
        async with fake_host(client, router, prover_slots=args.prover_slots):
            print(
                f"proving sales on one worker: {args.period} s periods, a proof required in "
                f"every period, fake prover {args.prove_ms} ms x {args.prover_slots} slots, "
                f"{args.periods} periods watched per level"
            )
            sustained = 0
            count, nonce = args.start, 100_000
            while count <= args.max:
                level = await run_level(client, router, count, nonce, args)
                nonce += count
                print(
                    f"  {level.sales:5d} sales: {level.missed:4d} missed periods, "
                    f"worst submission {level.worst_delay:3d} s into its period"
                )
                if level.missed:
                    break
                sustained = count
                count *= 2
            print(f"  sustained with no missed period: {sustained} sales")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--period", type=int, default=10)
    parser.add_argument("--periods", type=int, default=3)
    parser.add_argument("--prove-ms", type=int, default=100)
    parser.add_argument("--prover-slots", type=int, default=8)
    parser.add_argument("--start", type=int, default=25)
    parser.add_argument("--max", type=int, default=800)
    asyncio.run(main(parser.parse_args()))
