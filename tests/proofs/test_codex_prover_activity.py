"""onProve for a slot stored in Codex's layout (issue 16): Codex's input from the block store.

The slot is uploaded in Codex's layout and stored through onStore; onProve with a prover whose
circuit is "codex" builds Codex's circuit input from the stored block hashes and the sampled
blocks and hands it to the backend. (No proving key for Codex's statement is committed yet, so
the backend here records the input; tests/proofs/test_codex_circuit.py shows the circuit
accepts such inputs.) A slot whose layout is not the prover's circuit is a data error.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.prover import ProverActivities
from activities.store import StoreActivities
from proofs.poseidon2.circuit_input import CircuitParams, check_input
from proofs.prover import ProverError, StorageProver
from proofs.public_inputs import public_inputs
from proofs.snarkjs_io import VerificationKey
from sales.api import ErrorType, OnProveInput, OnStoreInput
from sales.models import Slot, StorageRequest
from store import client
from store.blockstore import BlockStore
from store.download import DownloadConfig
from store.server import DataServer
from tests.store.fakes import FakeReleaser
from tests.store.test_store_activities import make_request

CHALLENGE = "0x" + "5a" * 32
PARAMS = CircuitParams(max_depth=16, max_log2_n_slots=8, n_samples=5)


class RecordingBackend:
    def __init__(self) -> None:
        self.inputs: list[Any] = []

    async def prove(self, circuit_input: Any) -> Any:
        self.inputs.append(circuit_input)
        raise ProverError("no proving key for Codex's statement in this test")


@pytest.fixture
async def stored(tmp_path: Path) -> tuple[BlockStore, StorageRequest]:
    """A 3-slot Codex-layout dataset; slot 1 stored through onStore."""
    server = DataServer(tmp_path / "server", layout="codex")
    await server.start()
    try:
        data = random.Random(5).randbytes(5 * 65536 + 777)
        up = await client.upload(server.base_url, data, 3)
        request = make_request(up.cid, up.merkle_root, 3, up.slot_size)
        store = BlockStore(tmp_path / "host", quota_bytes=1 << 22)
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


async def test_codex_slot_is_proved_with_codex_input(
    stored: tuple[BlockStore, StorageRequest], dev_vk: VerificationKey
) -> None:
    """The backend gets Codex's input whose public part is the contract's [entropy, root, index]."""
    store, request = stored
    backend = RecordingBackend()
    acts = ProverActivities(store, StorageProver(backend, dev_vk, "codex", PARAMS))
    inp = OnProveInput(slot=Slot(request=request, slot_index=1), challenge=CHALLENGE)
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(acts.on_prove, inp)
    assert info.value.type == "ProverUnavailable"  # the recording backend's error, retryable
    (circuit_input,) = backend.inputs
    expected = public_inputs(
        bytes.fromhex(CHALLENGE[2:]), bytes.fromhex(request.content.merkle_root[2:]), 1
    )
    public = [circuit_input[k] for k in ("entropy", "dataSetRoot", "slotIndex")]
    assert public == [str(v) for v in expected]
    check_input(PARAMS, circuit_input)


async def test_layout_and_circuit_must_agree(
    stored: tuple[BlockStore, StorageRequest], dev_vk: VerificationKey
) -> None:
    """A Codex-layout slot and a dev-circuit prover: a non-retryable data error, no proof."""
    store, request = stored
    backend = RecordingBackend()
    acts = ProverActivities(store, StorageProver(backend, dev_vk))
    inp = OnProveInput(slot=Slot(request=request, slot_index=1), challenge=CHALLENGE)
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(acts.on_prove, inp)
    assert (info.value.type, info.value.non_retryable) == (ErrorType.DATA_INVALID, True)
    assert backend.inputs == []
