"""`make chaos`: a seeded chaos run on a local stack, printed as reliability figures (issue 12).

`python -m deploy.local.chaos --seed N` starts a `FaultStack` (the embedded stack's parts, each
its own: PostgreSQL, a Temporal dev server on a SQLite file, anvil with 1 s blocks, the
development marketplace with real Groth16 proofs, the data server, the RPC proxy), runs five
workers (two `sales`, two `proving`, one `chain-tx`), offers room for every slot, and posts
several requests with real proofs at seeded moments. Meanwhile it injects, at seeded moments
and in a seeded order: SIGKILLs of random workers (each restarted a few seconds later), an RPC
pause through the proxy (refused or hung), a PostgreSQL restart and a Temporal server restart.

When every sale has ended (or the deadline passed) it reads the chain, the ledger and Temporal
and prints one table: requests and sales by final state, faults by kind, missed proofs, double
fills, leaked bytes, collateral in the ledger against the chain. It exits 1 when any figure that
must be zero is not (missed proofs may be non-zero: an injected outage can cost a period).
"""

import argparse
import asyncio
import contextlib
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from web3 import AsyncHTTPProvider, AsyncWeb3, Web3

from chain.build import load_artifact
from chain.client import OnChainClient
from chain.config import DEMO
from deploy.local.fault_stack import FaultStack
from deploy.local.rpc_proxy import ProxyMode
from deploy.local.scenario import post_request
from deploy.settings import HostSettings
from proofs.commitment import slot_size_for
from sales.api import SALES_VISIBILITY_QUERY
from sales.ids import slot_id
from sales.models import MarketplaceConfig, RequestState, StorageRequest

CONFIG: MarketplaceConfig = DEMO
"""30 s periods: room for several initial proofs at once on 2 cores, and their fills."""
PERIOD = CONFIG.proofs.period
WORKERS = {
    "sales-a": "sales",
    "sales-b": "sales",
    "proving-a": "proving",
    "proving-b": "proving",
    "chain-tx": "chain-tx",
}
BYTES_PER_SLOT = 20_000
SLOTS = 2
TERMINAL = {"Finished", "Cancelled", "Failed", "Errored", "Ignored"}

MUST_BE_ZERO = (
    "sales still running",
    "double fills",
    "leaked bytes (ledger)",
    "leaked bytes (store)",
    "reservations left",
    "collateral: ledger - chain",
    "collateral: not returned",
)


class Figures(BaseModel):
    """Everything the table shows; `failures()` names the must-be-zero figures that are not."""

    seed: int
    requests: dict[str, int]
    sales: dict[str, int]
    faults: dict[str, int]
    missed_proofs: int
    missed_near_faults: int
    proofs: int
    zero: dict[str, int]

    def failures(self) -> list[str]:
        return [name for name in MUST_BE_ZERO if self.zero.get(name, 0) != 0]


def summarize(
    seed: int,
    *,
    request_states: Sequence[str],
    sale_states: Sequence[str],
    faults: Mapping[str, int],
    fills_per_slot: Mapping[str, int],
    due_periods: Mapping[str, set[int]],
    proven_periods: Mapping[str, set[int]],
    ledger_total: int,
    ledger_free: int,
    reservations: int,
    store_bytes: int,
    collateral_deducted: int,
    collateral_on_chain: int,
    fault_windows: Sequence[tuple[int, int]] = (),
    period: int = PERIOD,
) -> Figures:
    """The pure accounting behind the table (tested without a stack).

    A missed period counts as "near a fault" when it overlaps a fault's window (chain time)
    extended by two periods: a killed prover's task waits out its 30 s heartbeat timeout, and a
    proof started before an outage ends may land too late."""
    missed_periods = [
        p for sid, due in due_periods.items() for p in due - proven_periods.get(sid, set())
    ]

    def near_fault(p: int) -> bool:
        start, end = p * period, (p + 1) * period
        return any(start < b + 2 * period and end > a for a, b in fault_windows)

    near = sum(1 for p in missed_periods if near_fault(p))
    return Figures(
        seed=seed,
        requests=dict(sorted(Counter(request_states).items())),
        sales=dict(sorted(Counter(sale_states).items())),
        faults=dict(sorted(faults.items())),
        missed_proofs=len(missed_periods),
        missed_near_faults=near,
        proofs=sum(len(p) for p in proven_periods.values()),
        zero={
            "sales still running": sum(1 for s in sale_states if s not in TERMINAL),
            "double fills": sum(max(0, n - 1) for n in fills_per_slot.values()),
            "leaked bytes (ledger)": ledger_total - ledger_free,
            "leaked bytes (store)": store_bytes,
            "reservations left": reservations,
            "collateral: ledger - chain": collateral_deducted - collateral_on_chain,
            "collateral: not returned": collateral_deducted,
        },
    )


