"""Scheduled proving on the real chain (issue "Proving at scale", point 5): anvil mining a block a
second, the development marketplace, the Temporal dev server, and the real market activities
(`OnChainMarket`, JSON-RPC batches). One host holds many slots of one request; the scheduler
reads them all once per period and wakes the ones the chain asks a proof of.

The chain itself judges every watched period: right after a period ends, the validator's view
`canMarkProofAsMissing` is asked for each slot. "ProofNotMissing" means our proof landed,
"ProofNotRequired" that none was due; a call that does not revert is a missed proof. Proofs are
placeholders the development contract's TestVerifier accepts (real Groth16 proofs of real data
are what tests/e2e/test_sale_e2e.py shows, on this same scheduled path).

The second test terminates the scheduler mid-run while the host's keeper (worker.py,
`keep_scheduler`, on the wall clock as in the worker) keeps it: the chain shows each slot
missing at most `LOST_AT_MOST` period.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.worker import Worker
from web3 import AsyncHTTPProvider, AsyncWeb3

from activities.market import MarketActivities
from benchmarks.bench_sale import dev_server
from chain.client import OnChainClient
from chain.config import MarketplaceConfig as DeployConfig
from chain.deploy import deploy_marketplace
from chain.fake import MOCK_CONFIG
from chain.onchain import RevertError
from deploy.local.anvil import AnvilNode, dev_accounts
from sales.api import (
    CHAIN_TX_TASK_QUEUE,
    PROVING_TASK_QUEUE,
    SALES_TASK_QUEUE,
    SLOT_HOSTING_WORKFLOW,
    Activity,
    OnProveInput,
    SaleSettings,
    sale_workflow_id,
)
from sales.ids import slot_id
from sales.models import FillRecord, Groth16Proof, StorageRequest
from sales.periods import Periodicity
from sales.scheduling import SchedulerInput, SchedulerStats, scheduler_workflow_id
from tests.chain.scenarios import MINT, PROOF, make_request
from tests.workflows.test_scheduler import LOST_AT_MOST
from worker import keep_scheduler
from workflows.hosting import SlotHostingWorkflow
from workflows.sale_state import HostingInput, SaleData, SaleState, StateName
from workflows.scheduler import ProvingSchedulerWorkflow

pytestmark = [pytest.mark.real_stack]

SLOTS = 6
WATCHED = 2
PERIODS = Periodicity(seconds=MOCK_CONFIG.proofs.period)

proofs_made = 0


@activity.defn(name=Activity.PROVER_ON_PROVE)
async def placeholder_prove(prove: OnProveInput) -> Groth16Proof:
    """The TestVerifier accepts any proof but all zeros."""
    global proofs_made
    proofs_made += 1
    return PROOF


async def fund_and_fill(rpc_url: str) -> tuple[Any, OnChainClient, StorageRequest]:
    accounts = dev_accounts()
    deployment = await asyncio.to_thread(
        deploy_marketplace,
        rpc_url,
        accounts[0].private_key,
        DeployConfig.model_validate(MOCK_CONFIG.model_dump()),
        fund=[a.address for a in accounts[1:3]],
        mint_amount=MINT,
    )
    w3 = AsyncWeb3(AsyncHTTPProvider(rpc_url))
    client = OnChainClient(w3, deployment.marketplace, accounts[1].private_key, poll_interval=0.05)
    host = OnChainClient(w3, deployment.marketplace, accounts[2].private_key, poll_interval=0.05)
    request = make_request(
        await client.get_signer(), slots=SLOTS, max_slot_loss=2, proof_probability=2
    )
    assert await client.request_storage(request) is not None
    await asyncio.gather(*(host.reserve_slot(request.id, i) for i in range(SLOTS)))
    collateral = await host.slot_collateral(request.id, 0)
    for index in range(SLOTS):  # one approval at a time
        assert await host.fill_slot(request.id, index, PROOF, collateral) is not None
    return w3, host, request


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[tuple[OnChainClient, StorageRequest]]:
    node = AnvilNode.start(tmp_path / "anvil.log", block_time=1)
    try:
        w3, host, request = await fund_and_fill(node.rpc_url)
        yield host, request
        await w3.provider.disconnect()
    finally:
        node.stop()


def hosting(host: OnChainClient, request: StorageRequest, index: int, end: int) -> HostingInput:
    return HostingInput(
        data=SaleData(
            request_id=request.id,
            slot_index=index,
            slot_id=slot_id(request.id, index),
            settings=SaleSettings(scheduled_proving=True),
            state=SaleState(name=StateName.PROVING),
            request=request,
            request_end=end,
            signer=host.address,
            fill=FillRecord.LANDED,
            released=True,
        )
    )


async def verdict(host: OnChainClient, sid: str, period: int) -> str:
    """The chain's word on one slot-period, asked within the validation timeout."""
    data = host._encode("canMarkProofAsMissing", [bytes.fromhex(sid[2:]), period])
    try:
        await host._call_raw(data)
    except RevertError as error:
        return str(error.reason)
    return "missing"


