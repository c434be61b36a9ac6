"""SlotHosting under faults (ARCHITECTURE §8): transient faults only delay a hosted sale, the
challenge is proven again when it went stale, the pointer wrap is waited for, and a bug fails
the workflow task instead of running cleanup."""

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from sales.api import Activity, ErrorType
from tests.workflows.conftest import SaleRunner, eventually
from tests.workflows.fakes import FakeSale, Gate, an_availability, make_request
from workflows.sale_state import StateName

OLD_READ_ATTEMPTS = 10
"""Round 1 gave a read up after this many attempts, then abandoned the slot."""


def _challenge_pointer(challenge: str) -> int:
    """The fake chain writes the read's pointer into the low half of the challenge."""
    return int(challenge[-32:], 16)


async def test_an_outage_while_hosting_never_ends_the_sale(sales: SaleRunner) -> None:
    """Five times round 1's read window of failures in Proving: the sale waits them out and is
    paid, instead of erroring and clearing the data of a slot it still holds."""
    fake = FakeSale(availability=an_availability(), request=make_request(duration=60))
    fake.gates[Activity.PROVER_ON_PROVE] = gate = Gate(skip=1)
    sale = await sales.start(fake)
    await sale.held(Activity.PROVER_ON_PROVE)
    fake.transient[Activity.MARKET_PROVING_STATUS] = 5 * OLD_READ_ATTEMPTS
    gate.open()
    outcome = await sale.result()
    assert outcome.state == StateName.FINISHED
    assert fake.transient[Activity.MARKET_PROVING_STATUS] == 0, "every failed read was retried"
    [close] = fake.payloads(Activity.LEDGER_CLOSE_RESERVATION)
    assert close.returned_collateral == fake.current_collateral
    assert fake.names().count(Activity.STORE_ON_CLEAR) == 1, "cleared once, at the settled end"


async def test_a_stale_challenge_is_proven_again_within_the_period(sales: SaleRunner) -> None:
    """The issue's loss: the pointer wrapped before the proof landed, so submitProof reverted
    with an invalid proof. The sale reads the new challenge and proves again, same period."""
    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.PROVER_ON_PROVE] = gate = Gate(skip=1)
    sale = await sales.start(fake)
    await sale.held(Activity.PROVER_ON_PROVE)
    fake.fail_once[Activity.MARKET_SUBMIT_PROOF] = ErrorType.PROOF_INVALID
    gate.open()
    outcome = await sale.result()
    assert outcome.state == StateName.FINISHED
    data = await sale.data()
    assert data.missed_periods == 0, "the refused proof's period was still proven"
    submissions = fake.payloads(Activity.MARKET_SUBMIT_PROOF)
    assert len(submissions) == outcome.proofs_submitted + 1, "one refusal, then a new proof"


async def test_a_pointer_about_to_wrap_waits_and_proves_the_new_challenge(
    sales: SaleRunner,
) -> None:
    """A period's read shows the pointer at 254: the challenge changes after one block, too
    soon for a proof to land. The sale waits for the wrap and proves the next challenge."""
    fake = FakeSale(availability=an_availability(), pointers=[100, 100, 254, 3])
    sale = await sales.start(fake)
    outcome = await sale.result()
    assert outcome.state == StateName.FINISHED
    proofs = fake.payloads(Activity.PROVER_ON_PROVE)
    periodic = [_challenge_pointer(p.challenge) for p in proofs[1:]]
    assert periodic[0] == 3, "the first periodic proof is for the challenge after the wrap"
    assert 254 not in periodic, "the stale challenge was never proven"
    assert (await sale.data()).missed_periods == 0


async def test_a_bug_fails_the_workflow_task_and_runs_no_cleanup(sales: SaleRunner) -> None:
    """A value no chain can return (a pointer beyond uint8) raises a ValueError in the
    workflow: that is a bug, not a chain outcome, so the workflow task fails and is retried
    until a fixed worker replays it. The sale stays running; nothing is cleared or closed."""
    fake = FakeSale(availability=an_availability(), pointers=[100, 100, 300])
    fake.gates[Activity.PROVER_ON_PROVE] = gate = Gate(skip=0)
    sale = await sales.start(fake)

    async def task_failed() -> bool:
        history = await sale.handle.fetch_history()
        return any(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events
        )

    gate.open()
    await eventually(task_failed, deadline=30)
    described = await sale.handle.describe()
    assert described.status == WorkflowExecutionStatus.RUNNING, "the sale is not ended"
    assert Activity.STORE_ON_CLEAR not in fake.names()
    assert Activity.LEDGER_CLOSE_RESERVATION not in fake.names()
    await sale.handle.terminate("test over")
