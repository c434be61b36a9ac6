"""A sale's current details for the Temporal Web UI: the story of the sale in one glance.

The first line names the state, the proving period, the proofs submitted and missed, the
collateral on chain and the next deadline; the lines under it identify the sale. Setting
current details issues no command, so it changes no history.
"""

from datetime import UTC, datetime

from workflows.sale_state import SaleData


def _when(chain_time: int) -> str:
    return datetime.fromtimestamp(chain_time, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def headline(d: SaleData) -> str:
    parts = [f"**{d.state.name}**"]
    if d.current_period is not None:
        parts.append(f"period {d.current_period}")
    parts.append(f"proofs {d.proofs_submitted} submitted / {d.missed_periods} missed")
    collateral = d.collateral_on_chain
    parts.append(f"collateral {collateral if collateral is not None else 0} on chain")
    if d.next_deadline is not None:
        parts.append(f"next deadline {_when(d.next_deadline)}")
    return " · ".join(parts)


def details_of(d: SaleData) -> str:
    """Markdown for `workflow.set_current_details`."""
    lines = [headline(d), "", f"- request `{d.request_id}` slot {d.slot_index}",
             f"- slot id `{d.slot_id}`"]  # fmt: skip
    if d.reservation is not None:
        lines.append(f"- reservation `{d.reservation.id}`")
        lines.append(f"- availability `{d.reservation.availability_id}`")
    lines.append(f"- fill: {d.fill}")
    if d.periods:
        lines.append(f"- {d.periods} proving periods handled")
    if d.next_deadline is not None:
        lines.append(f"- next deadline (chain time) {d.next_deadline}")
    if d.returned_collateral is not None:
        lines.append(f"- collateral returned {d.returned_collateral}")
    if d.state.error:
        lines.append(f"- error: {d.state.error}")
    return "\n".join(lines)
