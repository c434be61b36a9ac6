"""ST-* rules, named by ID: each scripts one branch and checks the end, cleanup and collateral.

Collateral decisions (ARCHITECTURE §4, COL-4, Q-6): everything never deposited on chain comes
back when ignored or errored before fill; after fill exactly what the chain returned.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from sales.api import Activity, ErrorType, SaleSettings, SaleSignal
from sales.models import FillRecord, Groth16Proof, RequestState, SlotState
from tests.workflows.conftest import SaleRunner
from tests.workflows.fakes import HOST, OTHER_HOST, FakeSale, Gate, an_availability
from workflows.sale_state import StateName

FULL = 300  # collateralPerSlot of the fake request: 3 per byte x 100 bytes
ON_CHAIN = 250  # currentCollateral the fake chain reports (after a slash, say)


@dataclass
class Case:
    rule: str
    script: Callable[[FakeSale], None]
    end: StateName
    returned: int | None
    reprocess: bool = False
    error: str | None = None
    closes: int = 1
    released: bool = True
    called: list[Activity] = field(default_factory=list)
    not_called: list[Activity] = field(default_factory=list)


def fails(activity: Activity, error: ErrorType) -> Callable[[FakeSale], None]:
    def script(fake: FakeSale) -> None:
        fake.fail_with[activity] = error

    return script


def setting(**values: object) -> Callable[[FakeSale], None]:
    def script(fake: FakeSale) -> None:
        for name, value in values.items():
            setattr(fake, name, value)

    return script


CASES = [
    Case(
        "happy path / ST-PAY-1 / ST-FIN-1",
        setting(),
        StateName.FINISHED,
        ON_CHAIN,
        called=[Activity.STORE_ON_CLEAR, Activity.MARKET_FREE_SLOT],
    ),
    Case(
        "ST-PREP-2",
        setting(request_known=False),
        StateName.ERRORED,
        None,
        error="request could not be retrieved",
        closes=0,
    ),
    Case(
        "ST-PREP-3",
        setting(slot_state=SlotState.Filled, host=OTHER_HOST),
        StateName.IGNORED,
        None,
        closes=0,
        not_called=[Activity.LEDGER_FIND_AVAILABILITY],
    ),
    Case(
        "ST-PREP-5", setting(availability=None), StateName.IGNORED, None, reprocess=True, closes=0
    ),
    Case(
        "ST-PREP-6 BytesOutOfBounds",
        fails(Activity.LEDGER_CREATE_RESERVATION, ErrorType.BYTES_OUT_OF_BOUNDS),
        StateName.IGNORED,
        None,
        reprocess=True,
        closes=0,
    ),
    Case(
        "ST-PREP-6 other error",
        fails(Activity.LEDGER_CREATE_RESERVATION, ErrorType.LEDGER),
        StateName.ERRORED,
        None,
        closes=0,
    ),
    Case(
        "ST-RESV-1",
        setting(can_reserve=False),
        StateName.IGNORED,
        FULL,
        not_called=[Activity.MARKET_RESERVE_SLOT],
    ),
    Case(
        "ST-RESV-2 not allowed",
        fails(Activity.MARKET_RESERVE_SLOT, ErrorType.SLOT_RESERVATION_NOT_ALLOWED),
        StateName.IGNORED,
        FULL,
    ),
    Case(
        "ST-RESV-2 market error",
        fails(Activity.MARKET_RESERVE_SLOT, ErrorType.MARKET),
        StateName.ERRORED,
        FULL,
        called=[Activity.STORE_ON_CLEAR],
    ),
    Case(
        "ST-DL-5",
        fails(Activity.STORE_ON_STORE, ErrorType.DATA_INVALID),
        StateName.ERRORED,
        FULL,
        not_called=[Activity.PROVER_ON_PROVE],
    ),
    Case(
        "ST-IPRV-4",
        fails(Activity.PROVER_ON_PROVE, ErrorType.PROVER_FAILED),
        StateName.ERRORED,
        FULL,
        not_called=[Activity.MARKET_FILL_SLOT],
    ),
    Case(
        "ST-FILL-2 mismatch",
        fails(Activity.MARKET_FILL_SLOT, ErrorType.SLOT_STATE_MISMATCH),
        StateName.IGNORED,
        FULL,
    ),
    Case(
        "ST-FILL-2 market error",
        fails(Activity.MARKET_FILL_SLOT, ErrorType.MARKET),
        StateName.ERRORED,
        FULL,
    ),
    Case(
        "ST-FILLED-3",
        setting(host_after_fill=OTHER_HOST),
        StateName.ERRORED,
        0,
        error="Slot filled by other host",
        not_called=[Activity.MARKET_FREE_SLOT],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
async def test_state_rule(sales: SaleRunner, case: Case) -> None:
    fake = FakeSale(availability=an_availability(), current_collateral=ON_CHAIN)
    case.script(fake)
    sale = await sales.start(fake)
    outcome = await sale.result()
    assert outcome.state == case.end
    if case.error is not None:
        assert outcome.error == case.error
    assert outcome.reprocess == case.reprocess
    closes = fake.payloads(Activity.LEDGER_CLOSE_RESERVATION)
    assert len(closes) == case.closes
    if closes:
        assert closes[0].returned_collateral == case.returned
    released = await sale.released()
    assert len(released) == 1  # SALES-5: exactly once
    assert released[0].reprocess == case.reprocess
    assert (released[0].item is not None) == case.reprocess
    for name in case.called:
        assert name in fake.names()
    for name in case.not_called:
        assert name not in fake.names()


@pytest.mark.parametrize(
    ("rule", "chain_state", "host", "end", "error", "returned"),
    [
        ("PRV-1 Repair", SlotState.Repair, None, StateName.ERRORED, "Slot was forcibly freed", 0),
        ("PRV-1 Free", SlotState.Free, None, StateName.ERRORED, "Slot was forcibly freed", 0),
        ("PRV-1 Paid", SlotState.Paid, HOST, StateName.FINISHED, None, ON_CHAIN),
        ("PRV-1 Finished", SlotState.Finished, HOST, StateName.FINISHED, None, ON_CHAIN),
        ("PRV-1 Failed", SlotState.Failed, HOST, StateName.ERRORED, "Sale failed", 0),
        ("PRV-1 Cancelled", SlotState.Cancelled, HOST, StateName.CANCELLED, None, ON_CHAIN),
    ],
)
async def test_proving_loop_follows_the_chain(
    sales: SaleRunner,
    rule: str,
    chain_state: SlotState,
    host: str | None,
    end: StateName,
    error: str | None,
    returned: int,
) -> None:
    """PRV-1 with the chain as the truth (ARCHITECTURE §8): the period's own read moves the
    sale, no event needed. Finished/Cancelled are freed and pay what the chain holds, Paid was
    already paid, Failed forfeits and sends freeSlot only to leave mySlots (ST-FAIL-1), a freed
    slot is gone."""
    gate = Gate(skip=1)
    fake = FakeSale(availability=an_availability(), finish_at=2**40, current_collateral=ON_CHAIN)
    fake.gates[Activity.PROVER_ON_PROVE] = gate
    sale = await sales.start(fake)
    await sale.held(Activity.PROVER_ON_PROVE)
    fake.slot_state, fake.host = chain_state, host
    gate.open()
    outcome = await sale.result()
    assert outcome.state == end
    if error:
        assert outcome.error is not None and outcome.error.startswith(error)
    [close] = fake.payloads(Activity.LEDGER_CLOSE_RESERVATION)
    assert close.returned_collateral == returned
    frees = chain_state in (SlotState.Finished, SlotState.Cancelled, SlotState.Failed)
    assert (Activity.MARKET_FREE_SLOT in fake.names()) == frees


async def test_a_forged_request_failed_never_frees_a_running_slot(sales: SaleRunner) -> None:
    """The issue's loss: a RequestFailed that was reorganised away, or sent by mistake, while the
    chain shows our slot Filled. It only wakes the period's read; the sale keeps proving, is
    paid at the end, and freeSlot is sent only once the slot is Finished."""
    fake = FakeSale(availability=an_availability(), current_collateral=ON_CHAIN)
    fake.gates[Activity.PROVER_ON_PROVE] = gate = Gate(skip=1)
    sale = await sales.start(fake)
    await sale.held(Activity.PROVER_ON_PROVE)
    await sale.signal(SaleSignal.REQUEST_FAILED)
    assert await sale.state() == StateName.PROVING
    gate.open()
    outcome = await sale.result()
    assert outcome.state == StateName.FINISHED
    assert outcome.proofs_submitted >= 2
    [close] = fake.payloads(Activity.LEDGER_CLOSE_RESERVATION)
    assert close.returned_collateral == ON_CHAIN


async def test_prv2_prover_failure_skips_the_period(sales: SaleRunner) -> None:
    """PRV-2: no submission when the prover fails; the loop goes on to Payout."""
    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.PROVER_ON_PROVE] = gate = Gate(skip=1)
    sale = await sales.start(fake)
    await sale.held(Activity.PROVER_ON_PROVE)
    fake.prover_fails = True
    gate.open()
    outcome = await sale.result()
    assert outcome.state == StateName.FINISHED
    assert outcome.proofs_submitted == 0
    assert outcome.periods >= 2


async def test_st_sim_1_every_third_proof_is_invalid(sales: SaleRunner) -> None:
    """ST-SIM-1: N = 3 over 6 rounds submits [p, p, 0, p, p, 0]; ProofInvalid is swallowed."""
    fake = FakeSale(availability=an_availability())
    fake.request = fake.request.model_copy(
        update={"ask": fake.request.ask.model_copy(update={"duration": 65})}
    )
    sale = await sales.start(fake, settings=SaleSettings(simulate_proof_failures=3))
    outcome = await sale.result()
    assert outcome.state == StateName.FINISHED
    submitted = [
        s.proof == Groth16Proof.zero() for s in fake.payloads(Activity.MARKET_SUBMIT_PROOF)
    ]
    assert submitted[:6] == [False, False, True, False, False, True]


async def test_st_iprv_3_waits_while_the_pointer_is_about_to_wrap(sales: SaleRunner) -> None:
    """ST-IPRV-2/3 (downtime 64): pointer 250 waits another period, pointer 100 proceeds."""
    fake = FakeSale(availability=an_availability(), pointers=[0, 250, 100])
    sale = await sales.start(fake)
    outcome = await sale.result()
    assert outcome.state == StateName.FINISHED
    names = fake.names()
    first_prove = names.index(Activity.PROVER_ON_PROVE)
    assert names[:first_prove].count(Activity.MARKET_PROVING_STATUS) == 3


async def test_a_proof_margin_as_long_as_the_period_errors_instead_of_waiting_forever(
    sales: SaleRunner,
) -> None:
    """A margin that leaves no time in any period would keep the sale in InitialProving for
    ever, holding its bytes; it ends Errored with the reason, returns all collateral and sends
    no fill (nothing of ours is on chain yet)."""
    fake = FakeSale(availability=an_availability())
    sale = await sales.start(fake, settings=SaleSettings(proof_margin_seconds=fake.period))
    outcome = await sale.result()
    assert outcome.state == StateName.ERRORED
    assert outcome.error is not None and "proof_margin_seconds" in outcome.error
    [close] = fake.payloads(Activity.LEDGER_CLOSE_RESERVATION)
    assert close.returned_collateral == FULL
    assert Activity.PROVER_ON_PROVE not in fake.names()
    assert Activity.MARKET_FILL_SLOT not in fake.names()
    assert len(await sale.released()) == 1


async def test_st_filled_2_expiry_update_and_release_at_filled(sales: SaleRunner) -> None:
    """ST-FILLED-2 / SALES-5: onSale, onExpiryUpdate(request end), queue released at Filled."""
    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.PROVER_ON_PROVE] = gate = Gate(skip=1)
    sale = await sales.start(fake)
    await sale.held(Activity.PROVER_ON_PROVE)
    released = await sale.released()
    assert len(released) == 1 and not released[0].reprocess  # worker freed before proving ends
    [update] = fake.payloads(Activity.STORE_ON_EXPIRY_UPDATE)
    assert update.expiry == fake.request_end
    assert Activity.STORE_ON_SALE in fake.names()
    gate.open()
    await sale.result()
    assert len(await sale.released()) == 1


@pytest.mark.parametrize(
    ("rule", "chain_state", "host", "end", "next_call"),
    [
        ("ST-UNK-2 Free", SlotState.Free, None, StateName.ERRORED, None),
        (
            "ST-UNK-2 Filled",
            SlotState.Filled,
            HOST,
            StateName.FINISHED,
            Activity.MARKET_SUBMIT_PROOF,
        ),
        (
            "ST-UNK-2 Finished",
            SlotState.Finished,
            HOST,
            StateName.FINISHED,
            Activity.MARKET_FREE_SLOT,
        ),
        ("ST-UNK-2 Paid", SlotState.Paid, HOST, StateName.FINISHED, None),
        ("ST-UNK-2 Failed", SlotState.Failed, HOST, StateName.ERRORED, Activity.MARKET_FREE_SLOT),
        (
            "ST-UNK-2 Cancelled",
            SlotState.Cancelled,
            HOST,
            StateName.CANCELLED,
            Activity.MARKET_FREE_SLOT,
        ),
        ("ST-UNK-2 Repair", SlotState.Repair, OTHER_HOST, StateName.ERRORED, None),
    ],
)
async def test_recovery_entry_maps_the_chain_state(
    sales: SaleRunner,
    rule: str,
    chain_state: SlotState,
    host: str | None,
    end: StateName,
    next_call: Activity | None,
) -> None:
    fake = FakeSale(slot_state=chain_state, host=host, request_state=RequestState.Started)
    sale = await sales.start(fake, recovery=True, with_item=False, queue=False)
    outcome = await sale.result()
    assert outcome.state == end
    if next_call is not None:
        assert next_call in fake.names()
    if chain_state == SlotState.Paid:
        assert Activity.MARKET_FREE_SLOT not in fake.names(), "no payout or refund to collect"


async def test_st_can_1_before_fill_returns_the_undeposited_collateral(sales: SaleRunner) -> None:
    """ST-CAN-1 + Q-6 decision: cancelled before fill → no freeSlot, full collateral back."""
    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.STORE_ON_STORE] = Gate()
    sale = await sales.start(fake)
    await sale.held(Activity.STORE_ON_STORE)
    await sale.signal(SaleSignal.REQUEST_CANCELLED)  # cancels the held download
    outcome = await sale.result()
    assert outcome.state == StateName.CANCELLED
    assert Activity.MARKET_FREE_SLOT not in fake.names()
    [close] = fake.payloads(Activity.LEDGER_CLOSE_RESERVATION)
    assert close.returned_collateral == FULL
    assert Activity.STORE_ON_CLEAR in fake.names()  # ST-CAN-2


async def test_fill_landing_while_cancel_arrives_is_settled_by_the_chain(
    sales: SaleRunner,
) -> None:
    """A shielded fill completes before the event applies. Once it landed the chain decides:
    here it shows the request cancelled, so hosting frees our slot for the refund (ST-CAN-1)."""
    fake = FakeSale(
        availability=an_availability(),
        current_collateral=ON_CHAIN,
        slot_state_after_fill=SlotState.Cancelled,
        request_state_after_fill=RequestState.Cancelled,
    )
    fake.gates[Activity.MARKET_FILL_SLOT] = gate = Gate()
    sale = await sales.start(fake)
    await sale.held(Activity.MARKET_FILL_SLOT)
    await sale.signal(SaleSignal.REQUEST_CANCELLED)
    assert await sale.state() == StateName.FILLING
    gate.open()
    outcome = await sale.result()
    assert outcome.state == StateName.CANCELLED
    assert Activity.MARKET_FREE_SLOT in fake.names()
    [close] = fake.payloads(Activity.LEDGER_CLOSE_RESERVATION)
    assert close.returned_collateral == ON_CHAIN
    assert fake.fill_records == [FillRecord.SENT, FillRecord.LANDED]


async def test_st_fail_1_a_failed_request_forfeits_and_leaves_my_slots(
    sales: SaleRunner,
) -> None:
    """ST-FAIL-1 as the chain has it: the request failed, so the collateral is forfeited and
    nothing comes back; freeSlot on the Failed slot only takes it off this host's mySlots (so
    reconciliation never adopts it again), and the sale ends Errored('Sale failed')."""
    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.PROVER_ON_PROVE] = Gate(skip=1)
    sale = await sales.start(fake)
    await sale.held(Activity.PROVER_ON_PROVE)
    fake.slot_state, fake.request_state = SlotState.Failed, RequestState.Failed
    await sale.signal(SaleSignal.REQUEST_FAILED)  # wakes the held proof's period at once
    outcome = await sale.result()
    assert (outcome.state, outcome.error) == (StateName.ERRORED, "Sale failed")
    assert Activity.MARKET_FREE_SLOT in fake.names()
    [close] = fake.payloads(Activity.LEDGER_CLOSE_RESERVATION)
    assert close.returned_collateral == 0


async def test_availability_saved_notice_reaches_the_queue(sales: SaleRunner) -> None:
    """SALES-14 / Q-10: the close's committed notice is forwarded to the queue."""
    from sales.api import AvailabilitySaved

    fake = FakeSale(availability=None)
    fake.availability = an_availability()
    fake.can_reserve = False
    notice = AvailabilitySaved(availability_id=fake.availability.id, enabled=True)
    fake.saved_notice = notice
    sale = await sales.start(fake)
    await sale.result()
    assert await sale.saved() == [notice]
