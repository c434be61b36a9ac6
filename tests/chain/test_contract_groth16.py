"""Groth16 verification through the BN254 precompiles (MARKETPLACE_ABI.md §11).

The vector is a real proof of Codex's storage circuit (hardhat network key), produced by snarkjs.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from chain.config import CODEX_TEST
from chain.deploy import DeployError, Deployment, deploy_marketplace, g1_to_abi, g2_to_abi
from tests.chain.conftest import DEPLOYER_KEY, PROOF, ZERO_PROOF, contract

VECTOR = Path(__file__).parent / "vectors" / "codex-hardhat-groth16"
P = 21888242871839275222246405745257275088696311157297823662689037894645226208583
R = 21888242871839275222246405745257275088548364400416034343698204186575808495617

Proof = tuple[Any, ...]


def load(name: str) -> Any:
    return json.loads((VECTOR / name).read_text())


def proof_to_abi(proof: dict[str, Any]) -> Proof:
    """snarkjs proof.json -> Groth16Proof; pi_b [[x0, x1], [y0, y1]] -> x.real=x0, x.imag=x1."""
    return (g1_to_abi(proof["pi_a"]), g2_to_abi(proof["pi_b"]), g1_to_abi(proof["pi_c"]))


def flatten(proof: Proof) -> list[int]:
    (ax, ay), ((bxr, bxi), (byr, byi)), (cx, cy) = proof
    return [ax, ay, bxr, bxi, byr, byi, cx, cy]


def unflatten(words: list[int]) -> Proof:
    return (
        (words[0], words[1]),
        ((words[2], words[3]), (words[4], words[5])),
        (words[6], words[7]),
    )


@pytest.fixture(scope="session")
def groth16(anvil_url: str, w3: Web3) -> Contract:
    deployment: Deployment = deploy_marketplace(
        anvil_url,
        DEPLOYER_KEY,
        CODEX_TEST,
        verifier="groth16",
        verifying_key=load("verification_key.json"),
    )
    assert deployment.verifier_kind == "groth16"
    return contract(w3, "Groth16Verifier", deployment.verifier)


def verify(verifier: Contract, proof: Proof, inputs: list[int]) -> bool:
    return bool(verifier.functions.verify(proof, inputs).call())


def test_real_proof_is_accepted(groth16: Contract) -> None:
    proof = proof_to_abi(load("proof.json"))
    inputs = [int(x) for x in load("public.json")]
    assert verify(groth16, proof, inputs)


@pytest.mark.parametrize("index", range(3))
def test_each_tampered_public_input_is_rejected(groth16: Contract, index: int) -> None:
    proof = proof_to_abi(load("proof.json"))
    inputs = [int(x) for x in load("public.json")]
    bumped = list(inputs)
    bumped[index] = (bumped[index] + 1) % R
    assert not verify(groth16, proof, bumped)
    aliased = list(inputs)
    aliased[index] += R  # same field element, but inputs must be < R
    assert not verify(groth16, proof, aliased)


@pytest.mark.parametrize("index", range(8))
def test_each_tampered_proof_coordinate_is_rejected(groth16: Contract, index: int) -> None:
    words = flatten(proof_to_abi(load("proof.json")))
    inputs = [int(x) for x in load("public.json")]
    words[index] = (words[index] + 1) % P
    assert not verify(groth16, unflatten(words), inputs)


def test_other_malformed_proofs_are_rejected(groth16: Contract) -> None:
    proof = proof_to_abi(load("proof.json"))
    inputs = [int(x) for x in load("public.json")]
    (a, ((bxr, bxi), (byr, byi)), c) = proof
    swapped_b = (a, ((bxi, bxr), (byi, byr)), c)  # G2 fed with real/imag mixed up
    assert not verify(groth16, swapped_b, inputs)
    assert not verify(groth16, (c, proof[1], a), inputs)  # valid points, wrong places
    assert not verify(groth16, ZERO_PROOF, inputs)
    assert not verify(groth16, proof, inputs[:2])
    assert not verify(groth16, proof, [*inputs, 0])


def test_test_verifier_accepts_all_but_the_zero_proof(w3: Web3, deployment: Deployment) -> None:
    verifier = contract(w3, "TestVerifier", deployment.verifier)
    assert verify(verifier, PROOF, [])
    assert verify(verifier, unflatten([0] * 7 + [1]), [1, 2, 3])
    assert not verify(verifier, ZERO_PROOF, [1, 2, 3])


def test_groth16_deploy_needs_a_key(anvil_url: str) -> None:
    with pytest.raises(DeployError, match="verifying_key"):
        deploy_marketplace(anvil_url, DEPLOYER_KEY, CODEX_TEST, verifier="groth16")
