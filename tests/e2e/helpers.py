"""What the end-to-end tests read from the stack: sale states, chain logs, balances, the ledger."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError
from web3 import AsyncHTTPProvider, AsyncWeb3, Web3

from chain.build import load_artifact
from chain.client import OnChainClient
from deploy.local.scenario import post_request
from ledger.api import AvailabilityPatch, NewAvailability, SavedAvailability
from ledger.postgres import PostgresLedger
from sales.api import SALES_VISIBILITY_QUERY, sale_workflow_id
from sales.ids import slot_id
from sales.models import Availability, Reservation, StorageRequest
from starter import notify_queue, start_service
from tests.e2e.conftest import E2EStack
from tests.polling import until
from workflows.sale_state import SaleOutcome
from workflows.search_attributes import SALE_STATE, SLOT_INDEX

TERMINAL = {"Finished", "Cancelled", "Failed", "Errored", "Ignored"}


async def sale_states(client: Client, request_id: str) -> dict[int, str]:
    """The state of every sale of a request that visibility lists (any run of a slot)."""
    states = {}
    async for sale in client.list_workflows(
        f"{SALES_VISIBILITY_QUERY} AND RequestId='{request_id}'"
    ):
        index = sale.typed_search_attributes.get(SLOT_INDEX)
        state = sale.typed_search_attributes.get(SALE_STATE)
        if index is not None and state is not None:
            states[index] = state
    return states


async def latest_sale_state(client: Client, request_id: str, slot_index: int) -> str | None:
    """The state of the newest run of one slot's sale (a slot may be sold more than once)."""
    handle = client.get_workflow_handle(sale_workflow_id(slot_id(request_id, slot_index)))
    try:
        described = await handle.describe()
    except RPCError:
        return None
    return described.typed_search_attributes.get(SALE_STATE)


async def sale_outcome(client: Client, request_id: str, slot_index: int) -> SaleOutcome:
    """The result of the newest run of one slot's sale."""
    handle = client.get_workflow_handle(
        sale_workflow_id(slot_id(request_id, slot_index)), result_type=SaleOutcome
    )
    outcome: SaleOutcome = await handle.result()
    return outcome


async def poll(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    """Poll once a second (each check reads the chain or Temporal) until ``check`` holds."""
    await until(check, within, what, every=1)


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


async def client_requests(e2e: E2EStack, **ask: Any) -> StorageRequest:
    """The client uploads a dataset and requests storage for it (scenario.post_request)."""
    return await post_request(
        e2e.anvil.rpc_url, e2e.deployment.marketplace, e2e.roles.client, e2e.data_url, **ask
    )


async def request_logs(e2e: E2EStack, event: str, request_id: str) -> list[Log]:
    return [log for log in await logs_of(e2e, event) if log.id == request_id]


def market_of(e2e: E2EStack, private_key: str) -> OnChainClient:
    market = OnChainClient.connect(e2e.anvil.rpc_url, e2e.deployment.marketplace, private_key)
    assert isinstance(market, OnChainClient)
    return market


def host_market(e2e: E2EStack) -> OnChainClient:
    return market_of(e2e, e2e.roles.host.private_key)


async def host_balance(e2e: E2EStack) -> int:
    market = host_market(e2e)
    try:
        return await market.token_balance()
    finally:
        await market.close()


@asynccontextmanager
async def host_ledger(e2e: E2EStack) -> AsyncIterator[PostgresLedger]:
    ledger = await PostgresLedger.connect(e2e.settings.database_url)
    try:
        yield ledger
    finally:
        await ledger.close()


async def availability_now(e2e: E2EStack, availability_id: str) -> Availability:
    async with host_ledger(e2e) as ledger:
        return await ledger.get_availability(availability_id)


async def reservations_now(e2e: E2EStack) -> list[Reservation]:
    async with host_ledger(e2e) as ledger:
        return await ledger.list_reservations()


async def only_availability(e2e: E2EStack, slot_size: int, slots: int = 1) -> Availability:
    """Disable every availability, then offer room (bytes and collateral) for ``slots`` slots
    of ``slot_size`` bytes at 1 token per byte: the tests decide how many slots the host takes.
    """
    async with host_ledger(e2e) as ledger:
        for existing in await ledger.list_availabilities():
            await ledger.update_availability(existing.id, AvailabilityPatch(enabled=False))
        saved = await ledger.create_availability(
            NewAvailability(
                total_size=slot_size * slots,
                duration=3600,
                min_price_per_byte_per_second=1,
                total_collateral=slot_size * slots,
            )
        )
    await tell_queue(e2e, saved)
    return saved.availability


async def grow_availability(e2e: E2EStack, availability_id: str, slot_size: int) -> Availability:
    """Room for one more slot, told to the running queue as the starter does (RES-23)."""
    async with host_ledger(e2e) as ledger:
        now = await ledger.get_availability(availability_id)
        saved = await ledger.update_availability(
            availability_id,
            AvailabilityPatch(
                total_size=now.total_size + slot_size,
                total_collateral=now.total_collateral + slot_size,
            ),
        )
    await tell_queue(e2e, saved)
    return saved.availability


async def tell_queue(e2e: E2EStack, saved: SavedAvailability) -> None:
    if saved.notice is not None:
        await notify_queue(e2e.settings, saved.notice)


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
