"""Fixtures for the development-marketplace tests: one deployment on the shared anvil, snapshots.

Time on the chain is made deterministic per test: every new block is one second after the last
(``anvil_setBlockTimestampInterval``) and jumps are explicit (``evm_setNextBlockTimestamp``),
so wall-clock time never leaks into period or expiry arithmetic.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_hash.auto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.logs import DISCARD

from chain.build import DEPLOYABLE, load_artifact
from chain.config import CODEX_TEST
from chain.deploy import Deployment, deploy_marketplace
from deploy.local.anvil import AnvilNode, dev_accounts

ROOT = Path(__file__).resolve().parents[2]
DEPLOYER_KEY = dev_accounts(1)[0].private_key
"""anvil's public development account 0; guards nothing."""

REQUEST_TYPE = (
    "(address,(uint256,uint256,uint256,uint64,uint64,uint64,uint64),(bytes,bytes32),uint64,bytes32)"
)
PROOF = ((1, 2), ((3, 4), (5, 6)), (7, 8))
ZERO_PROOF = ((0, 0), ((0, 0), (0, 0)), (0, 0))
GIB = 2**30


@contextmanager
def run_anvil(log_path: Path) -> Iterator[str]:
    """A second, fresh anvil (block 0) for tests that need an untouched chain."""
    node = AnvilNode.start(log_path)
    try:
        yield node.rpc_url
    finally:
        node.stop()


@pytest.fixture(scope="session")
def anvil_url(anvil: AnvilNode) -> str:
    """The session's shared anvil (tests/conftest.py); contract tests isolate by snapshots."""
    return anvil.rpc_url


@pytest.fixture(scope="session")
def w3(anvil_url: str) -> Web3:
    return Web3(Web3.HTTPProvider(anvil_url))


@pytest.fixture(scope="session")
def deployment(anvil_url: str, w3: Web3) -> Deployment:
    """The marketplace with Codex's unit-test configuration and the accepting TestVerifier."""
    return deploy_marketplace(anvil_url, DEPLOYER_KEY, CODEX_TEST, fund=w3.eth.accounts[1:])


# --- errors ---------------------------------------------------------------------------------


def error_names() -> dict[str, str]:
    """4-byte selector (0x-hex) -> custom error name, over every compiled contract."""
    names: dict[str, str] = {}
    for contract in DEPLOYABLE:
        for item in load_artifact(contract)["abi"]:
            if item["type"] == "error":
                signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                names["0x" + keccak(signature.encode())[:4].hex()] = item["name"]
    return names


ERRORS = error_names()


def revert_name(exc: BaseException) -> str:
    """The custom error (or Panic/plain revert) a web3 call failed with."""
    if isinstance(exc, ContractPanicError):
        return "Panic"
    if isinstance(exc, ContractCustomError):
        data = exc.data if isinstance(exc.data, str) else str(exc.data)
        return ERRORS.get(data[:10], f"unknown {data[:10]}")
    if isinstance(exc, ContractLogicError):
        return f"revert {exc.message}"
    raise exc


@contextmanager
def reverts(name: str) -> Iterator[None]:
    """Expect the block to revert with the custom error ``name``."""
    with pytest.raises((ContractCustomError, ContractPanicError, ContractLogicError)) as info:
        yield
    assert revert_name(info.value) == name


# --- chain time -----------------------------------------------------------------------------


@dataclass
class Chain:
    w3: Web3

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        assert "error" not in response, response
        return response["result"]

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def next_block_at(self, timestamp: int) -> None:
        """The next block (mined or carrying a transaction) gets this timestamp."""
        self.rpc("evm_setNextBlockTimestamp", timestamp)

    def advance_to(self, timestamp: int) -> None:
        self.next_block_at(timestamp)
        self.rpc("evm_mine")

    def advance(self, seconds: int) -> None:
        self.advance_to(self.now() + seconds)

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))


@pytest.fixture
def chain(w3: Web3, deployment: Deployment) -> Iterator[Chain]:
    """Runs a test between evm_snapshot and evm_revert, with one second per block."""
    chain = Chain(w3)
    snapshot = chain.rpc("evm_snapshot")
    chain.rpc("anvil_setBlockTimestampInterval", 1)
    try:
        yield chain
    finally:
        chain.rpc("anvil_removeBlockTimestampInterval")
        assert chain.rpc("evm_revert", snapshot) is True


# --- requests and the market ----------------------------------------------------------------


