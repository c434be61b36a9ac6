"""Slots lost and slots repaired, on the real stack (issue 7).

Each request has two slots; this host's availability has room for one, and a rival host (played
by the test, tests/e2e/rival.py) fills the other with a real proof. Then the rival's slot is lost:

* its proofs stop and the validator marks them missing until the contract frees the slot; with
  maxSlotLoss 0 the request fails, and this host's sale ends the way SaleFailed does;
* the rival walks away with freeSlot; with maxSlotLoss 1 the request runs on, the chain follower
  routes SlotFreed to the queue as a repair item, and this host repairs the slot with the
  discounted collateral, proves it to the end and is paid for both slots.
"""

import secrets

import pytest
from temporalio.client import Client

from proofs.commitment import slot_size_for
from sales.ids import slot_id
from sales.models import RequestState, StorageRequest, repair_collateral
from tests.e2e.conftest import E2EStack
from tests.e2e.helpers import (
    TERMINAL,
    availability_now,
    client_requests,
    ensure_service,
    grow_availability,
    host_balance,
    host_market,
    latest_sale_state,
    only_availability,
    poll,
    request_logs,
    reservations_now,
    sale_outcome,
)
from tests.e2e.rival import RivalHost, slash_until_freed
from workflows.sale_state import StateName

pytestmark = [pytest.mark.real_stack, pytest.mark.slow]

BYTES_PER_SLOT = 20_000


async def request_state(e2e: E2EStack, request_id: str) -> RequestState | None:
    market = host_market(e2e)
    try:
        return await market.request_state(request_id)
    finally:
        await market.close()


async def host_of(e2e: E2EStack, request_id: str, slot_index: int) -> str | None:
    market = host_market(e2e)
    try:
        return await market.get_host(slot_id(request_id, slot_index))
    finally:
        await market.close()


async def slot_this_host_fills(e2e: E2EStack, request: StorageRequest) -> int:
    """The one slot this host has room for: the first SlotFilled of the request, checked to be
    held by this host."""

    async def filled() -> bool:
        return bool(await request_logs(e2e, "SlotFilled", request.id))

    await poll(filled, 150, "this host to fill a slot")
    [first] = await request_logs(e2e, "SlotFilled", request.id)
    assert first.slot_index is not None
    assert await host_of(e2e, request.id, first.slot_index) == e2e.roles.host.address
    return first.slot_index


async def rival_fills(
    e2e: E2EStack, request: StorageRequest, data: bytes, slot_index: int
) -> RivalHost:
    rival = RivalHost(e2e, e2e.rival.private_key, request, data)
    await rival.fill(slot_index)

    async def started() -> bool:
        return await request_state(e2e, request.id) == RequestState.Started

    await poll(started, 30, "the request to start")
    return rival


async def test_losing_more_slots_than_allowed_fails_the_request_and_the_sale(
    e2e: E2EStack, e2e_client: Client
) -> None:
    """ST-FAIL-1, SALES-11, COL-4: the rival's missed proofs are marked until its slot is freed;
    one lost slot is beyond maxSlotLoss 0, so the request fails. This host's sale frees its slot
    (the chain keeps the collateral), ends Errored("Sale failed"), and the ledger gets the bytes
    back but not the collateral."""
    await ensure_service(e2e, e2e_client)
    data = secrets.token_bytes(2 * BYTES_PER_SLOT)
    start = await only_availability(e2e, slot_size_for(len(data), 2))  # one slot of two
    balance_before = await host_balance(e2e)
    request = await client_requests(
        e2e,
        slots=2,
        data=data,
        max_slot_loss=0,
        expiry=120,
        duration=600,  # runs until the slot loss fails it
    )
    ours = await slot_this_host_fills(e2e, request)
    theirs = 1 - ours
    rival = await rival_fills(e2e, request, data, theirs)
    await rival.close()

    marks = await slash_until_freed(e2e, slot_id(request.id, theirs), within=240)
    assert marks == e2e.deployment.config.collateral.max_number_of_slashes
    assert await request_state(e2e, request.id) == RequestState.Failed

    async def sale_ended() -> bool:
        return await latest_sale_state(e2e_client, request.id, ours) in TERMINAL

    await poll(sale_ended, 60, "this host's sale to end")
    outcome = await sale_outcome(e2e_client, request.id, ours)
    assert (outcome.state, outcome.error) == (StateName.ERRORED, "Sale failed")
    market = host_market(e2e)
    try:
        assert slot_id(request.id, ours) not in await market.my_slots(), "freed from mySlots"
    finally:
        await market.close()
    assert await host_balance(e2e) == balance_before - request.ask.collateral_per_slot

    after = await availability_now(e2e, start.id)
    assert after.free_size == start.free_size
    assert (
        after.total_remaining_collateral
        == start.total_remaining_collateral - request.ask.collateral_per_slot
    )
    assert await reservations_now(e2e) == []


