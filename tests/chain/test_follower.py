"""The chain follower on anvil + PostgreSQL: every event once, in order, across kills and outages.

ARCHITECTURE.md §3 (chain follower) and MKT-11.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from chain.events import AnyEvent
from chain.follower import SALES_EVENTS, ChainFollower, Cursor, CursorStore
from sales.hexbytes import to_hex
from tests.chain.scenarios import (
    PROOF,
    ChainWorld,
    chain_node,  # noqa: F401  (fixture)
    chain_world,  # noqa: F401  (fixture)
    cursor_dsn,  # noqa: F401  (fixture)
    fresh_chain,  # noqa: F401  (fixture)
    requested,
)

DEADLINE = 30.0


async def traffic(world: ChainWorld, requests: int = 1) -> None:
    """Per request: StorageRequested, SlotReservationsFull, 2 x SlotFilled, RequestFulfilled."""
    a, b, c = world.hosts
    for _ in range(requests):
        request = await requested(world, slots=2, max_slot_loss=0)
        for host in (a, b, c):
            await host.reserve_slot(request.id, 0)
        await a.fill_slot(request.id, 0, PROOF, await a.slot_collateral(request.id, 0))
        await b.reserve_slot(request.id, 1)
        await b.fill_slot(request.id, 1, PROOF, await b.slot_collateral(request.id, 1))


async def expected_events(world: ChainWorld) -> list[AnyEvent]:
    return [e for e in await world.events() if e.kind in SALES_EVENTS]


async def until(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    """Poll ``check`` until true, failing after DEADLINE seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Recorder:
    """An event sink that records deliveries and can pause mid-delivery."""

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self.reached = asyncio.Event()
        self.stop_at: int | None = None

    async def __call__(self, event: AnyEvent) -> None:
        self.events.append(event)
        if self.stop_at is not None and len(self.events) >= self.stop_at:
            self.reached.set()
            await asyncio.sleep(0.05)  # still inside the sink when the follower is killed


def follower(
    world: ChainWorld, dsn: str, sink: Any, url: str | None = None, **kw: Any
) -> ChainFollower:
    options: dict[str, Any] = {
        "batch_blocks": 4,
        "poll_interval": 0.02,
        "max_backoff": 0.3,
        "confirmations": 1,
    }
    options.update(kw)
    return ChainFollower.connect(
        url or world.node.rpc_url,
        world.contracts.marketplace,
        dsn,
        sink,
        name="test",
        start_block=world.contracts.block_number,
        **options,
    )


async def stop(task: "asyncio.Task[None]", f: ChainFollower) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await f.close()


def keys(events: list[AnyEvent]) -> list[str]:
    return [e.key for e in events]


async def test_follower_delivers_confirmed_events_in_order_and_persists_its_cursor(
    chain_world: ChainWorld,  # noqa: F811
    cursor_dsn: str,  # noqa: F811
) -> None:
    world = chain_world
    await traffic(world, 2)
    sink = Recorder()
    f = follower(world, cursor_dsn, sink)
    while not await f.poll_once():
        pass
    expected = await expected_events(world)
    assert len(expected) == 10
    assert sink.events == expected  # same models: kinds, ids, positions, block timestamps
    positions = [e.position for e in sink.events]
    assert positions == sorted(positions)
    head = int(await world.w3.eth.block_number)
    head_hash = to_hex(bytes((await world.w3.eth.get_block(head))["hash"]))
    assert await CursorStore(cursor_dsn, "test").load() == Cursor(
        block_number=head + 1, block_hash=head_hash
    )
    # a second follower (a restart) finds nothing new
    again = Recorder()
    restarted = follower(world, cursor_dsn, again)
    assert await restarted.poll_once()
    assert again.events == []
    await restarted.close()
    await f.close()
    # confirmation depth: the newest events wait for 3 confirmations
    await traffic(world, 1)
    deep = Recorder()
    f3 = follower(world, cursor_dsn, deep, confirmations=3)
    while not await f3.poll_once():
        pass
    head = int(await world.w3.eth.block_number)
    fresh = [e for e in await expected_events(world) if e.key not in keys(sink.events)]
    assert deep.events == [e for e in fresh if e.block_number <= head - 2]
    assert len(deep.events) < len(fresh)
    await world.w3.provider.make_request("anvil_mine", ["0x2"])  # type: ignore[arg-type]
    while not await f3.poll_once():
        pass
    assert deep.events == fresh
    await f3.close()


async def test_killed_and_restarted_follower_delivers_every_event_exactly_once(
    chain_world: ChainWorld,  # noqa: F811
    cursor_dsn: str,  # noqa: F811
) -> None:
    """Kill the follower while its sink is busy, several times, with new events in between."""
    world = chain_world
    await traffic(world, 2)
    sink = Recorder()
    for cut, more_traffic in ((2, False), (5, True), (9, False), (13, True)):
        sink.reached.clear()
        sink.stop_at = cut
        f = follower(world, cursor_dsn, sink)
        task = asyncio.create_task(f.run())
        await asyncio.wait_for(sink.reached.wait(), DEADLINE)
        await stop(task, f)  # killed mid-delivery of event number `cut`
        assert len(sink.events) == cut
        if more_traffic:
            await traffic(world, 1)  # the chain moves on while the follower is down
    sink.stop_at = None
    expected = await expected_events(world)
    f = follower(world, cursor_dsn, sink)
    task = asyncio.create_task(f.run())
    await until(lambda: len(sink.events) >= len(expected), "the follower to catch up")
    await stop(task, f)
    assert keys(sink.events) == keys(expected)  # each once, in chain order
    assert sink.events == expected