def format_table(figures: Figures) -> str:
    rows: list[tuple[str, str]] = [("seed", str(figures.seed))]
    rows += [(f"requests {state}", str(n)) for state, n in figures.requests.items()]
    rows += [(f"sales {state}", str(n)) for state, n in figures.sales.items()]
    rows += [(f"fault {kind}", str(n)) for kind, n in figures.faults.items()]
    rows += [("proofs on chain (periods)", str(figures.proofs))]
    rows += [("missed proofs (may be > 0)", str(figures.missed_proofs))]
    rows += [("  of which near a fault", str(figures.missed_near_faults))]
    rows += [(f"{name} (must be 0)", str(figures.zero[name])) for name in MUST_BE_ZERO]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'figure':<{width}}  value", f"{'-' * width}  -----"]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    verdict = "FAIL: " + ", ".join(figures.failures()) if figures.failures() else "OK"
    return "\n".join([*lines, "", verdict])


# --- the run ------------------------------------------------------------------------------------


class Chaos:
    def __init__(self, stack: FaultStack, seed: int, requests: int, duration: int) -> None:
        self.stack = stack
        self.rng = random.Random(seed)
        self.seed = seed
        self.request_count = requests
        self.duration = duration
        self.faults: Counter[str] = Counter()
        self.windows: list[tuple[int, int]] = []
        """Chain-time spans of the injected faults."""
        self.posted: list[StorageRequest] = []

    def log(self, message: str) -> None:
        print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)

    async def client(self) -> Client:
        assert self.stack.temporal is not None
        return await Client.connect(
            self.stack.temporal.address, data_converter=pydantic_data_converter
        )

    async def run(self) -> Figures:
        from ledger.api import NewAvailability
        from ledger.postgres import PostgresLedger
        from starter import start_service

        for name in WORKERS:
            self._start_worker(name)
        settings = self._settings()
        slot_size = slot_size_for(SLOTS * BYTES_PER_SLOT, SLOTS)
        ledger = await PostgresLedger.connect(settings.database_url)
        try:
            saved = await ledger.create_availability(
                NewAvailability(
                    total_size=slot_size * SLOTS * self.request_count,
                    duration=3600,
                    min_price_per_byte_per_second=1,
                    total_collateral=slot_size * SLOTS * self.request_count,
                )
            )
        finally:
            await ledger.close()
        self.availability_id = saved.availability.id
        client = await self.client()
        assert self.stack.deployment is not None
        await start_service(
            client,
            settings,
            {
                "max_workers": 4,
                "max_size": 128,
                "simulate_proof_failures": 0,
                "dispersal_initial_bits": 256,
                "dispersal_window_percent": 50,
                "start_block": self.stack.deployment.block_number,
                "confirmations": 1,
                "reconcile_every": 3600,
            },
        )
        await asyncio.gather(self._post_requests(), self._inject_faults())
        await self._wait_for_the_end(client)
        return await self._figures(client)

    def _start_worker(self, name: str) -> None:
        """Each proving worker proves one slot at a time: six proofs at once on two cores all
        land late, one after the other they land in time. The chain-tx worker keeps its default
        of one transaction at a time: with 4 side by side, concurrent approve+fill pairs raced
        on the one ERC-20 allowance and a fill's approve reverted (seen on seed 1)."""
        overrides = {
            "proving": {"SALES_PROVING_CONCURRENCY": "1", "PROVER_CONCURRENCY": "1"},
        }.get(WORKERS[name], {})
        self.stack.start_worker(name, WORKERS[name], **overrides)

    def _settings(self) -> HostSettings:
        return HostSettings.from_env(self.stack.environment)

    async def _post_requests(self) -> None:
        assert self.stack.anvil is not None and self.stack.deployment is not None
        for index in range(self.request_count):
            if index:
                await asyncio.sleep(self.rng.uniform(5, 20))
            request = await post_request(
                self.stack.anvil.rpc_url,
                self.stack.deployment.marketplace,
                self.stack.roles.client,
                self.stack.data_url,
                slots=SLOTS,
                bytes_per_slot=BYTES_PER_SLOT,
                expiry=240,
                duration=self.duration,
            )
            self.posted.append(request)
            self.log(f"posted request {request.id[:10]}… ({SLOTS} slots)")

    async def _inject_faults(self) -> None:
        kinds = ["kill", "kill", "kill", "rpc pause", "postgres restart", "temporal restart"]
        self.rng.shuffle(kinds)
        await asyncio.sleep(self.rng.uniform(30, 60))
        for kind in kinds:
            await self._inject(kind)
            await asyncio.sleep(self.rng.uniform(20, 40))

    async def _inject(self, kind: str) -> None:
        start = await self._chain_now()
        try:
            await self._inject_one(kind)
        finally:
            self.windows.append((start, await self._chain_now()))

    async def _inject_one(self, kind: str) -> None:
        stack, rng = self.stack, self.rng
        if kind == "kill":
            name = rng.choice(sorted(WORKERS))
            self.log(f"SIGKILL {name}")
            stack.kill_worker(name)
            self.faults[f"SIGKILL {WORKERS[name]} worker"] += 1
            await asyncio.sleep(rng.uniform(2, 10))
            self._start_worker(name)
        elif kind == "rpc pause":
            assert stack.proxy is not None
            mode = rng.choice([ProxyMode.REFUSE, ProxyMode.HANG])
            seconds = rng.uniform(20, 45)
            self.log(f"RPC {mode} for {seconds:.0f}s")
            stack.proxy.set_mode(mode)
            self.faults[f"RPC pause ({mode})"] += 1
            await asyncio.sleep(seconds)
            stack.proxy.set_mode(ProxyMode.PASS)
        elif kind == "postgres restart":
            seconds = rng.uniform(5, 20)
            self.log(f"PostgreSQL down for {seconds:.0f}s")
            await asyncio.to_thread(stack.stop_postgres)
            self.faults["PostgreSQL restart"] += 1
            await asyncio.sleep(seconds)
            await asyncio.to_thread(stack.start_postgres)
        else:
            self.log("Temporal server restart")
            await asyncio.to_thread(stack.restart_temporal)
            self.faults["Temporal restart"] += 1

    async def _sale_states(self, client: Client) -> dict[str, str]:
        from workflows.search_attributes import SALE_STATE

        found: dict[str, str] = {}
        async for sale in client.list_workflows(SALES_VISIBILITY_QUERY):
            state = sale.typed_search_attributes.get(SALE_STATE)
            if state is not None:
                found[sale.id] = state
        return found

    async def _wait_for_the_end(self, client: Client) -> None:
        last_end = await self._last_request_end()
        deadline = time.monotonic() + max(0, last_end - await self._chain_now()) + 300
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # Temporal may be restarting
                states = await self._sale_states(client)
                ended = bool(states) and set(states.values()) <= TERMINAL
                if ended and await self._chain_now() > last_end:
                    return
            await asyncio.sleep(5)
        self.log("deadline passed with sales still running")

    async def _market(self) -> OnChainClient:
        assert self.stack.anvil is not None and self.stack.deployment is not None
        market = OnChainClient.connect(
            self.stack.anvil.rpc_url,
            self.stack.deployment.marketplace,
            self.stack.roles.host.private_key,
        )
        return cast(OnChainClient, market)

    async def _chain_now(self) -> int:
        market = await self._market()
        try:
            return await market.current_time()
        finally:
            await market.close()

    async def _last_request_end(self) -> int:
        market = await self._market()
        try:
            return max([await market.request_end(r.id) for r in self.posted] or [0])
        finally:
            await market.close()

    async def _logs(self, event: str) -> list[tuple[str, int | None, int]]:
        """(id as hex, slot index, block timestamp) of one marketplace event."""
        assert self.stack.anvil is not None and self.stack.deployment is not None
        w3 = AsyncWeb3(AsyncHTTPProvider(self.stack.anvil.rpc_url))
        abi = next(x for x in load_artifact("Marketplace")["abi"] if x.get("name") == event)
        contract = w3.eth.contract(
            address=Web3.to_checksum_address(self.stack.deployment.marketplace), abi=[abi]
        )
        found = []
        times: dict[int, int] = {}
        for log in await getattr(contract.events, event)().get_logs(
            from_block=self.stack.deployment.block_number
        ):
            number = int(log["blockNumber"])
            if number not in times:
                times[number] = int((await w3.eth.get_block(number))["timestamp"])
            args = log["args"]
            raw = args["requestId"] if "requestId" in args else args["id"]
            found.append(("0x" + bytes(raw).hex(), args.get("slotIndex"), times[number]))
        await w3.provider.disconnect()
        return found

    async def _figures(self, client: Client) -> Figures:
        from ledger.postgres import PostgresLedger
        from store.blockstore import BlockStore

        market = await self._market()
        try:
            request_states = []
            ends: dict[str, int] = {}
            for request in self.posted:
                state = await market.request_state(request.id)
                request_states.append(state.name if isinstance(state, RequestState) else "?")
                ends[request.id] = await market.request_end(request.id)
            held = {sid: await market.current_collateral(sid) for sid in await market.my_slots()}
        finally:
            await market.close()
        fills: Counter[str] = Counter()
        filled_at: dict[str, int] = {}
        for rid, index, at in await self._logs("SlotFilled"):
            sid = slot_id(rid, index or 0)
            fills[sid] += 1
            filled_at.setdefault(sid, at)
        proven: dict[str, set[int]] = {}
        for sid, _, at in await self._logs("ProofSubmitted"):
            proven.setdefault(sid, set()).add(at // PERIOD)
        due: dict[str, set[int]] = {}
        for request in self.posted:
            for index in range(SLOTS):
                sid = slot_id(request.id, index)
                if sid in filled_at:
                    # every whole period after the fill's (the fill proves its own) before the end
                    due[sid] = set(range(filled_at[sid] // PERIOD + 1, ends[request.id] // PERIOD))
        ledger = await PostgresLedger.connect(self._settings().database_url)
        try:
            [row] = [r for r in await ledger.availability_rows() if r.id == self.availability_id]
            reservations = await ledger.list_reservations()
        finally:
            await ledger.close()
        store = BlockStore(Path(self.stack.environment["SALES_DATA_DIR"]), quota_bytes=0)
        sale_states = list((await self._sale_states(client)).values())
        return summarize(
            self.seed,
            request_states=request_states,
            sale_states=sale_states,
            faults=self.faults,
            fills_per_slot=fills,
            due_periods=due,
            proven_periods=proven,
            ledger_total=row.total_size,
            ledger_free=row.free_size,
            reservations=len(reservations),
            store_bytes=store.used_bytes(),
            collateral_deducted=row.total_collateral - row.total_remaining_collateral,
            collateral_on_chain=sum(held.values()),
            fault_windows=self.windows,
        )


async def chaos(seed: int, requests: int, duration: int, keep: Path | None) -> Figures:
    stack = await asyncio.to_thread(FaultStack.start, CONFIG, root=keep, data_rate=8_000)
    print(f"[chaos] seed {seed}: stack under {stack.root} (logs in {stack.logs})", flush=True)
    try:
        return await Chaos(stack, seed, requests, duration).run()
    finally:
        await asyncio.to_thread(stack.close)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help="default: a random seed")
    parser.add_argument("--requests", type=int, default=3)
    parser.add_argument("--duration", type=int, default=300, help="each request's, in seconds")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stack's files here")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(10_000)
    figures = asyncio.run(chaos(seed, args.requests, args.duration, args.keep))
    print(format_table(figures), flush=True)
    return 1 if figures.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
