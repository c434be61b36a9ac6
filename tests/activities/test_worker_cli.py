"""worker.py: roles, required settings and activity discovery."""

import asyncio

import pytest

import worker
from activities.ledger import LedgerActivities
from activities.market import MarketActivities
from deploy.settings import HostSettings


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
    ledger = LedgerActivities(None)  # type: ignore[arg-type]
    assert len(worker.activity_methods(ledger)) == len(ledger.all()) == 5


def test_a_role_without_its_settings_stops_at_start_naming_them() -> None:
    """Every missing variable named at once, before any connection is tried."""
    bare = HostSettings.from_env({})
    assert bare.missing_for(["proving"]) == []  # the store directory has a default
    assert bare.missing_for(["chain-tx"]) == ["SALES_MARKETPLACE_ADDRESS", "SALES_SIGNER_KEY"]
    with pytest.raises(SystemExit, match="SALES_DATA_URL") as stopped:
        asyncio.run(worker.run(["sales"], bare))
    assert "SALES_DATABASE_URL" in str(stopped.value) and "SALES_SIGNER_KEY" in str(stopped.value)


def test_the_fee_cap_is_read_in_wei_and_must_be_positive() -> None:
    import pydantic

    capped = HostSettings.from_env({"SALES_MAX_FEE_PER_GAS": "50000000000"})
    assert capped.max_fee_per_gas == 50 * 10**9
    assert HostSettings.from_env({}).max_fee_per_gas is None
    with pytest.raises(pydantic.ValidationError):
        HostSettings.from_env({"SALES_MAX_FEE_PER_GAS": "0"})
