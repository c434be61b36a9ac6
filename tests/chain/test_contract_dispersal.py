"""The contract's dispersal window equals sales.dispersal (ARCHITECTURE.md §5).

Vectors come from fixed seeds: request nonces, several host accounts and a grid of times across
the window; the contract's canReserveSlot must agree with ``is_eligible`` on every one.
"""

import random

import pytest
from web3 import Web3

from chain.config import CODEX_TEST
from chain.deploy import Deployment, deploy_marketplace
from sales.dispersal import DispersalWindow, eligible_at, is_eligible
from tests.chain.conftest import (
    DEPLOYER_KEY,
    Chain,
    Market,
    contract,
    make_request,
    slot_id,
)

WINDOW = DispersalWindow(initial_bits=252, window_percent=50)
EXPIRY = 3600
OFFSETS = [0, 1, 450, 900, 1350, 1799, 1800, 2000]


@pytest.fixture(scope="session")
def dispersal_deployment(anvil_url: str, w3: Web3) -> Deployment:
    return deploy_marketplace(
        anvil_url, DEPLOYER_KEY, CODEX_TEST, dispersal=WINDOW, fund=w3.eth.accounts[1:]
    )


@pytest.fixture
def dmarket(w3: Web3, chain: Chain, dispersal_deployment: Deployment) -> Market:
    accounts: list[str] = list(w3.eth.accounts)
    return Market(
        w3=w3,
        chain=chain,
        marketplace=contract(w3, "Marketplace", dispersal_deployment.marketplace),
        token=contract(w3, "TestToken", dispersal_deployment.token),
        client=accounts[1],
        hosts=accounts[2:9],
        validator=accounts[9],
    )


def seeded_request(market: Market, seed: int) -> dict[str, object]:
    nonce = random.Random(seed).randbytes(32)
    return make_request(market.client, nonce=nonce, expiry=EXPIRY, slotSize=1024)


def test_window_settings_are_readable(dmarket: Market, market: Market) -> None:
    assert dmarket.view("dispersalWindow") == (252, 50)
    assert market.view("dispersalWindow") == (256, 0)  # the default deployment: off


def test_can_reserve_slot_equals_python_rule_over_vectors(dmarket: Market) -> None:
    requests = []
    for seed in (1, 2, 3):
        r = seeded_request(dmarket, seed)
        rid = dmarket.request_storage(r)
        start = int(dmarket.view("requestExpiry", rid)) - EXPIRY
        assert dmarket.view("dispersalStart", rid, 0) == start
        requests.append((rid, start))
    origin = requests[0][1]
    outcomes = set()
    for offset in OFFSETS:
        if origin + offset > dmarket.chain.now():
            dmarket.chain.advance_to(origin + offset)
        now = dmarket.chain.now()
        for rid, start in requests:
            for index in range(4):
                sid = "0x" + slot_id(rid, index).hex()
                for host in dmarket.hosts:
                    expected = is_eligible(WINDOW, sid, host, start, EXPIRY, now)
                    actual = dmarket.view("canReserveSlot", rid, index, sender=host)
                    assert actual is expected, (offset, sid, host)
                    outcomes.add(expected)
    assert outcomes == {True, False}


def test_eligible_at_is_the_first_second_the_contract_agrees(dmarket: Market) -> None:
    rid = dmarket.request_storage(seeded_request(dmarket, 7))
    start = int(dmarket.view("requestExpiry", rid)) - EXPIRY
    pairs = [(index, host) for index in range(4) for host in dmarket.hosts[:3]]
    moments = sorted(
        (eligible_at(WINDOW, "0x" + slot_id(rid, i).hex(), h, start, EXPIRY), i, h)
        for i, h in pairs
    )
    assert any(moment > start + 1 for moment, _, _ in moments)
    f = dmarket.marketplace.functions
    for moment, index, host in moments:
        if moment > dmarket.chain.now() + 1:
            dmarket.chain.advance_to(moment - 1)
            assert not dmarket.view("canReserveSlot", rid, index, sender=host)
        if moment > dmarket.chain.now():
            dmarket.chain.next_block_at(moment)
        dmarket.send(host, f.reserveSlot(rid, index))  # eligible from `moment` on


def test_freed_slot_restarts_its_window(dmarket: Market) -> None:
    r = seeded_request(dmarket, 11)
    rid = dmarket.request_storage(r)
    start = int(dmarket.view("requestExpiry", rid)) - EXPIRY
    dmarket.chain.advance_to(start + WINDOW.window_seconds(EXPIRY))  # window fully open
    for index in range(4):
        dmarket.fill(dmarket.hosts[index], rid, index)
    receipt = dmarket.send(
        dmarket.hosts[0], dmarket.marketplace.functions.freeSlot(slot_id(rid, 0))
    )
    freed = int(dmarket.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    assert dmarket.view("dispersalStart", rid, 0) == freed
    assert dmarket.view("dispersalStart", rid, 1) == start
    sid = "0x" + slot_id(rid, 0).hex()
    outcomes = []
    for offset in (0, 600, 1200, 1790, 1800):
        if freed + offset > dmarket.chain.now():
            dmarket.chain.advance_to(freed + offset)
        now = dmarket.chain.now()
        for host in dmarket.hosts:
            expected = is_eligible(WINDOW, sid, host, freed, EXPIRY, now)
            assert dmarket.view("canReserveSlot", rid, 0, sender=host) is expected
            outcomes.append(expected)
    hosts = len(dmarket.hosts)
    assert not all(outcomes[:hosts])  # the window closed again when the slot was freed
    assert all(outcomes[-hosts:])  # and is fully open after window_seconds
