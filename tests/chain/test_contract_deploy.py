"""Deployment: constructor checks (MARKETPLACE_ABI.md §5-§6), the block-height rule, the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from chain.build import load_artifact
from chain.config import CODEX_DEFAULT, CODEX_TEST, PRESETS, MarketplaceConfig
from chain.deploy import KEY_ENV, Deployment, deploy_marketplace
from tests.chain.conftest import DEPLOYER_KEY, ROOT, Chain, contract, reverts, run_anvil

OFF = (256, 0)


def with_collateral(**changes: int) -> MarketplaceConfig:
    collateral = CODEX_TEST.collateral.model_copy(update=changes)
    return CODEX_TEST.model_copy(update={"collateral": collateral})


def construct(w3: Web3, token: str, verifier: str, config: MarketplaceConfig) -> Any:
    """Estimate the Marketplace constructor: raises with the custom error if it would revert."""
    artifact = load_artifact("Marketplace")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    args = (config.to_abi(), token, verifier, OFF)
    return factory.constructor(*args).estimate_gas({"from": w3.eth.accounts[0]})


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (
            with_collateral(repair_reward_percentage=101),
            "Marketplace_RepairRewardPercentageTooHigh",
        ),
        (with_collateral(slash_percentage=101), "Marketplace_SlashPercentageTooHigh"),
        (
            with_collateral(max_number_of_slashes=3, slash_percentage=40),
            "Marketplace_MaximumSlashingTooHigh",
        ),
        (with_collateral(max_number_of_slashes=3, slash_percentage=100), "Panic"),  # uint8 product
        (
            CODEX_TEST.model_copy(
                update={"proofs": CODEX_TEST.proofs.model_copy(update={"period": 0})}
            ),
            "Periods_InvalidSecondsPerPeriod",
        ),
    ],
)
def test_constructor_rejects_bad_configuration(
    w3: Web3, chain: Chain, deployment: Deployment, config: MarketplaceConfig, error: str
) -> None:
    with reverts(error):
        construct(w3, deployment.token, deployment.verifier, config)
    assert construct(
        w3,
        deployment.token,
        deployment.verifier,
        with_collateral(max_number_of_slashes=1, slash_percentage=100),
    )


def test_deploy_mines_past_block_256_on_a_fresh_chain(tmp_path: Path) -> None:
    with run_anvil(tmp_path / "anvil.log") as url:
        w3 = Web3(Web3.HTTPProvider(url))
        accounts: list[str] = list(w3.eth.accounts)
        with reverts("Proofs_InsufficientBlockHeight"):
            construct(w3, accounts[0], accounts[0], CODEX_TEST)
        deployment = deploy_marketplace(url, DEPLOYER_KEY, CODEX_DEFAULT, fund=[accounts[3]])
        assert deployment.block_number > 256
        marketplace = contract(w3, "Marketplace", deployment.marketplace)
        assert (
            MarketplaceConfig.from_abi(marketplace.functions.configuration().call())
            == CODEX_DEFAULT
        )
        token = contract(w3, "TestToken", deployment.token)
        assert token.functions.balanceOf(accounts[3]).call() == 10**15
        assert marketplace.functions.token().call() == deployment.token


def test_cli_prints_addresses_and_never_the_key(anvil_url: str, w3: Web3) -> None:
    holder: str = list(w3.eth.accounts)[7]
    env = {**os.environ, KEY_ENV: DEPLOYER_KEY}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chain.deploy",
            "--rpc-url",
            anvil_url,
            "--config",
            "codex-default",
            "--dispersal-initial-bits",
            "250",
            "--dispersal-window-percent",
            "40",
            "--fund",
            holder,
            "--mint-amount",
            "12345",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    assert DEPLOYER_KEY[2:] not in done.stdout + done.stderr
    deployment = Deployment.model_validate(json.loads(done.stdout))
    assert deployment.config == PRESETS["codex-default"]
    marketplace = contract(w3, "Marketplace", deployment.marketplace)
    assert marketplace.functions.dispersalWindow().call() == (250, 40)
    token = contract(w3, "TestToken", deployment.token)
    assert token.functions.balanceOf(holder).call() == 12345
    assert deployment.deployer == w3.eth.accounts[0]


def test_cli_refuses_to_run_without_a_key(anvil_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "chain.deploy", "--rpc-url", anvil_url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode != 0
    assert KEY_ENV in done.stderr