def make_request(client: str, **overrides: Any) -> dict[str, Any]:
    """Codex's example request (4 x 1 GiB, 36000 s, expiry 3600), as a dict of fields."""
    fields: dict[str, Any] = {
        "client": client,
        "proofProbability": 4,
        "pricePerBytePerSecond": 1,
        "collateralPerByte": 1,
        "slots": 4,
        "slotSize": GIB,
        "duration": 36000,
        "maxSlotLoss": 2,
        "cid": b"zb2rhheVmk3bLks5MgzTqyznLu1zqGH5jrfTA1eAZXrjx7Vob",
        "merkleRoot": keccak(b"merkle root"),
        "expiry": 3600,
        "nonce": keccak(os.urandom(32)),
    }
    fields.update(overrides)
    return fields


def request_tuple(r: dict[str, Any]) -> tuple[Any, ...]:
    ask = (
        r["proofProbability"],
        r["pricePerBytePerSecond"],
        r["collateralPerByte"],
        r["slots"],
        r["slotSize"],
        r["duration"],
        r["maxSlotLoss"],
    )
    return (r["client"], ask, (r["cid"], r["merkleRoot"]), r["expiry"], r["nonce"])


def request_id(r: dict[str, Any]) -> bytes:
    """MARKETPLACE_ABI.md §2: keccak256(abi.encode(request)) of the dynamic tuple."""
    return bytes(keccak(encode([REQUEST_TYPE], [request_tuple(r)])))


def slot_id(rid: bytes, index: int) -> bytes:
    return bytes(keccak(encode(["bytes32", "uint64"], [rid, index])))


def price_per_slot_per_second(r: dict[str, Any]) -> int:
    return int(r["pricePerBytePerSecond"] * r["slotSize"])


def max_price(r: dict[str, Any]) -> int:
    return int(r["slots"] * r["duration"] * price_per_slot_per_second(r))


def collateral_per_slot(r: dict[str, Any]) -> int:
    return int(r["collateralPerByte"] * r["slotSize"])


@dataclass
class Market:
    """The deployed contracts plus the flows tests repeat."""

    w3: Web3
    chain: Chain
    marketplace: Contract
    token: Contract
    client: str
    hosts: list[str]
    validator: str

    def send(self, sender: str, function: Any) -> Any:
        """Send as ``sender``; gas is estimated on the pending block, as the tx will run there."""
        gas = function.estimate_gas({"from": sender}, block_identifier="pending")
        tx_hash = function.transact({"from": sender, "gas": gas + 100_000})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        return receipt

    def balance(self, who: str) -> int:
        return int(self.token.functions.balanceOf(who).call())

    def request_storage(self, r: dict[str, Any]) -> bytes:
        self.send(r["client"], self.token.functions.approve(self.marketplace.address, max_price(r)))
        self.send(r["client"], self.marketplace.functions.requestStorage(request_tuple(r)))
        return request_id(r)

    def fill(self, host: str, rid: bytes, index: int, proof: Any = PROOF) -> Any:
        """Reserve, approve the full collateral and fill; returns the fillSlot receipt."""
        m = self.marketplace.functions
        self.send(host, m.reserveSlot(rid, index))
        self.send(host, self.token.functions.approve(self.marketplace.address, 2**255))
        return self.send(host, m.fillSlot(rid, index, proof))

    def fill_all(self, r: dict[str, Any]) -> bytes:
        rid = self.request_storage(r)
        for index in range(r["slots"]):
            self.fill(self.hosts[index % len(self.hosts)], rid, index)
        return rid

    def events(self, name: str, receipt: Any) -> list[Any]:
        event = getattr(self.marketplace.events, name)()
        return list(event.process_receipt(receipt, errors=DISCARD))

    def view(self, name: str, *args: Any, sender: str | None = None) -> Any:
        function = getattr(self.marketplace.functions, name)(*args)
        return function.call({"from": sender} if sender else {})


def contract(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact(name)["abi"]
    )


@pytest.fixture
def market(w3: Web3, chain: Chain, deployment: Deployment) -> Market:
    accounts: list[str] = list(w3.eth.accounts)
    return Market(
        w3=w3,
        chain=chain,
        marketplace=contract(w3, "Marketplace", deployment.marketplace),
        token=contract(w3, "TestToken", deployment.token),
        client=accounts[1],
        hosts=list(accounts[2:6]),
        validator=accounts[6],
    )
