"""The proving scheduler's batched read (`Market.proving_snapshots`): every slot's proving facts
at ONE block, identical to what the per-slot read sees at that block, on the development
contract over JSON-RPC batches and on the fake chain alike."""

from sales.ids import slot_id
from sales.models import RequestState, SlotState
from tests.chain.scenarios import (
    ChainWorld,
    FakeWorld,
    World,
    chain_node,  # noqa: F401  (fixture)
    chain_world,  # noqa: F401  (fixture)
    fresh_chain,  # noqa: F401  (fixture)
    requested,
    reserve_and_fill,
)


async def batched_read_matches_the_per_slot_read(world: World) -> None:
    request = await requested(world, slots=3, max_slot_loss=1, proof_probability=1)
    host = world.hosts[0]
    for index in (0, 1):
        await reserve_and_fill(world, host, request, index)
    await world.advance(world.config.proofs.period)
    ids = [slot_id(request.id, index) for index in range(3)]
    unknown = "0x" + "ab" * 32
    pairs = [(sid, request.id) for sid in ids] + [(slot_id(unknown, 0), unknown)]
    batch = await host.proving_snapshots(pairs)
    assert list(batch.snapshots) == [sid for sid, _ in pairs], "one snapshot per slot asked"
    for sid, request_id in pairs:
        snap = batch.snapshots[sid]
        assert (snap.block_number, snap.timestamp) == (batch.block_number, batch.timestamp)
        single = await host.proving_snapshot(sid, request_id)  # no block mined in between
        assert snap == single, "the batch reads exactly what the per-slot read reads"
    filled, free = batch.snapshots[ids[0]], batch.snapshots[ids[2]]
    assert (filled.slot_state, filled.request_state) == (SlotState.Filled, RequestState.New)
    assert free.host is None and not (free.proof_required or free.proof_will_be_required)
    assert batch.snapshots[pairs[-1][0]].request_state is None, "an unknown request is None"


async def test_batched_read_on_the_fake_chain() -> None:
    await batched_read_matches_the_per_slot_read(FakeWorld())


async def test_batched_read_on_chain(chain_world: ChainWorld) -> None:  # noqa: F811
    await batched_read_matches_the_per_slot_read(chain_world)
