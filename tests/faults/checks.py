"""What every fault scenario must leave intact (issue 12, point 8), read from the real parts.

- no leaked byte: the availability's bytes are free, held for a reservation, or committed to a
  stored slot, and exactly one slot's worth per reservation is away from free;
- no lost or duplicated collateral: what the ledger deducted equals what its reservations
  recorded, and every slot the chain shows this host holding has a reservation whose deduction
  the chain holds as the slot's current collateral;
- no double fill: at most one SlotFilled per slot of the request;
- no data cleared for a slot the chain shows this host holding.

The chain is read from anvil directly, never through the proxy the faults are injected into.
"""

from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError
from web3 import AsyncHTTPProvider, AsyncWeb3

from activities.store import slot_key
from ledger.postgres import PostgresLedger
from sales.api import sale_workflow_id
from sales.ids import slot_id
from sales.models import SlotState, StorageRequest
from sales.scheduling import scheduler_workflow_id
from store.blockstore import BlockStore
from tests.e2e.conftest import E2EStack
from tests.e2e.helpers import host_market, latest_sale_state, poll, request_logs
from workflows.sale_state import StateName


class Figures(BaseModel):
    """The accounting figures one check read (printed when a check fails)."""

    free_size: int
    held_size: int
    committed_size: int
    total_size: int
    reservations: int
    slot_size: int
    deducted: int
    recorded: int
    held_on_chain: dict[str, int]
    reserved_for: dict[str, int]
    fills_per_slot: dict[int, int]
    missing_data: list[str]


async def figures(e2e: E2EStack, request: StorageRequest, availability_id: str) -> Figures:
    ledger = await PostgresLedger.connect(e2e.settings.database_url)
    try:
        [row] = [r for r in await ledger.availability_rows() if r.id == availability_id]
        reservations = await ledger.list_reservations(availability_id)
    finally:
        await ledger.close()
    market = host_market(e2e)
    try:
        held = {sid: await market.current_collateral(sid) for sid in await market.my_slots()}
    finally:
        await market.close()
    fills: dict[int, int] = {}
    for log in await request_logs(e2e, "SlotFilled", request.id):
        fills[log.slot_index or 0] = fills.get(log.slot_index or 0, 0) + 1
    store = BlockStore(_data_dir(e2e), quota_bytes=0)
    missing = [
        sid
        for sid in held
        if store.meta(slot_key(sid)) is None or not store.data_path(slot_key(sid)).exists()
    ]
    return Figures(
        free_size=row.free_size,
        held_size=row.held_size,
        committed_size=row.committed_size,
        total_size=row.total_size,
        reservations=len(reservations),
        slot_size=request.ask.slot_size,
        deducted=row.total_collateral - row.total_remaining_collateral,
        recorded=sum(r.collateral for r in reservations),
        held_on_chain=held,
        reserved_for={slot_id(r.request_id, r.slot_index): r.collateral for r in reservations},
        fills_per_slot=fills,
        missing_data=missing,
    )


def _data_dir(e2e: E2EStack) -> Path:
    return Path(e2e.environment["SALES_DATA_DIR"])


async def assert_invariants(
    e2e: E2EStack, request: StorageRequest, availability_id: str
) -> Figures:
    """The four "must be zero" figures of every scenario, at any moment of the sale."""
    f = await figures(e2e, request, availability_id)
    assert f.free_size + f.held_size + f.committed_size == f.total_size, f"bytes leaked: {f}"
    assert f.held_size + f.committed_size == f.reservations * f.slot_size, f"bytes leaked: {f}"
    assert f.deducted == f.recorded, f"ledger collateral lost or duplicated: {f}"
    for sid, on_chain in f.held_on_chain.items():
        assert f.reserved_for.get(sid) == on_chain, f"collateral of {sid} vs chain: {f}"
    assert all(count == 1 for count in f.fills_per_slot.values()), f"double fill: {f}"
    assert not f.missing_data, f"data cleared for a slot this host holds: {f}"
    return f


async def assert_all_returned(
    e2e: E2EStack, request: StorageRequest, availability_id: str
) -> Figures:
    """After every sale ended: every byte and every token back, nothing held, nothing stored."""
    f = await assert_invariants(e2e, request, availability_id)
    assert f.free_size == f.total_size, f"bytes leaked: {f}"
    assert f.reservations == 0 and f.deducted == 0, f"collateral not returned: {f}"
    assert not f.held_on_chain, f"slots still held: {f}"
    store = BlockStore(_data_dir(e2e), quota_bytes=0)
    assert store.used_bytes() == 0, "slot data left in the host store"
    return f


async def max_pending_attempt(
    client: Client, request: StorageRequest, *, scheduler_of: str | None = None
) -> int:
    """The highest attempt number of any activity the request's sales are waiting on, and with
    ``scheduler_of`` (the host's address) of the proving scheduler's batched read too: a sale it
    watches reads the chain itself only after `scheduler_silence_periods` of silence."""
    highest = 0
    ids = [sale_workflow_id(slot_id(request.id, index)) for index in range(request.ask.slots)]
    if scheduler_of is not None:
        ids.append(scheduler_workflow_id(scheduler_of))
    for workflow_id in ids:
        try:
            described = await client.get_workflow_handle(workflow_id).describe()
        except RPCError:
            continue
        for pending in described.raw_description.pending_activities:
            highest = max(highest, pending.attempt)
    return highest


async def pending_activity_attempts(client: Client, workflow_id: str, activity: str) -> int:
    """The attempt number of one pending activity of a workflow (0: not pending)."""
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return 0
    for pending in described.raw_description.pending_activities:
        if pending.activity_type.name == activity:
            return int(pending.attempt)
    return 0


async def states(client: Client, request: StorageRequest) -> list[str | None]:
    """The latest state of each slot's sale, as its workflow reports it."""
    return [await latest_sale_state(client, request.id, i) for i in range(request.ask.slots)]


async def latest_block(e2e: E2EStack) -> Any:
    """anvil's latest block, read directly (not through the fault proxy)."""
    w3 = AsyncWeb3(AsyncHTTPProvider(e2e.anvil.rpc_url))
    try:
        return await w3.eth.get_block("latest")
    finally:
        await w3.provider.disconnect()


async def chain_now(e2e: E2EStack) -> int:
    return int((await latest_block(e2e))["timestamp"])


async def proved_since(e2e: E2EStack, request: StorageRequest, since: int) -> bool:
    """Every slot of the request has a proof on chain in a block after ``since``."""
    for index in range(request.ask.slots):
        proofs = await request_logs(e2e, "ProofSubmitted", slot_id(request.id, index))
        if not any(p.timestamp > since for p in proofs):
            return False
    return True


async def assert_proving_again(
    e2e: E2EStack, client: Client, request: StorageRequest, within: float
) -> None:
    """After an RPC outage ended: every slot proven in a block after now, within ``within``
    seconds, and every sale still Proving (the outage paused them, it did not end them)."""
    back = await chain_now(e2e)

    async def proving_again() -> bool:
        return await proved_since(e2e, request, back)

    await poll(proving_again, within, "every slot to be proven after the outage")
    assert await states(client, request) == [StateName.PROVING] * request.ask.slots


async def held_by_us(e2e: E2EStack, request: StorageRequest) -> bool:
    """The chain shows every slot of the request Filled with this host as its host."""
    market = host_market(e2e)
    try:
        for index in range(request.ask.slots):
            sid = slot_id(request.id, index)
            if await market.slot_state(sid) != SlotState.Filled:
                return False
            if await market.get_host(sid) != e2e.roles.host.address:
                return False
        return True
    finally:
        await market.close()
