"""worker.py: roles, environment configuration, and secrets kept out of its text."""

import pytest

import worker
from activities.ledger import LedgerActivities
from activities.market import MarketActivities


def test_roles() -> None:
    assert worker.parse_roles(["--role", "all"]) == ["sales", "chain-tx", "proving"]
    assert worker.parse_roles(["--role", "proving"]) == ["proving"]
    with pytest.raises(SystemExit):
        worker.parse_roles(["--role", "miner"])


def test_settings_from_env_never_show_secrets() -> None:
    settings = worker.Settings.from_env(
        {
            "SALES_DATABASE_DSN": "postgresql://sales:hunter2@db/sales",
            "SALES_SIGNER_KEY": "0x" + "ab" * 32,
            "SALES_MARKETPLACE_ADDRESS": "0x" + "12" * 20,
            "PROVER_CONCURRENCY": "3",
            "SALES_GRACEFUL_SHUTDOWN": "45",
        }
    )
    assert settings.proving_concurrency == 3
    assert settings.graceful_shutdown.total_seconds() == 45
    for text in (repr(settings), str(settings)):
        assert "hunter2" not in text and "ab" * 32 not in text


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