async def test_many_slots_are_proven_with_one_scheduler_read_per_period(
    chain: tuple[OnChainClient, StorageRequest],
) -> None:
    """No period is missed on chain for any of the host's slots, a fraction of them needed a
    proof, the scheduler read exactly once per period, and each hosting workflow read the chain
    itself only when it started (and after a pointer wrap in a due period)."""
    host, request = chain
    end = await host.request_end(request.id)
    market = MarketActivities(host)
    async with await dev_server() as env:
        client: Client = env.client
        async with (
            Worker(
                client,
                task_queue=SALES_TASK_QUEUE,
                workflows=[SlotHostingWorkflow, ProvingSchedulerWorkflow],
                activities=market.reads(),
            ),
            Worker(client, task_queue=CHAIN_TX_TASK_QUEUE, activities=market.transactions()),
            Worker(client, task_queue=PROVING_TASK_QUEUE, activities=[placeholder_prove]),
        ):
            scheduler = await client.start_workflow(
                ProvingSchedulerWorkflow.run,
                SchedulerInput(host=host.address),
                id=scheduler_workflow_id(host.address),
                task_queue=SALES_TASK_QUEUE,
            )
            handles = [
                await client.start_workflow(
                    SLOT_HOSTING_WORKFLOW,
                    hosting(host, request, i, end),
                    id=sale_workflow_id(slot_id(request.id, i)),
                    task_queue=SALES_TASK_QUEUE,
                )
                for i in range(SLOTS)
            ]

            async def stats() -> SchedulerStats:
                result: SchedulerStats = await scheduler.query("stats", result_type=SchedulerStats)
                return result

            deadline = time.monotonic() + 60
            while (await stats()).slots < SLOTS or (await stats()).last_period is None:
                assert time.monotonic() < deadline, "every slot registered with the scheduler"
                await asyncio.sleep(0.2)
            before = await stats()
            first = PERIODS.period_of(await host.current_time()) + 1
            verdicts: list[str] = []
            for period in range(first, first + WATCHED):
                while await host.current_time() < PERIODS.period_end(period) + 1:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)  # chain time: blocks, not a condition to wait on
                ids = [slot_id(request.id, i) for i in range(SLOTS)]
                verdicts += await asyncio.gather(*(verdict(host, sid, period) for sid in ids))
            after = await stats()
            hosting_reads = []
            for handle in handles:
                history = await handle.fetch_history()
                hosting_reads.append(
                    sum(
                        e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                        and e.activity_task_scheduled_event_attributes.activity_type.name
                        == Activity.MARKET_PROVING_STATUS
                        for e in history.events
                    )
                )
            for handle in [*handles, scheduler]:
                with contextlib.suppress(RPCError):
                    await handle.terminate("test over")
    assert "missing" not in verdicts, f"a proof the chain asked for is missing: {verdicts}"
    assert set(verdicts) <= {"Proofs_ProofNotMissing", "Proofs_ProofNotRequired"}, verdicts
    assert verdicts.count("Proofs_ProofNotMissing") > 0, "a fraction of the slots proved"
    assert proofs_made >= verdicts.count("Proofs_ProofNotMissing")
    periods_read = (after.last_period or 0) - (before.last_period or 0)
    assert periods_read >= WATCHED
    assert after.reads - before.reads == periods_read, "exactly one read per period"
    proven = verdicts.count("Proofs_ProofNotMissing")
    assert sum(hosting_reads) <= SLOTS + proven, (
        "no hosting workflow polled: one read when it started, at most one more in a due period"
        " (the new challenge after a pointer wrap)"
    )


AFTER_KILL = 3
"""Periods watched after the one the scheduler was terminated in."""


