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
    assert "SALES_DATABASE_URL" in str(stopped.value) and "SALES_HOST_ADDRESS" in str(stopped.value)
    assert "SALES_SIGNER_KEY" not in str(stopped.value)  # least privilege: sales never signs


KEY = "0x" + "11" * 32


def test_only_chain_tx_needs_the_signer_key() -> None:
    """Issue 13, point 6: sales and proving start without SALES_SIGNER_KEY; sales reads the
    chain as SALES_HOST_ADDRESS, and a key with another address is refused."""
    from eth_account import Account

    from chain.onchain import OnChainMarket, ReadOnlyMarketError

    host = Account.from_key(KEY).address
    env = {
        "SALES_DATABASE_URL": "postgresql://u:p@db/x",
        "SALES_MARKETPLACE_ADDRESS": "0x" + "22" * 20,
        "SALES_DATA_URL": "http://codex:8080",
        "SALES_HOST_ADDRESS": host,
    }
    reader = HostSettings.from_env(env)
    assert reader.missing_for(["sales", "proving"]) == []
    assert reader.missing_for(["chain-tx"]) == ["SALES_SIGNER_KEY"]
    assert reader.host_address == host
    signer = HostSettings.from_env({"SALES_SIGNER_KEY": KEY})
    assert signer.host_address == host  # derived from the key
    with pytest.raises(ValueError, match="not the address"):
        HostSettings.from_env({"SALES_SIGNER_KEY": KEY, "SALES_HOST_ADDRESS": "0x" + "33" * 20})
    market = worker.Resources(reader).market()
    assert isinstance(market, OnChainMarket) and market.address == host
    with pytest.raises(ReadOnlyMarketError):
        asyncio.run(market.free_slot("0x" + "44" * 32))


def test_urls_are_logged_without_credentials() -> None:
    """Issue 13, point 6: the settings' repr (the worker's start log line) carries the RPC URL
    with its API key, user info and query removed."""
    from deploy.settings import redact_url

    settings = HostSettings.from_env(
        {"SALES_RPC_URL": "https://user:secret@mainnet.example.io/v3/APIKEY123?key=abc"}
    )
    text = repr(settings)
    for secret in ("APIKEY123", "secret", "abc", "user"):
        assert secret not in text
    assert "https://***@mainnet.example.io/***?***" in text
    assert redact_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    assert redact_url("postgresql://sales:pw@db:5432/sales") == "postgresql://***@db:5432/***"
    assert redact_url("not a url") == "***"
    assert redact_url("") == ""
    # an HTTP error quoting the endpoint, as it reaches logs and activity failures
    from chain.onchain import ChainUnavailableError
    from sales.redact import redact_text

    quoted = "404, message='Not Found', url='https://rpc.example.io/v2/APIKEY123'"
    assert redact_text(quoted) == "404, message='Not Found', url='https://rpc.example.io/***'"
    assert "APIKEY123" not in str(ChainUnavailableError(f"eth_call failed: {quoted}"))


def test_the_fee_cap_is_read_in_wei_and_must_be_positive() -> None:
    import pydantic

    capped = HostSettings.from_env({"SALES_MAX_FEE_PER_GAS": "50000000000"})
    assert capped.max_fee_per_gas == 50 * 10**9
    assert HostSettings.from_env({}).max_fee_per_gas is None
    with pytest.raises(pydantic.ValidationError):
        HostSettings.from_env({"SALES_MAX_FEE_PER_GAS": "0"})
