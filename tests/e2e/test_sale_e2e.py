"""The whole sale on the real stack (issue 7): Temporal, PostgreSQL, anvil, the development
marketplace with real Groth16 proofs, the data server, and worker.py in its own process.

One request of three slots is sold by this host: reserve, download, initial proof, fill, proofs
every period, finish, payout, and the ledger back to its starting figures. The worker is
SIGKILLed mid-download and again mid-proving, each time replaced; the sale still completes with
no double fill, no byte released twice, no leaked byte or token.
"""

import pytest
from temporalio.client import Client

from proofs.commitment import slot_size_for
from sales.ids import slot_id
from sales.models import StorageRequest
from tests.e2e.conftest import E2EStack
from tests.e2e.helpers import (
    TERMINAL,
    availability_now,
    client_requests,
    ensure_service,
    host_balance,
    host_market,
    logs_of,
    only_availability,
    poll,
    reservations_now,
    sale_states,
)

pytestmark = [pytest.mark.real_stack, pytest.mark.slow]


async def test_a_three_slot_sale_survives_a_worker_crash_and_pays_out(
    e2e: E2EStack, e2e_client: Client
) -> None:
    start = await only_availability(e2e, 1_000_000)  # room for every slot
    balance_before = await host_balance(e2e)
    await ensure_service(e2e, e2e_client)
    request: StorageRequest = await client_requests(
        e2e,
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
    assert await reservations_now(e2e) == []


async def test_an_unfilled_request_expires_and_the_host_gets_everything_back(
    e2e: E2EStack, e2e_client: Client
) -> None:
    """EXP-2, ST-CAN-1/2: expiry with the request still New → Cancelled on chain → this host
    frees its slot (partial payout up to expiry, collateral back) and the ledger is restored."""
    if e2e.worker is None or not e2e.worker.alive():
        e2e.start_worker()
    await ensure_service(e2e, e2e_client)
    start = await only_availability(e2e, slot_size_for(2 * 20_000, 2))  # one slot of two
    balance_before = await host_balance(e2e)
    request = await client_requests(
        e2e,
        slots=2,
        bytes_per_slot=20_000,
    )
    assert request.ask.slot_size == start.total_size

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
