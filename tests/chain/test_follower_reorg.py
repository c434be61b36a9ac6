"""The follower across real reorganisations on anvil (issue 13, point 3) and poison events
(point 1, last bullet): a changed block hash at or below the cursor rewinds to the fork point
and re-delivers; an event the sink keeps refusing is dead-lettered in PostgreSQL, not retried
for ever.

anvil's ``evm_snapshot``/``evm_revert`` drop the blocks after the snapshot; mining other
transactions on top gives a real fork with new block hashes at the same heights, which is what
a follower sees when its provider reorganises.
"""

import asyncio
from typing import Any

import psycopg

from chain.events import AnyEvent
from chain.follower import SALES_EVENTS, ChainFollower, Cursor, CursorStore, DeadLetter
from sales.ids import slot_id
from sales.models import RequestState
from tests.chain.scenarios import (
    PROOF,
    ChainWorld,
    chain_node,  # noqa: F401  (fixture)
    chain_world,  # noqa: F401  (fixture)
    cursor_dsn,  # noqa: F401  (fixture)
    fresh_chain,  # noqa: F401  (fixture)
    requested,
)


class KeyedSink:
    """Records every delivery; ``effect`` is what a key-idempotent consumer (the queue, the
    sales) acts on: each key once, in delivery order."""

    def __init__(self) -> None:
        self.calls: list[AnyEvent] = []

    async def __call__(self, event: AnyEvent) -> None:
        self.calls.append(event)

    @property
    def effect(self) -> list[AnyEvent]:
        seen: set[str] = set()
        out = []
        for event in self.calls:
            if event.key not in seen:
                seen.add(event.key)
                out.append(event)
        return out


async def rpc(world: ChainWorld, method: str, *params: Any) -> Any:
    response = await world.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in response, response
    return response["result"]


async def fork_back(world: ChainWorld, snapshot: str) -> None:
    """Drop every block after ``snapshot``; the signers' nonces are read again."""
    assert await rpc(world, "evm_revert", snapshot) is True
    for market in world.markets:
        market._nonces.reset()


async def catch_up(f: ChainFollower) -> None:
    for _ in range(200):
        if await f.poll_once():
            return
    raise AssertionError("the follower did not catch up")


async def canonical(world: ChainWorld) -> list[AnyEvent]:
    return [e for e in await world.events() if e.kind in SALES_EVENTS]


def follower(world: ChainWorld, dsn: str, sink: Any, **kw: Any) -> ChainFollower:
    options: dict[str, Any] = {"batch_blocks": 3, "confirmations": 1}
    options.update(kw)
    return ChainFollower.connect(
        world.node.rpc_url,
        world.contracts.marketplace,
        dsn,
        sink,
        name="reorg-test",
        start_block=world.contracts.block_number,
        **options,
    )


async def test_a_slot_filled_that_disappears_is_rewound_and_the_new_fork_delivered(
    chain_world: ChainWorld,  # noqa: F811
    cursor_dsn: str,  # noqa: F811
) -> None:
    """Point 3: host A's SlotFilled was delivered, then reorganised away; the follower sees the
    changed hash at its cursor, rewinds to the fork point and delivers host B's fill instead."""
    world = chain_world
    a, b, _ = world.hosts
    request = await requested(world, slots=2, max_slot_loss=0)
    assert await a.reserve_slot(request.id, 0) is not None
    fork_block = int(await world.w3.eth.block_number)
    snapshot = await rpc(world, "evm_snapshot")
    await a.fill_slot(request.id, 0, PROOF, request.ask.collateral_per_slot)
    await rpc(world, "anvil_mine", "0x2")
    sink = KeyedSink()
    reorgs: list[tuple[Cursor, Cursor]] = []
    f = follower(world, cursor_dsn, sink, on_reorg=lambda old, new: reorgs.append((old, new)))
    await catch_up(f)
    (gone,) = [e for e in sink.effect if e.kind == "SlotFilled"]
    old_head = int(await world.w3.eth.block_number)

    await fork_back(world, snapshot)
    assert await b.reserve_slot(request.id, 1) is not None
    await b.fill_slot(request.id, 1, PROOF, request.ask.collateral_per_slot)
    await rpc(world, "anvil_mine", "0x3")
    assert int(await world.w3.eth.block_number) > old_head
    await catch_up(f)
    await f.close()

    assert f.reorgs == 1 and len(reorgs) == 1
    old, new = reorgs[0]
    assert fork_block < old.block_number and new.block_number <= fork_block + 1
    events = await canonical(world)
    assert gone.key not in {e.key for e in events}  # A's fill is not on the chain any more
    (filled,) = [e for e in events if e.kind == "SlotFilled"]
    assert filled.slot_index == 1
    # every event of the chain that won was delivered, in order, after what was delivered before
    assert [e for e in sink.effect if e.key != gone.key] == events
    stored = await CursorStore(cursor_dsn, "reorg-test").load()
    head = await world.w3.eth.get_block("latest")
    assert stored is not None and stored.block_number == int(head["number"]) + 1
    assert stored.block_hash == "0x" + bytes(head["hash"]).hex()


