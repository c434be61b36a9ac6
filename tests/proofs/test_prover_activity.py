"""onProve on the proving queue (ST-IPRV-4): stored slot -> verified proof, typed errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.prover import ProverActivities
from activities.store import StoreActivities, slot_key
from proofs.prover import ProverError, StorageProver, WitnessError
from proofs.public_inputs import public_inputs
from proofs.snarkjs_io import VerificationKey
from proofs.types import Groth16Proof as ProofsGroth16Proof
from proofs.verifier import verify
from sales.api import ErrorType, OnProveInput, OnStoreInput
from sales.ids import slot_id
from sales.models import Slot, StorageRequest
from store.blockstore import BlockStore
from store.download import DownloadConfig
from store.server import DataServer
from tests.store.fakes import FakeReleaser
from tests.store.test_download import upload
from tests.store.test_store_activities import make_request

CHALLENGE = "0x" + "c3" * 32


@pytest.fixture
async def stored(tmp_path: Path) -> tuple[BlockStore, StorageRequest]:
    """A 2-slot dataset uploaded to a data server and slot 1 stored through onStore."""
    server = DataServer(tmp_path / "server")
    await server.start()
    try:
        cid, root, slot_size = await upload(server, os.urandom(40_000), 2)
        request = make_request(cid, root, 2, slot_size)
        store = BlockStore(tmp_path / "host", quota_bytes=1 << 20)
        acts = StoreActivities(store, FakeReleaser(), DownloadConfig(base_url=server.base_url))
        await ActivityEnvironment().run(
            acts.on_store,
            OnStoreInput(
                request=request,
                slot_index=1,
                expiry=1_900_000_000,
                reservation_id="0x" + "11" * 32,
                availability_id="0x" + "44" * 32,
                is_repairing=False,
            ),
        )
    finally:
        await server.stop()
    return store, request


@pytest.mark.slow
async def test_on_prove_returns_a_proof_the_verifier_accepts(
    stored: tuple[BlockStore, StorageRequest], dev_prover: StorageProver, dev_vk: VerificationKey
) -> None:
    store, request = stored
    acts = ProverActivities(store, dev_prover)
    proof = await ActivityEnvironment().run(
        acts.on_prove, OnProveInput(slot=Slot(request=request, slot_index=1), challenge=CHALLENGE)
    )
    public = public_inputs(
        bytes.fromhex(CHALLENGE[2:]), bytes.fromhex(request.content.merkle_root[2:]), 1
    )
    assert verify(dev_vk, ProofsGroth16Proof.model_validate(proof.model_dump()), public)


class _FailingBackend:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def prove(self, circuit_input: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("backend_error", "error_type", "non_retryable"),
    [
        (WitnessError("Assert Failed"), ErrorType.DATA_INVALID, True),
        (ProverError("node crashed"), "ProverUnavailable", False),
    ],
)
async def test_prover_errors_are_typed(
    stored: tuple[BlockStore, StorageRequest],
    dev_vk: VerificationKey,
    backend_error: Exception,
    error_type: str,
    non_retryable: bool,
) -> None:
    store, request = stored
    acts = ProverActivities(store, StorageProver(_FailingBackend(backend_error), dev_vk))
    inp = OnProveInput(slot=Slot(request=request, slot_index=1), challenge=CHALLENGE)
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(acts.on_prove, inp)
    assert (info.value.type, info.value.non_retryable) == (error_type, non_retryable)


async def test_unstored_slot_is_a_non_retryable_data_error(
    stored: tuple[BlockStore, StorageRequest], dev_prover: StorageProver
) -> None:
    store, request = stored
    store.clear(slot_key(slot_id(request.id, 1)))
    acts = ProverActivities(store, dev_prover)
    inp = OnProveInput(slot=Slot(request=request, slot_index=1), challenge=CHALLENGE)
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(acts.on_prove, inp)
    assert (info.value.type, info.value.non_retryable) == (ErrorType.DATA_INVALID, True)


def test_wiring_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PROVER_BACKEND", "snarkjs")
    acts = ProverActivities.from_env()
    assert acts.store.root == tmp_path / "data" / "slots"
    assert acts.prover.vk.n_public == 3
