"""worker.py: roles and activity discovery."""

import pytest

import worker
from activities.ledger import LedgerActivities
from activities.market import MarketActivities


def test_roles() -> None:
    assert worker.parse_roles(["--role", "all"]) == ["sales", "chain-tx", "proving"]
    assert worker.parse_roles(["--role", "proving"]) == ["proving"]
    with pytest.raises(SystemExit):
        worker.parse_roles(["--role", "miner"])


def test_activity_methods_finds_every_registered_name() -> None:
    market = MarketActivities(None)  # type: ignore[arg-type]
    names = {
        getattr(m, "__temporal_activity_definition").name for m in worker.activity_methods(market)
    }
    assert names == {
        getattr(m, "__temporal_activity_definition").name
        for m in [*market.reads(), *market.transactions()]
    }
    assert len(worker.activity_methods(LedgerActivities(None))) == 4  # type: ignore[arg-type]
