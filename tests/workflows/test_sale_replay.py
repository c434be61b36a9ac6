"""Replay of recorded sale histories (ARCHITECTURE §3 versioning, TEMPORAL_PRACTICES §3).

`tests/histories/sale_*.json` were recorded from these scenarios. Any change to the workflow
code that would break a running sale fails the replay. Re-record deliberately (after adding a
`workflow.patched` branch) with:  SALE_RECORD_HISTORIES=1 .venv/bin/python -m pytest \
tests/workflows/test_sale_replay.py
"""

import dataclasses
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from sales.api import Activity, SaleSettings, SaleSignal
from sales.models import RequestState, SlotState
from tests.workflows.conftest import Sale, SaleRunner
from tests.workflows.fakes import HOST, FakeSale, Gate, an_availability, make_request
from workflows import ALL_WORKFLOWS

HISTORIES = Path(__file__).parent.parent / "histories"
RECORD = os.environ.get("SALE_RECORD_HISTORIES") == "1"


async def happy_with_continue_as_new(sales: SaleRunner) -> Sale:
    fake = FakeSale(availability=an_availability(), request=make_request(duration=40))
    sale = await sales.start(fake, settings=SaleSettings(periods_per_run=2))
    await sale.result()
    return sale


async def cancelled_while_downloading(sales: SaleRunner) -> Sale:
    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.STORE_ON_STORE] = Gate()
    sale = await sales.start(fake)
    await sale.held(Activity.STORE_ON_STORE)
    await sale.signal(SaleSignal.REQUEST_CANCELLED)
    await sale.result()
    return sale


async def ignored_without_availability(sales: SaleRunner) -> Sale:
    sale = await sales.start(FakeSale(availability=None))
    await sale.result()
    return sale


async def acquisition_until_hand_over(sales: SaleRunner) -> Sale:
    """The acquisition run alone: Preparing to the landed fill, then continue-as-new."""
    fake = FakeSale(availability=an_availability())
    sale = await sales.start(fake)
    await sale.result()
    first = sale.handle.first_execution_run_id
    handle = sale.env.client.get_workflow_handle(sale.handle.id, run_id=first)
    return dataclasses.replace(sale, handle=handle)


async def hosting_recovery_failed(sales: SaleRunner) -> Sale:
    """Hosting at the recovery entry, settling a failed request (recorded before the
    free-failed-slot patch: no freeSlot)."""
    fake = FakeSale(slot_state=SlotState.Failed, host=HOST, request_state=RequestState.Failed)
    sale = await sales.start(fake, recovery=True, with_item=False, queue=False)
    await sale.result()
    return sale


async def hosting_failed_leaves_my_slots(sales: SaleRunner) -> Sale:
    """The period's read finds the request failed: freeSlot takes the slot off mySlots (the
    free-failed-slot patch), the ledger gets nothing back."""
    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.PROVER_ON_PROVE] = gate = Gate(skip=1)
    sale = await sales.start(fake)
    await sale.held(Activity.PROVER_ON_PROVE)
    fake.slot_state, fake.request_state = SlotState.Failed, RequestState.Failed
    gate.open()
    await sale.result()
    return sale


async def hosting_cancelled_on_chain(sales: SaleRunner) -> Sale:
    """The period's read finds the request cancelled: freeSlot refunds, the ledger settles."""
    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.PROVER_ON_PROVE] = gate = Gate(skip=1)
    sale = await sales.start(fake)
    await sale.held(Activity.PROVER_ON_PROVE)
    fake.slot_state, fake.request_state = SlotState.Cancelled, RequestState.Cancelled
    gate.open()
    await sale.result()
    return sale


async def hosting_event_wakes_proof(sales: SaleRunner) -> Sale:
    """A chain event cancels a running proof; the period's read sends it back to proving."""
    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.PROVER_ON_PROVE] = Gate(skip=1)
    sale = await sales.start(fake)
    await sale.held(Activity.PROVER_ON_PROVE)
    await sale.signal(SaleSignal.REQUEST_FAILED)
    await sale.result()
    return sale


SCENARIOS: dict[str, Callable[[SaleRunner], Awaitable[Sale]]] = {
    "sale_happy_continue_as_new": happy_with_continue_as_new,
    "sale_cancelled_downloading": cancelled_while_downloading,
    "sale_ignored_no_availability": ignored_without_availability,
    "sale_acquisition_until_hand_over": acquisition_until_hand_over,
    "sale_hosting_recovery_failed": hosting_recovery_failed,
    "sale_hosting_event_wakes_proof": hosting_event_wakes_proof,
    "sale_hosting_cancelled_on_chain": hosting_cancelled_on_chain,
    "sale_hosting_failed_leaves_my_slots": hosting_failed_leaves_my_slots,
}


def save(name: str, history: WorkflowHistory) -> None:
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(history.to_json())


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def replayer() -> Replayer:
    return Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_fresh_history_replays(sales: SaleRunner, name: str) -> None:
    """Replaying the run just made is deterministic (and records it when asked)."""
    sale = await SCENARIOS[name](sales)
    history = await sale.handle.fetch_history()  # the last run after continue-as-new
    await replayer().replay_workflow(history)
    if RECORD:
        save(name, history)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("sale_*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    await replayer().replay_workflow(load(path))


def test_histories_are_recorded() -> None:
    assert {p.stem for p in HISTORIES.glob("sale_*.json")} == set(SCENARIOS)
