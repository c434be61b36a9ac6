"""A development proof verifies on chain: the Groth16 verifier contract deployed with our
verification_key.json accepts what onProve returns (MARKETPLACE_ABI.md §11).
"""

from __future__ import annotations

import json

import pytest
from web3 import Web3

from chain.build import load_artifact
from chain.config import CODEX_TEST
from chain.deploy import deploy_marketplace
from deploy.local.anvil import AnvilNode
from proofs import commitment
from proofs.prover import ProverConfig, StorageProver
from proofs.public_inputs import SNARK_SCALAR_FIELD, public_inputs

CHALLENGE = bytes.fromhex("7e" * 32)


@pytest.mark.slow
@pytest.mark.real_stack
async def test_dev_proof_is_accepted_by_the_contract_verifier(
    anvil: AnvilNode,
    dev_config: ProverConfig,
    dev_prover: StorageProver,
    committed: commitment.DatasetCommitment,
    slots: list[bytes],
) -> None:
    deployment = deploy_marketplace(
        anvil.rpc_url,
        anvil.accounts[0].private_key,
        CODEX_TEST,
        verifier="groth16",
        verifying_key=json.loads(dev_config.vk.read_text()),
    )
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
    abi = load_artifact("Groth16Verifier")["abi"]
    verifier = w3.eth.contract(address=Web3.to_checksum_address(deployment.verifier), abi=abi)

    proof = await dev_prover.prove(
        slots[2], 2, committed.slot_roots, committed.merkle_root, CHALLENGE
    )
    public = public_inputs(CHALLENGE, committed.merkle_root, 2)

    def on_chain(inputs: list[int]) -> bool:
        return bool(verifier.functions.verify(proof.abi_tuple(), inputs).call())

    assert on_chain(public)
    assert not on_chain([public[0], public[1], 1])
    assert not on_chain([public[0] + 1, public[1], 2])
    assert not on_chain([public[0], public[1] + SNARK_SCALAR_FIELD, 2])
