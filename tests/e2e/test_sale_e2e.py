"""The whole sale on the real stack (issue 7): Temporal, PostgreSQL, anvil, the development
marketplace with real Groth16 proofs, the data server, and worker.py in its own process.

One request of three slots is sold by this host: reserve, download, initial proof, fill, proofs
every period, finish, payout, and the ledger back to its starting figures. The worker is
SIGKILLed mid-download and again mid-proving, each time replaced; the sale still completes with
no double fill, no byte released twice, no leaked byte or token.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from pydantic import BaseModel
from temporalio.client import Client
from web3 import AsyncHTTPProvider, AsyncWeb3, Web3

from chain.build import load_artifact
from chain.client import OnChainClient
from deploy.local.scenario import post_request
from ledger.api import NewAvailability
from ledger.postgres import PostgresLedger
from sales.ids import slot_id
from sales.models import Availability, StorageRequest
from starter import start_service
from tests.e2e.conftest import E2EStack
from workflows.search_attributes import SALE_STATE, SLOT_INDEX

pytestmark = [pytest.mark.real_stack, pytest.mark.slow]

TERMINAL = {"Finished", "Cancelled", "Failed", "Errored", "Ignored"}


async def sale_states(client: Client, request_id: str) -> dict[int, str]:
    states = {}
    async for sale in client.list_workflows(
        f"WorkflowType='SlotSale' AND RequestId='{request_id}'"
    ):
        index = sale.typed_search_attributes.get(SLOT_INDEX)
        state = sale.typed_search_attributes.get(SALE_STATE)
        if index is not None and state is not None:
            states[index] = state
    return states


async def poll(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    """Poll until ``check`` holds; fail naming ``what`` at the deadline (no fixed sleeps)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(1)
    raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")


class Log(BaseModel):
    """One marketplace event as the test reads it from the chain."""

    id: str
    slot_index: int | None
    timestamp: int


async def logs_of(e2e: E2EStack, event: str) -> list[Log]:
    """Decoded marketplace logs of one event (its id as hex), with their block timestamps."""
    w3 = AsyncWeb3(AsyncHTTPProvider(e2e.anvil.rpc_url))
    abi = next(x for x in load_artifact("Marketplace")["abi"] if x.get("name") == event)
    contract = w3.eth.contract(
        address=Web3.to_checksum_address(e2e.deployment.marketplace), abi=[abi]
    )
    found = []
    for log in await getattr(contract.events, event)().get_logs(
        from_block=e2e.deployment.block_number
    ):
        block = await w3.eth.get_block(log["blockNumber"])
        args = log["args"]
        raw_id = args["requestId"] if "requestId" in args else args["id"]
        index = args.get("slotIndex")
        found.append(
            Log(id="0x" + bytes(raw_id).hex(), slot_index=index, timestamp=block["timestamp"])
        )
    await w3.provider.disconnect()
    return found


def host_market(e2e: E2EStack) -> OnChainClient:
    market = OnChainClient.connect(
        e2e.anvil.rpc_url, e2e.deployment.marketplace, e2e.roles.host.private_key
    )
    assert isinstance(market, OnChainClient)
    return market


async def host_balance(e2e: E2EStack) -> int:
    market = host_market(e2e)
    try:
        return await market.token_balance()
    finally:
        await market.close()


async def availability_now(e2e: E2EStack, availability_id: str) -> Availability:
    ledger = await PostgresLedger.connect(e2e.settings.database_url)
    try:
        return await ledger.get_availability(availability_id)
    finally:
        await ledger.close()


async def ensure_service(e2e: E2EStack, client: Client) -> None:
    """Queue, follower and reconciliation for this host (idempotent: running ones are kept)."""
    await start_service(
        client,
        e2e.settings,
        {
            "max_workers": 3,
            "max_size": 128,
            "simulate_proof_failures": 0,
            "dispersal_initial_bits": 256,
            "dispersal_window_percent": 50,
            "start_block": e2e.deployment.block_number,
            "confirmations": 1,
            "reconcile_every": 3600,
        },
    )


