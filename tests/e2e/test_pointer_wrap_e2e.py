"""No period lost to the pointer wrap, on anvil with 1 s blocks and real proofs (issue 12).

A proof is valid only for the challenge of the block it lands in, and that challenge changes
when the slot's pointer wraps from 255 to 0 (MARKETPLACE_ABI §8). Round 1 lost periods, then
collateral, to proofs that started before a wrap and landed after it.

This module deploys a marketplace whose period (29 s) and downtimeProduct (227, a prime) add up
to 256: with a block a second the pointer then reads the same at the same offset of every
period. The request's nonce is chosen so that its slot's pointer wraps a few seconds into
EVERY period, right while a proof started at the period's start would be in flight. The sale
must prove every period anyway: wait for the wrap, prove the new challenge, land it in time.
"""

import secrets

import pytest
from temporalio.client import Client
from web3 import AsyncHTTPProvider, AsyncWeb3

from chain.config import DEMO
from sales.hexbytes import to_bytes
from sales.ids import request_id, slot_id
from sales.models import StorageRequest
from tests.e2e.conftest import E2EStack
from tests.e2e.helpers import (
    client_requests,
    ensure_service,
    logs_of,
    only_availability,
    poll,
    sale_outcome,
    sale_states,
)
from workflows.sale_state import SaleData, StateName

pytestmark = [pytest.mark.real_stack, pytest.mark.slow]

PERIOD = 29
DOWNTIME_PRODUCT = 227  # PERIOD + DOWNTIME_PRODUCT == 256
MARKETPLACE_CONFIG = DEMO.model_copy(
    update={
        "proofs": DEMO.proofs.model_copy(
            update={"period": PERIOD, "downtime_product": DOWNTIME_PRODUCT}
        )
    }
)
WRAP_OFFSETS = range(8, 12)
"""Seconds into each period at which the slot's pointer wraps: a proof started one second
into the period (as the sale does) and taking more than a few seconds would land after it."""
PROVEN_PERIODS = 4
FILL_SLACK_PERIODS = 3
"""The request's end counts from its creation, not from the fill: on a loaded CI machine the
download and initial proof took two periods, leaving only 3 of 4 periods to measure. Room for a
fill up to this many periods after posting keeps at least PROVEN_PERIODS due periods."""


def pointer(block_number: int, timestamp: int, sid: str) -> int:
    """getPointer's formula (MARKETPLACE_ABI §8) for the block's period."""
    period = timestamp // PERIOD
    return (block_number % 256 + period * DOWNTIME_PRODUCT % 256 + to_bytes(sid)[-1]) % 256


async def test_no_period_is_lost_to_the_pointer_wrap(e2e: E2EStack, e2e_client: Client) -> None:
    await only_availability(e2e, 1_000_000)
    await ensure_service(e2e, e2e_client)
    w3 = AsyncWeb3(AsyncHTTPProvider(e2e.anvil.rpc_url))
    latest = await w3.eth.get_block("latest")
    block_minus_time = int(latest["number"]) - int(latest["timestamp"])

    def wrap_offset(request: StorageRequest) -> int:
        """The offset in every period where the pointer of slot 0 wraps (to 0)."""
        sid = slot_id(request_id(request), 0)
        return (-block_minus_time - to_bytes(sid)[-1]) % 256

    def wrapping_early(request: StorageRequest) -> StorageRequest:
        while wrap_offset(request) not in WRAP_OFFSETS:
            request = request.model_copy(update={"nonce": "0x" + secrets.token_hex(32)})
        return request

    request = await client_requests(
        e2e,
        slots=1,
        expiry=120,
        duration=(PROVEN_PERIODS + 2 + FILL_SLACK_PERIODS) * PERIOD,
        prepare=wrapping_early,
    )
    sid = slot_id(request.id, 0)

    async def finished() -> bool:
        return (await sale_states(e2e_client, request.id)).get(0) == StateName.FINISHED

    deadline = 120 + (PROVEN_PERIODS + 4 + FILL_SLACK_PERIODS) * PERIOD
    await poll(finished, deadline, "the sale to be paid")
    outcome = await sale_outcome(e2e_client, request.id, 0)
    handle = e2e_client.get_workflow_handle(f"sale-{sid}")
    data: SaleData = await handle.query("sale", result_type=SaleData)

    [filled] = [log for log in await logs_of(e2e, "SlotFilled") if log.id == request.id]
    proofs = [log for log in await logs_of(e2e, "ProofSubmitted") if log.id == sid]
    proven = {log.timestamp // PERIOD for log in proofs}
    assert data.request_end is not None
    # every whole period after the fill's (the fill is its period's proof) up to the end
    due = range(filled.timestamp // PERIOD + 1, data.request_end // PERIOD)
    now = int((await w3.eth.get_block("latest"))["number"])
    blocks = [await w3.eth.get_block(n) for n in range(int(latest["number"]), now + 1)]
    wraps = {
        int(b["timestamp"]) // PERIOD
        for b in blocks
        if int(b["timestamp"]) % PERIOD > 0
        and pointer(int(b["number"]), int(b["timestamp"]), sid) == 0
    }
    await w3.provider.disconnect()

    assert outcome.state == StateName.FINISHED
    assert len(due) >= PROVEN_PERIODS, f"a run long enough to measure: {list(due)}"
    assert set(due) <= wraps, "the pointer wrapped inside every period the sale had to prove"
    assert set(due) <= proven, f"every due period has its proof on chain: {sorted(proven)}"
    assert data.missed_periods == 0
