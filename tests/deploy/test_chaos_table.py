"""The chaos run's accounting and table (issue 12, point 9), without a stack.

`make chaos` is too long for CI; what decides its exit code is `summarize` and `failures`, pinned
here: every must-be-zero figure is computed from the inputs it names, and missed proofs alone
never fail a run.
"""

from deploy.local.chaos import MUST_BE_ZERO, format_table, summarize


def clean(**changes: object) -> dict[str, object]:
    inputs: dict[str, object] = {
        "request_states": ["Finished", "Finished", "Cancelled"],
        "sale_states": ["Finished"] * 4 + ["Cancelled"] * 2,
        "faults": {"SIGKILL sales worker": 2, "Temporal restart": 1},
        "fills_per_slot": {"0xa": 1, "0xb": 1},
        "due_periods": {"0xa": {1, 2, 3}, "0xb": {2, 3}},
        "proven_periods": {"0xa": {1, 2, 3}, "0xb": {3}},
        "ledger_total": 100,
        "ledger_free": 100,
        "reservations": 0,
        "store_bytes": 0,
        "collateral_deducted": 0,
        "collateral_on_chain": 0,
    }
    return {**inputs, **changes}


def test_a_clean_run_prints_zeros_and_passes_with_a_missed_proof() -> None:
    figures = summarize(7, **clean())  # type: ignore[arg-type]
    assert figures.failures() == []
    assert figures.missed_proofs == 1 and figures.proofs == 4
    assert figures.missed_near_faults == 0
    assert figures.requests == {"Cancelled": 1, "Finished": 2}
    assert set(figures.zero) == set(MUST_BE_ZERO) and not any(figures.zero.values())
    table = format_table(figures)
    assert table.endswith("OK") and "fault Temporal restart" in table


def test_every_must_be_zero_figure_fails_the_run() -> None:
    broken = {
        "sales still running": clean(sale_states=["Proving", "Finished"]),
        "double fills": clean(fills_per_slot={"0xa": 2}),
        "leaked bytes (ledger)": clean(ledger_free=90),
        "leaked bytes (store)": clean(store_bytes=5),
        "reservations left": clean(reservations=1),
        "collateral: ledger - chain": clean(collateral_deducted=10, collateral_on_chain=4),
        "collateral: not returned": clean(collateral_deducted=10, collateral_on_chain=10),
    }
    assert set(broken) == set(MUST_BE_ZERO)
    for name, inputs in broken.items():
        figures = summarize(1, **inputs)  # type: ignore[arg-type]
        assert name in figures.failures(), name
        assert "FAIL" in format_table(figures)


def test_a_missed_period_is_near_a_fault_within_two_periods_of_its_window() -> None:
    """Period 2 of slot 0xb (seconds 60-89 at 30 s periods) is missed: a fault ending at 10 s
    reaches it (10 s + two periods = 70 s > 60 s), one ending at -61 s does not."""
    near = summarize(1, **clean(fault_windows=[(0, 10)]))  # type: ignore[arg-type]
    far = summarize(1, **clean(fault_windows=[(-100, -61)]))  # type: ignore[arg-type]
    assert (near.missed_near_faults, far.missed_near_faults) == (1, 0)
