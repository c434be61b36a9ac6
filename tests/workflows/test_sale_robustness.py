"""Beyond ST-FILL-2 and ST-PREP-3: stale initial proofs are proven again; ended requests skipped.

Proving can outlast a period (or meet a pointer wrap), after which the chain's challenge differs
from the one proven and fillSlot reverts with Proofs_InvalidProof. Nothing was deposited, so the
sale proves again for the current challenge instead of giving the slot up; a proof the chain
keeps refusing still ends in Errored with everything returned.
"""

from typing import Any

from sales.api import Activity, ErrorType
from tests.workflows.conftest import SaleRunner
from tests.workflows.fakes import FakeSale, an_availability
from workflows.sale import MAX_STALE_PROOFS
from workflows.sale_state import StateName

FULL = 300  # collateralPerSlot of the fake request


def refuse_fills(fake: FakeSale, times: int) -> None:
    """The chain refuses the first ``times`` fills as carrying an invalid proof."""
    fake.fail_with[Activity.MARKET_FILL_SLOT] = ErrorType.PROOF_INVALID
    enter = fake._enter
    refused = 0

    async def counting(name: Activity, arg: Any) -> None:
        nonlocal refused
        if name == Activity.MARKET_FILL_SLOT:
            refused += 1
            if refused > times:
                fake.fail_with.pop(Activity.MARKET_FILL_SLOT, None)
        await enter(name, arg)

    fake._enter = counting  # type: ignore[method-assign]


async def test_a_stale_initial_proof_is_proven_again_and_the_sale_finishes(
    sales: SaleRunner,
) -> None:
    fake = FakeSale(availability=an_availability())
    refuse_fills(fake, times=1)
    outcome = await (await sales.start(fake)).result()
    assert outcome.state == StateName.FINISHED
    assert fake.names().count(Activity.PROVER_ON_PROVE) >= 2, "proved again after the refusal"
    assert fake.names().count(Activity.MARKET_FILL_SLOT) == 2


async def test_a_proof_the_chain_keeps_refusing_ends_in_errored_with_collateral_back(
    sales: SaleRunner,
) -> None:
    fake = FakeSale(availability=an_availability())
    refuse_fills(fake, times=MAX_STALE_PROOFS + 1)
    outcome = await (await sales.start(fake)).result()
    assert outcome.state == StateName.ERRORED
    assert fake.names().count(Activity.MARKET_FILL_SLOT) == MAX_STALE_PROOFS + 1
    [close] = fake.payloads(Activity.LEDGER_CLOSE_RESERVATION)
    assert close.returned_collateral == FULL, "never deposited, so all of it comes back"


async def test_a_slot_of_an_ended_request_is_ignored_before_reserving(sales: SaleRunner) -> None:
    """Beyond ST-PREP-3: a cancelled request's slot reads Free but can never be filled."""
    from sales.models import RequestState

    fake = FakeSale(availability=an_availability())
    fake.request_state = RequestState.Cancelled
    outcome = await (await sales.start(fake)).result()
    assert outcome.state == StateName.IGNORED and not outcome.reprocess
    assert Activity.LEDGER_CREATE_RESERVATION not in fake.names()
    assert Activity.STORE_ON_STORE not in fake.names()