async def test_a_three_slot_sale_survives_a_worker_crash_and_pays_out(
    e2e: E2EStack, e2e_client: Client
) -> None:
    settings = e2e.settings
    ledger = await PostgresLedger.connect(settings.database_url)
    saved = await ledger.create_availability(
        NewAvailability(
            total_size=1_000_000,
            duration=3600,
            min_price_per_byte_per_second=1,
            total_collateral=1_000_000,
        )
    )
    await ledger.close()
    start = saved.availability
    balance_before = await host_balance(e2e)
    await ensure_service(e2e, e2e_client)
    request: StorageRequest = await post_request(
        e2e.anvil.rpc_url,
        e2e.deployment.marketplace,
        e2e.roles.client,
        e2e.data_url,
        slots=3,
        expiry=150,  # room for two crashes before every slot must be filled
        duration=240,
    )

    async def one_downloading() -> bool:
        return "Downloading" in (await sale_states(e2e_client, request.id)).values()

    await poll(one_downloading, 120, "a sale to be downloading")
    assert e2e.worker is not None
    e2e.worker.kill()  # SIGKILL mid-download: onStore resumes from its heartbeat elsewhere
    e2e.start_worker()

    async def all_proving() -> bool:
        states = await sale_states(e2e_client, request.id)
        return len(states) == 3 and set(states.values()) == {"Proving"}

    await poll(all_proving, 240, "every sale to reach Proving")
    e2e.worker.kill()  # SIGKILL mid-proving: no cleanup, no graceful shutdown
    e2e.start_worker()

    async def all_ended() -> bool:
        states = await sale_states(e2e_client, request.id)
        return len(states) == 3 and set(states.values()) <= TERMINAL

    await poll(all_ended, request.expiry + request.ask.duration + 180, "every sale to end")
    assert set((await sale_states(e2e_client, request.id)).values()) == {"Finished"}

    mine = [log for log in await logs_of(e2e, "SlotFilled") if log.id == request.id]
    assert sorted(log.slot_index or 0 for log in mine) == [0, 1, 2], "exactly one fill per slot"

    proofs = await logs_of(e2e, "ProofSubmitted")
    period = e2e.deployment.config.proofs.period
    for index in range(3):
        sid = slot_id(request.id, index)
        periods = {p.timestamp // period for p in proofs if p.id == sid}
        assert len(periods) >= 3, f"slot {index} proved in {len(periods)} periods"

    market = host_market(e2e)
    ends_at = await market.request_end(request.id)
    await market.close()
    payout = sum((ends_at - log.timestamp) * request.ask.price_per_slot_per_second for log in mine)
    assert await host_balance(e2e) - balance_before == payout, "payout in, collateral back"

    after = await availability_now(e2e, start.id)
    assert after.free_size == start.free_size
    assert after.total_remaining_collateral == start.total_remaining_collateral
    ledger = await PostgresLedger.connect(settings.database_url)
    try:
        assert await ledger.list_reservations() == []
    finally:
        await ledger.close()


async def test_an_unfilled_request_expires_and_the_host_gets_everything_back(
    e2e: E2EStack, e2e_client: Client
) -> None:
    """EXP-2, ST-CAN-1/2: expiry with the request still New → Cancelled on chain → this host
    frees its slot (partial payout up to expiry, collateral back) and the ledger is restored."""
    from ledger.api import AvailabilityPatch

    settings = e2e.settings
    ledger = await PostgresLedger.connect(settings.database_url)
    try:
        for existing in await ledger.list_availabilities():  # room for exactly one slot below
            await ledger.update_availability(existing.id, AvailabilityPatch(enabled=False))
        saved = await ledger.create_availability(
            NewAvailability(
                total_size=30_000,
                duration=3600,
                min_price_per_byte_per_second=1,
                total_collateral=30_000,
            )
        )
    finally:
        await ledger.close()
    start = saved.availability
    if e2e.worker is None or not e2e.worker.alive():
        e2e.start_worker()
    await ensure_service(e2e, e2e_client)
    balance_before = await host_balance(e2e)
    request = await post_request(
        e2e.anvil.rpc_url, e2e.deployment.marketplace, e2e.roles.client, e2e.data_url, slots=2
    )
    assert request.ask.slot_size * 2 > start.total_size >= request.ask.slot_size

    async def one_cancelled() -> bool:
        return "Cancelled" in (await sale_states(e2e_client, request.id)).values()

    await poll(one_cancelled, request.expiry + 150, "the filled slot's sale to cancel")
    mine = [log for log in await logs_of(e2e, "SlotFilled") if log.id == request.id]
    assert len(mine) == 1, "this host filled one slot; the request never started"
    market = host_market(e2e)
    expires_at = await market.request_expires_at(request.id)
    await market.close()
    partial = (expires_at - mine[0].timestamp) * request.ask.price_per_slot_per_second

    async def paid_out() -> bool:
        return await host_balance(e2e) - balance_before == partial

    await poll(paid_out, 60, "the partial payout and collateral to arrive")

    async def restored() -> bool:
        now = await availability_now(e2e, start.id)
        return (
            now.free_size == start.free_size
            and now.total_remaining_collateral == start.total_remaining_collateral
        )

    await poll(restored, 180, "the availability to get its bytes and collateral back")
