"""Every cell of the event-handler matrix (SALES_BEHAVIOUR §5, AGENT-6..8, SM-3/4, Q-8).

Each case holds the sale inside one state on a gated activity, sends the chain event, then
lets the step go on. A moving event ends where the matrix says; an ignored one ("-") leaves the
scenario's natural end unchanged.
"""

from dataclasses import dataclass, field

import pytest

from sales.api import Activity, ErrorType, SaleSettings, SaleSignal
from sales.models import RequestState, SlotState
from tests.workflows.conftest import Sale, SaleRunner
from tests.workflows.fakes import HOST, FakeSale, Gate, an_availability
from workflows.sale_matrix import EVENT_MATRIX, SaleEvent
from workflows.sale_state import StateName


@dataclass
class Scenario:
    """How to hold a sale in `state`, and where it ends when nothing moves it."""

    hold: Activity
    natural_end: StateName
    skip: int = 0
    recovery: bool = False
    settings: SaleSettings = field(default_factory=SaleSettings)
    fail_with: dict[Activity, ErrorType] = field(default_factory=dict)
    can_reserve: bool = True
    before: SaleSignal | None = None
    """An event sent first to reach the state (Cancelled, Failed)."""
    before_hold: Activity | None = None
    shielded: bool = False
    """The held activity finishes before any event applies (a transaction, or cleanup)."""
    settles_in: StateName | None = None
    """A hosted end is settled by the step that leads to it, so the sale is held there."""
    chain_fails: bool = False
    """The chain shows the request failed after the fill (a hosted sale learns it there)."""


SCENARIOS: dict[StateName, Scenario] = {
    StateName.PREPARING: Scenario(Activity.MARKET_GET_REQUEST, StateName.FINISHED),
    StateName.SLOT_RESERVING: Scenario(Activity.MARKET_CAN_RESERVE_SLOT, StateName.FINISHED),
    StateName.DOWNLOADING: Scenario(Activity.STORE_ON_STORE, StateName.FINISHED),
    StateName.INITIAL_PROVING: Scenario(Activity.PROVER_ON_PROVE, StateName.FINISHED),
    StateName.FILLING: Scenario(Activity.MARKET_SLOT_COLLATERAL, StateName.FINISHED),
    StateName.FILLED: Scenario(Activity.STORE_ON_EXPIRY_UPDATE, StateName.FINISHED),
    StateName.PROVING: Scenario(Activity.PROVER_ON_PROVE, StateName.FINISHED, skip=1),
    StateName.PROVING_SIMULATED: Scenario(
        Activity.PROVER_ON_PROVE,
        StateName.FINISHED,
        skip=1,
        settings=SaleSettings(simulate_proof_failures=5),
    ),
    StateName.PAYOUT: Scenario(Activity.MARKET_FREE_SLOT, StateName.FINISHED, shielded=True),
    StateName.UNKNOWN: Scenario(Activity.MARKET_GET_REQUEST, StateName.FINISHED, recovery=True),
    StateName.FINISHED: Scenario(
        Activity.LEDGER_CLOSE_RESERVATION,
        StateName.FINISHED,
        shielded=True,
        settles_in=StateName.PAYOUT,
    ),
    StateName.ERRORED: Scenario(
        Activity.LEDGER_CLOSE_RESERVATION,
        StateName.ERRORED,
        fail_with={Activity.MARKET_RESERVE_SLOT: ErrorType.MARKET},
        shielded=True,
    ),
    StateName.IGNORED: Scenario(
        Activity.LEDGER_CLOSE_RESERVATION,
        StateName.IGNORED,
        can_reserve=False,
        shielded=True,
    ),
    StateName.CANCELLED: Scenario(
        Activity.LEDGER_CLOSE_RESERVATION,
        StateName.CANCELLED,
        before=SaleSignal.REQUEST_CANCELLED,
        before_hold=Activity.MARKET_CAN_RESERVE_SLOT,
        shielded=True,
    ),
    StateName.FAILED: Scenario(
        Activity.LEDGER_CLOSE_RESERVATION,
        StateName.ERRORED,
        chain_fails=True,
        shielded=True,
    ),
}

EVENT_SIGNALS = {
    SaleEvent.CANCELLED: SaleSignal.REQUEST_CANCELLED,
    SaleEvent.FAILED: SaleSignal.REQUEST_FAILED,
    SaleEvent.SLOT_FILLED: SaleSignal.SLOT_FILLED,
}

END_OF = {
    StateName.CANCELLED: StateName.CANCELLED,
    StateName.FAILED: StateName.ERRORED,  # ST-FAIL-1 ends in Errored("Sale failed")
    StateName.FILLED: StateName.ERRORED,  # ST-FILLED-3: another host filled it
}

CELLS = [(state, event) for state in EVENT_MATRIX for event in SaleEvent]


def scripted(scenario: Scenario, hold: Gate, first: Gate | None) -> FakeSale:
    fake = FakeSale(
        availability=an_availability(),
        can_reserve=scenario.can_reserve,
        fail_with=dict(scenario.fail_with),
    )
    fake.gates[scenario.hold] = hold
    if first is not None and scenario.before_hold is not None:
        fake.gates[scenario.before_hold] = first
    if scenario.chain_fails:
        fake.slot_state_after_fill = SlotState.Failed
        fake.request_state_after_fill = RequestState.Failed
    if scenario.recovery:
        fake.slot_state = SlotState.Filled
        fake.host = HOST
        fake.request_state = RequestState.Started
    return fake


async def reach(sales: SaleRunner, state: StateName) -> Sale:
    scenario = SCENARIOS[state]
    hold = Gate(skip=scenario.skip)
    first = Gate() if scenario.before is not None else None
    fake = scripted(scenario, hold, first)
    sale = await sales.start(
        fake,
        recovery=scenario.recovery,
        settings=scenario.settings,
        with_item=not scenario.recovery,
        queue=not scenario.recovery,
    )
    if scenario.before is not None and first is not None and scenario.before_hold is not None:
        await sale.held(scenario.before_hold)
        await sale.signal(scenario.before, key="0xbefore:0", slot_index=0)
        first.open()
    await sale.held(scenario.hold)
    assert await sale.state() == (scenario.settles_in or state)
    return sale


@pytest.mark.parametrize(("state", "event"), CELLS, ids=[f"{s}-{e}" for s, e in CELLS])
async def test_event_matrix_cell(sales: SaleRunner, state: StateName, event: SaleEvent) -> None:
    """SM-3 / AGENT-7 / AGENT-8 / Q-8: the matrix cell decides the next state. While hosting
    (ARCHITECTURE §8) an event only wakes the period's chain read: it cancels the held proof,
    and as the chain still shows the slot running, the sale proves again and ends normally."""
    sale = await reach(sales, state)
    await sale.signal(EVENT_SIGNALS[event], key=f"0xevent:{event}", slot_index=0)
    target = EVENT_MATRIX[state].get(event)
    wakes = target == state
    if target is None or SCENARIOS[state].shielded:
        sale.fake.gates[SCENARIOS[state].hold].open()  # else the event cancels the held call
    outcome = await sale.result()
    moved = target is not None and not wakes
    expected = END_OF[target] if target is not None and moved else SCENARIOS[state].natural_end
    assert outcome.state == expected
    if wakes:
        proofs = sale.fake.payloads(Activity.PROVER_ON_PROVE)
        assert len(proofs) >= 3, "the interrupted proof was made again after the chain read"
    if target == StateName.FAILED:
        assert outcome.error == "Sale failed"
    if target == StateName.FILLED:
        assert outcome.error == "Slot filled by other host"