async def test_a_slot_another_host_leaves_is_repaired_by_this_host(
    e2e: E2EStack, e2e_client: Client
) -> None:
    """SALES-8, ARITH-5, COL-3/4, ST-DL-3: the rival frees its slot of a running request; the
    SlotFreed event becomes a repair item, this host fills the slot depositing the discounted
    collateral, proves it, and at the end is paid for both slots and gets the full collateral of
    both back: the repair reward is the difference. The ledger is back to its figures."""
    await ensure_service(e2e, e2e_client)
    data = secrets.token_bytes(2 * BYTES_PER_SLOT)
    slot_size = slot_size_for(len(data), 2)
    start = await only_availability(e2e, slot_size)
    balance_before = await host_balance(e2e)
    request = await client_requests(
        e2e,
        slots=2,
        data=data,
        max_slot_loss=1,
        expiry=120,
        duration=210,
    )
    ours = await slot_this_host_fills(e2e, request)
    theirs = 1 - ours
    rival = await rival_fills(e2e, request, data, theirs)
    grown = await grow_availability(e2e, start.id, slot_size)  # room to repair
    try:
        await rival.walk_away(theirs)
    finally:
        await rival.close()

    async def repaired() -> bool:
        fills = await request_logs(e2e, "SlotFilled", request.id)
        return len([log for log in fills if log.slot_index == theirs]) == 2

    await poll(repaired, 150, "this host to repair the freed slot")
    assert await host_of(e2e, request.id, theirs) == e2e.roles.host.address

    async def both_ended() -> bool:
        states = [await latest_sale_state(e2e_client, request.id, i) for i in (ours, theirs)]
        return all(state in TERMINAL for state in states)

    await poll(both_ended, request.ask.duration + 180, "both sales to end")
    for index in (ours, theirs):
        outcome = await sale_outcome(e2e_client, request.id, index)
        assert outcome.state == StateName.FINISHED, (index, outcome)
    proofs = await request_logs(e2e, "ProofSubmitted", slot_id(request.id, theirs))
    fills = await request_logs(e2e, "SlotFilled", request.id)
    repair_fill = fills[-1]
    assert repair_fill.slot_index == theirs
    assert any(p.timestamp > repair_fill.timestamp for p in proofs), "the repair was proved"

    market = host_market(e2e)
    try:
        ends_at = await market.request_end(request.id)
        config = await market.configuration()
    finally:
        await market.close()
    price = request.ask.price_per_slot_per_second
    payout = sum((ends_at - fill.timestamp) * price for fill in (fills[0], repair_fill))
    full = request.ask.collateral_per_slot
    reward = full - repair_collateral(full, config.collateral.repair_reward_percentage)
    assert reward > 0
    assert await host_balance(e2e) - balance_before == payout + reward

    after = await availability_now(e2e, grown.id)
    assert after.free_size == grown.total_size == 2 * slot_size
    assert after.total_remaining_collateral == grown.total_collateral
    assert await reservations_now(e2e) == []
