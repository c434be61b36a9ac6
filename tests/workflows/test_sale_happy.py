"""The typical happy path (SALES_BEHAVIOUR §6 'Typical happy path') and its cleanup."""

from sales.api import Activity
from tests.workflows.conftest import SaleRunner
from workflows.sale_state import StateName


async def test_happy_path_preparing_to_finished(sales: SaleRunner) -> None:
    sale = await sales.start()
    outcome = await sale.result()
    assert outcome.state == StateName.FINISHED
    fake = sale.fake
    names = fake.names()
    assert names.index(Activity.LEDGER_CREATE_RESERVATION) < names.index(
        Activity.MARKET_RESERVE_SLOT
    )
    assert names.index(Activity.MARKET_FILL_SLOT) < names.index(Activity.MARKET_FREE_SLOT)
    # ST-PAY-1: collateral read before freeSlot comes back exactly
    [close] = fake.payloads(Activity.LEDGER_CLOSE_RESERVATION)
    assert close.returned_collateral == fake.current_collateral
    assert outcome.periods > 0
    released = await sale.released()
    assert len(released) == 1 and not released[0].reprocess