async def test_a_request_failed_becomes_request_fulfilled(
    chain_world: ChainWorld,  # noqa: F811
    cursor_dsn: str,  # noqa: F811
) -> None:
    """Point 3: on the first fork the request fills and fails (its host leaves, maxSlotLoss 0);
    the fork that wins fills it with another host and it stays fulfilled. The follower
    re-delivers from the fork point, so the last request event its consumers act on is the
    RequestFulfilled of the winning fork."""
    world = chain_world
    a, b, c = world.hosts
    request = await requested(world, slots=2, max_slot_loss=0)
    collateral = request.ask.collateral_per_slot
    for host, index in ((a, 0), (b, 1), (c, 1)):
        assert await host.reserve_slot(request.id, index) is not None
    await a.fill_slot(request.id, 0, PROOF, collateral)
    snapshot = await rpc(world, "evm_snapshot")
    await b.fill_slot(request.id, 1, PROOF, collateral)
    await rpc(world, "evm_mine")
    assert await a.free_slot(slot_id(request.id, 0)) is not None
    sink = KeyedSink()
    f = follower(world, cursor_dsn, sink)
    await catch_up(f)
    failed = [e for e in sink.effect if e.kind == "RequestFailed"]
    assert len(failed) == 1
    old_head = int(await world.w3.eth.block_number)

    await fork_back(world, snapshot)
    await c.fill_slot(request.id, 1, PROOF, collateral)
    await rpc(world, "anvil_mine", hex(old_head - int(await world.w3.eth.block_number) + 2))
    await catch_up(f)
    await f.close()

    assert f.reorgs == 1
    events = await canonical(world)
    keys = {e.key for e in events}
    assert failed[0].key not in keys
    request_events = [e for e in sink.effect if e.kind.startswith("Request") and e.key in keys]
    assert [e.kind for e in request_events] == ["RequestFulfilled"]
    assert [e.kind for e in sink.effect][-1] == "RequestFulfilled"
    assert [e for e in sink.effect if e.key in keys] == events
    assert await a.request_state(request.id) == RequestState.Started


async def test_a_poison_event_is_dead_lettered_and_the_follower_moves_on(
    chain_world: ChainWorld,  # noqa: F811
    cursor_dsn: str,  # noqa: F811
) -> None:
    """Point 1 (last bullet): a sink that always refuses one event (a request whose push can
    never succeed) is tried a bounded number of times; then the event is recorded in
    ledger.dead_letters with its reason, counted, and every later event still arrives."""
    world = chain_world
    a = world.hosts[0]
    poison = await requested(world, slots=2, max_slot_loss=0)
    healthy = await requested(world, slots=2, max_slot_loss=0)
    assert await a.reserve_slot(healthy.id, 0) is not None
    taken: list[AnyEvent] = []
    attempts = 0

    async def sink(event: AnyEvent) -> None:
        nonlocal attempts
        if getattr(event, "request_id", None) == poison.id:
            attempts += 1
            raise RuntimeError("update failed: payload too large")
        taken.append(event)

    letters: list[DeadLetter] = []
    f = follower(
        world,
        cursor_dsn,
        sink,
        dead_letter_after=3,
        max_backoff=0.05,
        poll_interval=0.02,
        on_dead_letter=letters.append,
    )
    task = asyncio.create_task(f.run())
    expected = [e for e in await canonical(world) if getattr(e, "request_id", "") != poison.id]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(taken) < len(expected):
        assert loop.time() < deadline, "the follower stalled on the poison event"
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await f.close()
    assert taken == expected
    assert attempts == 3 and f.dead_lettered == 1 and len(letters) == 1
    stored = await CursorStore(cursor_dsn, "reorg-test").dead_letters()
    assert [(d.kind, d.attempts) for d in stored] == [("StorageRequested", 3)]
    assert "payload too large" in stored[0].reason
    assert stored[0].event is not None and stored[0].event["request_id"] == poison.id
    with psycopg.connect(cursor_dsn) as conn:
        (count,) = conn.execute("SELECT count(*) FROM ledger.dead_letters").fetchone() or (0,)
    assert count == 1