async def test_a_terminated_scheduler_is_started_again_and_the_slots_keep_proving(
    chain: tuple[OnChainClient, StorageRequest],
) -> None:
    """The keeper starts the scheduler (as the sales role does at start-up), the slots prove;
    then the scheduler is terminated just after a period's read. The keeper starts a new run
    within the period, that run watches the host's slots read from `mySlots` (no hosting
    workflow registers again), and the chain's validator view shows each slot missing at most
    `LOST_AT_MOST` period, none after the one it was terminated in."""
    host, request = chain
    end = await host.request_end(request.id)
    market = MarketActivities(host)
    ids = [slot_id(request.id, i) for i in range(SLOTS)]

    async def period_seconds() -> int:
        return PERIODS.seconds

    async def until_chain_time(at: int) -> None:
        while await host.current_time() < at:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # chain time: blocks, not a condition to wait on

    async with await dev_server() as env:
        client: Client = env.client
        scheduler = client.get_workflow_handle(scheduler_workflow_id(host.address))

        async def stats() -> SchedulerStats:
            result: SchedulerStats = await scheduler.query("stats", result_type=SchedulerStats)
            return result

        async with (
            Worker(
                client,
                task_queue=SALES_TASK_QUEUE,
                workflows=[SlotHostingWorkflow, ProvingSchedulerWorkflow],
                activities=market.reads(),
            ),
            Worker(client, task_queue=CHAIN_TX_TASK_QUEUE, activities=market.transactions()),
            Worker(client, task_queue=PROVING_TASK_QUEUE, activities=[placeholder_prove]),
        ):
            keeper = asyncio.create_task(keep_scheduler(client, host.address, period_seconds))
            handles: list[Any] = []
            try:
                deadline = time.monotonic() + 60
                while True:
                    with contextlib.suppress(RPCError):
                        if (await scheduler.describe()).status == WorkflowExecutionStatus.RUNNING:
                            break
                    assert time.monotonic() < deadline, "the keeper started the scheduler"
                    await asyncio.sleep(0.2)
                for i in range(SLOTS):
                    handles.append(
                        await client.start_workflow(
                            SLOT_HOSTING_WORKFLOW,
                            hosting(host, request, i, end),
                            id=sale_workflow_id(ids[i]),
                            task_queue=SALES_TASK_QUEUE,
                        )
                    )
                deadline = time.monotonic() + 60
                while (await stats()).slots < SLOTS or (await stats()).last_period is None:
                    assert time.monotonic() < deadline, "every slot watched by the scheduler"
                    await asyncio.sleep(0.2)
                first = PERIODS.period_of(await host.current_time()) + 1
                killed = first + 1
                verdicts: dict[int, list[str]] = {}
                first_run = ""
                for period in range(first, killed + AFTER_KILL + 1):
                    await until_chain_time(PERIODS.period_end(period) + 1)
                    verdicts[period] = list(
                        await asyncio.gather(*(verdict(host, sid, period) for sid in ids))
                    )
                    if period == first:  # 2 s into `killed`: just after the scheduler's read
                        await until_chain_time(PERIODS.period_start(killed) + 2)
                        first_run = (await scheduler.describe()).run_id or ""
                        await scheduler.terminate("an operator ends the scheduler")
                described = await scheduler.describe()
                after = await stats()
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
                for handle in [*handles, scheduler]:
                    with contextlib.suppress(RPCError):
                        await handle.terminate("test over")
    print(f"terminated in period {killed}; verdicts: {verdicts}")
    assert described.run_id != first_run and described.status == WorkflowExecutionStatus.RUNNING
    assert after.slots == SLOTS, "the new run watches every slot of the host, from the chain"
    assert after.reads >= AFTER_KILL, "the new run read every period after the termination"
    every = [v for period in verdicts.values() for v in period]
    assert set(every) <= {"missing", "Proofs_ProofNotMissing", "Proofs_ProofNotRequired"}, every
    assert every.count("Proofs_ProofNotMissing") > 0, "a fraction of the slots proved"
    for index in range(SLOTS):
        missed = [p for p, found in verdicts.items() if found[index] == "missing"]
        assert len(missed) <= LOST_AT_MOST, f"slot {index} missed periods {missed}"
        assert all(p <= killed for p in missed), f"slot {index} missed after the restart: {missed}"