class Proxy:
    """A loopback TCP proxy to the RPC endpoint that can be cut and restored (an outage)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_follower_survives_an_rpc_outage_and_a_kill_during_it(
    chain_world: ChainWorld,  # noqa: F811
    cursor_dsn: str,  # noqa: F811
) -> None:
    world = chain_world
    proxy = Proxy(int(world.node.rpc_url.rsplit(":", 1)[1]))
    await proxy.start()
    url = f"http://127.0.0.1:{proxy.port}"
    sink = Recorder()
    await traffic(world, 1)
    f = follower(world, cursor_dsn, sink, url)
    task = asyncio.create_task(f.run())
    await until(lambda: len(sink.events) == 5, "the first events")
    await proxy.stop()  # outage
    await traffic(world, 1)
    await until(lambda: f.failures >= 2, "the follower to notice the outage")
    await stop(task, f)  # killed while the endpoint is down
    f = follower(world, cursor_dsn, sink, url)
    task = asyncio.create_task(f.run())
    await until(lambda: f.failures >= 1, "the restarted follower to hit the outage")
    assert len(sink.events) == 5
    await proxy.start()  # the endpoint is back on the same port
    expected = await expected_events(world)
    await until(lambda: len(sink.events) >= len(expected), "the follower to catch up")
    await stop(task, f)
    await proxy.stop()
    assert sink.events == expected


async def test_cursor_table_is_created_idempotently(cursor_dsn: str) -> None:  # noqa: F811
    store = CursorStore(cursor_dsn, "a")
    await store.setup()
    await store.setup()
    assert await store.load() is None
    await store.save(Cursor(block_number=7, log_index=2, block_hash="0x07"))
    other = CursorStore(cursor_dsn, "b")
    await other.save(Cursor(block_number=1))
    await other.close()
    assert await CursorStore(cursor_dsn, "a").load() == Cursor(
        block_number=7, log_index=2, block_hash="0x07"
    )
    assert await store.recent_blocks() == [(7, "0x07")]
    await store.close()
    with psycopg.connect(cursor_dsn) as conn:
        rows = conn.execute("SELECT name FROM ledger.follower_cursor ORDER BY name").fetchall()
    assert rows == [("a",), ("b",)]
    assert "password" not in repr(store) and cursor_dsn not in repr(store)


class CappedLogs:
    """A provider's eth_getLogs cap: ranges wider than ``max_blocks`` are refused."""

    def __init__(self, source: Any, max_blocks: int) -> None:
        self.source, self.max_blocks, self.refused = source, max_blocks, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)

    async def logs(self, from_block: int, to_block: int) -> list[Any]:
        if to_block - from_block + 1 > self.max_blocks:
            self.refused += 1
            raise ValueError(f"query exceeds max block range {self.max_blocks}")
        return list(await self.source.logs(from_block, to_block))


async def test_a_refused_log_range_is_halved_until_the_provider_accepts_it(
    chain_world: ChainWorld,  # noqa: F811
    cursor_dsn: str,  # noqa: F811
) -> None:
    """Catching up over a provider that caps eth_getLogs at 2 blocks still delivers every event
    once, in order; the window halves from 64 to 2 (5 refusals) and stays there."""
    world = chain_world
    await traffic(world, 3)
    await world.w3.provider.make_request("anvil_mine", ["0x40"])  # type: ignore[arg-type]
    sink = Recorder()
    f = follower(world, cursor_dsn, sink, batch_blocks=64)  # the first range is 64 blocks
    capped = CappedLogs(f.source, max_blocks=2)
    f.source = capped
    task = asyncio.create_task(f.run())
    expected = await expected_events(world)
    await until(lambda: len(sink.events) >= len(expected), "the follower to catch up")
    await stop(task, f)
    assert sink.events == expected
    assert capped.refused == 5  # 64, 32, 16, 8, 4
    assert f.window == 2


async def test_a_cursor_of_the_old_table_is_carried_over_by_the_migration(
    cursor_dsn: str,  # noqa: F811
) -> None:
    """Upgrading: a follower that kept its cursor in public.chain_cursor (before the block hash)
    resumes from it (ledger migration 0004 copies it over)."""
    with psycopg.connect(cursor_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE chain_cursor (name text PRIMARY KEY, block_number bigint NOT NULL, "
            "log_index bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(
            "INSERT INTO chain_cursor (name, block_number, log_index) VALUES ('old', 42, 3)"
        )
    store = CursorStore(cursor_dsn, "old")
    await store.setup()
    assert await store.load() == Cursor(block_number=42, log_index=3)
    await store.close()
