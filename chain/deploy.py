"""Deploy the development marketplace: token, verifier and marketplace, then fund accounts.

``deploy_marketplace`` is used by tests, the demo and the local stack; ``python -m chain.deploy``
prints the resulting addresses as JSON. The deployer key comes from an argument or an
environment variable and is never printed or stored in the result.
"""

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from pydantic import BaseModel, ConfigDict
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from chain.build import load_artifact
from chain.config import PRESETS, MarketplaceConfig
from sales.dispersal import DispersalWindow
from sales.hexbytes import Address

DEFAULT_MINT_AMOUNT = 10**15
"""Per funded account, as Codex's local deployment does."""
MIN_BLOCK_HEIGHT = 257
"""Proofs' constructor requires block.number > 256 (Proofs_InsufficientBlockHeight)."""
DISPERSAL_OFF = DispersalWindow(initial_bits=256, window_percent=0)
KEY_ENV = "CODEX_DEPLOYER_KEY"

VerifierKind = Literal["test", "groth16"]


class DeployError(RuntimeError):
    """A deployment step failed; the message names the step."""


class Deployment(BaseModel):
    """Where the development marketplace lives. Contains no secret."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chain_id: int
    token: Address
    verifier: Address
    marketplace: Address
    deployer: Address
    block_number: int
    """Block of the marketplace deployment: the first block worth scanning for its events."""
    verifier_kind: VerifierKind
    config: MarketplaceConfig
    dispersal: DispersalWindow


def g1_to_abi(point: Sequence[Any]) -> tuple[int, int]:
    """snarkjs G1 ``[x, y, "1"]`` -> ``(x, y)``."""
    return (int(point[0]), int(point[1]))


def g2_to_abi(point: Sequence[Sequence[Any]]) -> tuple[tuple[int, int], tuple[int, int]]:
    """snarkjs G2 ``[[x0, x1], [y0, y1], ...]`` -> ``((x0, x1), (y0, y1))``, each (real, imag)."""
    return (
        (int(point[0][0]), int(point[0][1])),
        (int(point[1][0]), int(point[1][1])),
    )


def verifying_key_to_abi(vk: Mapping[str, Any]) -> tuple[Any, ...]:
    """snarkjs ``verification_key.json`` -> the ``VerifyingKey`` constructor tuple."""
    if vk.get("protocol") != "groth16" or vk.get("curve") != "bn128":
        raise DeployError("verifying key must be a snarkjs groth16 key on bn128")
    ic = [g1_to_abi(point) for point in vk["IC"]]
    if len(ic) != int(vk["nPublic"]) + 1:
        raise DeployError("verifying key: IC must hold nPublic + 1 points")
    return (
        g1_to_abi(vk["vk_alpha_1"]),
        g2_to_abi(vk["vk_beta_2"]),
        g2_to_abi(vk["vk_gamma_2"]),
        g2_to_abi(vk["vk_delta_2"]),
        ic,
    )


class _Deployer:
    """Signs and sends the deployer's transactions one by one, waiting for each receipt."""

    def __init__(self, w3: Web3, key: str) -> None:
        self.w3 = w3
        self._account = Account.from_key(key)
        self.address: str = self._account.address
        self._nonce: int = int(w3.eth.get_transaction_count(self.address, "pending"))

    def send(self, step: str, tx: Any) -> TxReceipt:
        tx = dict(tx)
        tx["nonce"] = self._nonce
        signed = self._account.sign_transaction(tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        except Exception as exc:
            raise DeployError(f"{step}: {exc}") from exc
        self._nonce += 1
        if receipt["status"] != 1:
            raise DeployError(f"{step}: transaction reverted")
        return receipt

    def deploy(self, name: str, *args: Any) -> Contract:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        try:
            tx = factory.constructor(*args).build_transaction({"from": self.address})
        except Exception as exc:
            raise DeployError(f"deploy {name}: {exc}") from exc
        receipt = self.send(f"deploy {name}", tx)
        address = receipt["contractAddress"]
        if address is None:
            raise DeployError(f"deploy {name}: no contract address in receipt")
        return self.w3.eth.contract(address=address, abi=artifact["abi"])

    def call(self, step: str, function: Any) -> TxReceipt:
        try:
            tx = function.build_transaction({"from": self.address})
        except Exception as exc:
            raise DeployError(f"{step}: {exc}") from exc
        return self.send(step, tx)


def ensure_block_height(w3: Web3, height: int = MIN_BLOCK_HEIGHT) -> None:
    """Mine empty blocks on anvil until the chain is ``height`` blocks high."""
    missing = height - w3.eth.block_number
    if missing <= 0:
        return
    try:
        w3.provider.make_request("anvil_mine", [hex(missing)])  # type: ignore[arg-type]
    except Exception as exc:
        raise DeployError(f"chain is below block {height} and anvil_mine failed: {exc}") from exc
    if w3.eth.block_number < height:
        raise DeployError(f"chain is below block {height}; mine blocks before deploying")


def deploy_marketplace(
    rpc_url: str,
    deployer_key: str,
    config: MarketplaceConfig,
    *,
    verifier: VerifierKind = "test",
    verifying_key: Mapping[str, Any] | None = None,
    dispersal: DispersalWindow | None = None,
    fund: Sequence[str] = (),
    mint_amount: int = DEFAULT_MINT_AMOUNT,
) -> Deployment:
    """Deploy TestToken, a verifier and Marketplace; mint ``mint_amount`` to each ``fund`` address.

    ``verifier="groth16"`` needs ``verifying_key`` (snarkjs verification_key.json as a dict).
    ``dispersal=None`` deploys with the window off (exact Codex reservation rules).
    """
    if verifier == "groth16" and verifying_key is None:
        raise DeployError("verifier='groth16' needs verifying_key")
    if verifier == "test" and verifying_key is not None:
        raise DeployError("verifying_key is only used with verifier='groth16'")
    if mint_amount < 0:
        raise DeployError("mint_amount must not be negative")
    window = dispersal or DISPERSAL_OFF
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    ensure_block_height(w3)
    sender = _Deployer(w3, deployer_key)

    token = sender.deploy("TestToken")
    if verifier == "groth16":
        assert verifying_key is not None
        verifier_contract = sender.deploy("Groth16Verifier", verifying_key_to_abi(verifying_key))
    else:
        verifier_contract = sender.deploy("TestVerifier")
    marketplace = sender.deploy(
        "Marketplace",
        config.to_abi(),
        token.address,
        verifier_contract.address,
        (window.initial_bits, window.window_percent),
    )
    block_number = w3.eth.block_number
    for holder in fund:
        address = Web3.to_checksum_address(holder)
        sender.call(f"mint to {address}", token.functions.mint(address, mint_amount))
    return Deployment(
        chain_id=w3.eth.chain_id,
        token=token.address,
        verifier=verifier_contract.address,
        marketplace=marketplace.address,
        deployer=sender.address,
        block_number=block_number,
        verifier_kind=verifier,
        config=config,
        dispersal=window,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Deploy the development marketplace.")
    parser.add_argument("--rpc-url", required=True)
    parser.add_argument("--config", choices=sorted(PRESETS), default="dev")
    parser.add_argument("--verifier", choices=["test", "groth16"], default="test")
    parser.add_argument("--verifying-key", type=Path, help="snarkjs verification_key.json")
    parser.add_argument("--dispersal-initial-bits", type=int, default=256)
    parser.add_argument("--dispersal-window-percent", type=int, default=0)
    parser.add_argument("--fund", nargs="*", default=[], help="addresses to mint tokens to")
    parser.add_argument("--mint-amount", type=int, default=DEFAULT_MINT_AMOUNT)
    parser.add_argument(
        "--deployer-key-env",
        default=KEY_ENV,
        help=f"environment variable holding the deployer key (default {KEY_ENV})",
    )
    args = parser.parse_args(argv)
    key = os.environ.get(args.deployer_key_env)
    if not key:
        parser.error(f"set the deployer key in ${args.deployer_key_env}")
    vk = json.loads(args.verifying_key.read_text()) if args.verifying_key else None
    try:
        deployment = deploy_marketplace(
            args.rpc_url,
            key,
            PRESETS[args.config],
            verifier=args.verifier,
            verifying_key=vk,
            dispersal=DispersalWindow(
                initial_bits=args.dispersal_initial_bits,
                window_percent=args.dispersal_window_percent,
            ),
            fund=args.fund,
            mint_amount=args.mint_amount,
        )
    except DeployError as exc:
        print(f"deploy failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(deployment.model_dump_json(indent=2))


if __name__ == "__main__":
    main()
