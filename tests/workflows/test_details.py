"""The sale's current details in the Web UI (issue: the operator's surface, point 6): one line
gives the state, the period, proofs submitted and missed, collateral on chain and the next
deadline."""

from sales.ids import slot_id
from workflows.details import details_of, headline
from workflows.sale_state import SaleData, SaleState, StateName

REQUEST = "0x" + "12" * 32


def a_sale(**fields: object) -> SaleData:
    return SaleData(
        request_id=REQUEST,
        slot_index=1,
        slot_id=slot_id(REQUEST, 1),
        state=SaleState(name=StateName.PROVING),
        **fields,  # type: ignore[arg-type]
    )


def test_the_first_line_tells_the_story() -> None:
    sale = a_sale(current_period=57, proofs_submitted=4, missed_periods=1,
                  collateral_on_chain=20000, next_deadline=1_800_000_000, periods=5)  # fmt: skip
    assert headline(sale) == (
        "**Proving** · period 57 · proofs 4 submitted / 1 missed · collateral 20000 on chain"
        " · next deadline 2027-01-15 08:00:00 UTC"
    )
    details = details_of(sale)
    assert details.splitlines()[0] == headline(sale)
    assert f"slot id `{slot_id(REQUEST, 1)}`" in details


def test_before_the_fill_nothing_is_on_chain() -> None:
    assert headline(a_sale()) == (
        "**Proving** · proofs 0 submitted / 0 missed · collateral 0 on chain"
    )
