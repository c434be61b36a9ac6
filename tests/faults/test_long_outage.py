"""An RPC outage of 3x round 1's read-retry window while Proving (issue 12, point 8).

Round 1's reads gave up after 10 attempts, backing off from 1 s doubling to 60 s with a 30 s
start-to-close: 243 s of backoff plus the attempts themselves, about 5 minutes, after which
the sale ended Errored and cleared a slot it still held. Here the endpoint is down for 3x
that, 15 minutes: first hanging (every read runs into its start-to-close timeout), then
refusing connections. The sale must stay Proving throughout, with its data, its reservation
and its collateral in place; its own reads (a sale watched by the proving scheduler reads for
itself after five silent periods) must retry past round 1's 10 attempts; and it must prove
again once the endpoint is back.

The module has a stack of its own (tests/faults/conftest.py) and one two-slot request sold
through one `sales`, one `proving` and one `chain-tx` worker. An outage costs wall time, not
CPU, so `make test` runs this module beside everything else. No validator runs on the fault
stack, so the periods missed during the outage are not slashed: what is tested is that the
host never abandons the slot, not what the chain charges for the missed proofs.
"""

import asyncio
import time

import pytest
from temporalio.client import Client

from deploy.local.fault_stack import FaultStack, FaultTiming
from deploy.local.rpc_proxy import ProxyMode
from proofs.commitment import slot_size_for
from tests.e2e.conftest import E2EStack
from tests.e2e.helpers import client_requests, ensure_service, only_availability, poll
from tests.faults.checks import (
    assert_invariants,
    assert_proving_again,
    held_by_us,
    max_pending_attempt,
    states,
)
from workflows.sale_state import StateName

TIMING = FaultTiming.from_env()
MARKETPLACE_CONFIG = TIMING.config()
PERIOD_PHASE = TIMING.phase(3)
"""Half a period off test_faults.py's periods (its stack runs beside this one)."""
SLOTS = 2
BYTES_PER_SLOT = 20_000
STARTUP = 120
"""Seconds for freshly started workers to pick the request up (imports are slow under load)."""
OLD_READ_WINDOW = 300
"""Seconds: round 1's read retries (10 attempts, backoff 1 s doubling to 60 s, 30 s each)."""
OLD_READ_ATTEMPTS = 10
OUTAGE = 3 * OLD_READ_WINDOW
HANG_SHARE = 1 / 3
"""The outage's first third hangs, the rest refuses connections."""
STILL_PROVING_EVERY = 30
"""Seconds between two looks at the sale during the outage."""
EXPIRY = STARTUP + 3 * TIMING.period
DURATION = EXPIRY + OUTAGE + TIMING.periods(6)
"""From posting: the fill, the outage, and proofs after it, with the request still running."""

pytestmark = [
    pytest.mark.faults,
    pytest.mark.real_stack,
    pytest.mark.slow,
    pytest.mark.timeout(int(DURATION) + 300),
]


async def test_an_rpc_outage_of_three_old_retry_windows_while_proving(
    fault_stack: FaultStack, faults_e2e: E2EStack, faults_client: Client
) -> None:
    e2e, client, proxy = faults_e2e, faults_client, fault_stack.proxy
    assert proxy is not None
    for name in ("sales", "proving", "chain-tx"):
        fault_stack.start_worker(name, name)
    availability = await only_availability(
        e2e, slot_size_for(SLOTS * BYTES_PER_SLOT, SLOTS), slots=SLOTS
    )
    await ensure_service(e2e, client)
    request = await client_requests(
        e2e, slots=SLOTS, bytes_per_slot=BYTES_PER_SLOT, expiry=EXPIRY, duration=int(DURATION)
    )

    async def proving() -> bool:
        return await states(client, request) == [StateName.PROVING] * SLOTS

    # the initial proof waits for a period start; the fill lands in that period
    await poll(proving, STARTUP + TIMING.periods(3), "both sales to fill and prove")
    assert await held_by_us(e2e, request)
    await assert_invariants(e2e, request, availability.id)

    started = time.monotonic()
    proxy.set_mode(ProxyMode.HANG)
    switched = False
    while (elapsed := time.monotonic() - started) < OUTAGE:
        if not switched and elapsed >= HANG_SHARE * OUTAGE:
            proxy.set_mode(ProxyMode.REFUSE)
            switched = True
        assert await states(client, request) == [StateName.PROVING] * SLOTS, (
            f"a sale left Proving {elapsed:.0f} s into the outage"
        )
        await asyncio.sleep(STILL_PROVING_EVERY)  # the injected fault's duration
    attempts = await max_pending_attempt(client, request, scheduler_of=e2e.roles.host.address)
    assert attempts > OLD_READ_ATTEMPTS, f"no read outlasted round 1's attempts: {attempts}"
    assert await states(client, request) == [StateName.PROVING] * SLOTS
    proxy.set_mode(ProxyMode.PASS)
    await assert_proving_again(e2e, client, request, within=TIMING.periods(3))
    assert await held_by_us(e2e, request)
    await assert_invariants(e2e, request, availability.id)
