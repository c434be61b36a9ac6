"""Temporal activity onProve on the `proving` task queue (ST-IPRV-4, ST-PRV).

The prover is injected (proofs.prover.StorageProver, backend chosen by PROVER_BACKEND); this
class only reads the stored slot and maps errors. CPU work runs in a subprocess or a thread, so
the worker's event loop stays free; bound parallel proofs with the backend's semaphore and the
worker's max_concurrent_activities. The proving worker must see the same data directory as the
worker that ran onStore.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from activities.metrics import timed
from proofs.poseidon2.layout import LayoutError
from proofs.prover import (
    ProofVerificationError,
    ProverConfig,
    ProverError,
    SlotNotProvableError,
    StorageProver,
    WitnessError,
)
from proofs.public_inputs import public_inputs
from proofs.types import Groth16Proof as ProofsGroth16Proof
from sales.api import Activity, ErrorType, OnProveInput
from sales.metrics import PROOF_GENERATION
from sales.models import Groth16Proof
from store.blockstore import BlockStore
from store.codex_input import stored_circuit_input
from store.config import StoreConfig
from store.errors import SlotNotFoundError


class ProverActivities:
    def __init__(self, store: BlockStore, prover: StorageProver) -> None:
        self.store, self.prover = store, prover

    @classmethod
    def from_env(cls) -> ProverActivities:
        """Worker wiring from STORE_* and PROVER_* variables (store/config.py, proofs/prover.py).

        Give the proving worker max_concurrent_activities = PROVER_CONCURRENCY.
        """
        return cls(
            StoreConfig.from_env().block_store(), StorageProver.from_config(ProverConfig.from_env())
        )

    @activity.defn(name=Activity.PROVER_ON_PROVE)
    async def on_prove(self, inp: OnProveInput) -> Groth16Proof:
        slot, key = inp.slot, inp.slot.id.removeprefix("0x")
        try:
            meta = self.store.require_meta(key)
            if not meta.complete or meta.slot_roots is None:
                raise SlotNotProvableError(f"slot {key} is not stored completely and verified")
            if meta.merkle_root != slot.request.content.merkle_root:
                raise SlotNotProvableError(f"slot {key} holds data of another merkle root")
            if meta.layout != self.prover.circuit:
                raise SlotNotProvableError(
                    f"slot {key} is in the {meta.layout} layout, the prover's circuit is "
                    f"{self.prover.circuit} (PROVER_CIRCUIT)"
                )
            if meta.layout == "codex":
                async with heartbeating():
                    proof = await self._prove_codex(key, inp)
                return Groth16Proof.model_validate(proof.model_dump())
            data = await asyncio.to_thread(self.store.read_slot, key)
            async with heartbeating(), timed(PROOF_GENERATION):  # a dead worker shows in seconds
                proof = await self.prover.prove(
                    data,
                    slot.slot_index,
                    [int(r) for r in meta.slot_roots],
                    bytes.fromhex(meta.merkle_root.removeprefix("0x")),
                    bytes.fromhex(inp.challenge.removeprefix("0x")),
                )
        except (SlotNotFoundError, SlotNotProvableError, WitnessError, LayoutError) as e:
            raise ApplicationError(str(e), type=ErrorType.DATA_INVALID, non_retryable=True) from e
        except ProofVerificationError as e:
            raise ApplicationError(str(e), type=ErrorType.PROVER_FAILED, non_retryable=True) from e
        except ProverError as e:
            raise ApplicationError(str(e), type="ProverUnavailable") from e  # retryable
        return Groth16Proof.model_validate(proof.model_dump())

    async def _prove_codex(self, key: str, inp: OnProveInput) -> ProofsGroth16Proof:
        """Codex's statement: the input from the stored block hashes and the sampled blocks
        (store/codex_input.py), proved and verified locally by the configured circuit files."""
        slot = inp.slot
        challenge = bytes.fromhex(inp.challenge.removeprefix("0x"))
        merkle_root = bytes.fromhex(slot.request.content.merkle_root.removeprefix("0x"))
        expected = public_inputs(challenge, merkle_root, slot.slot_index)
        circuit_input = await asyncio.to_thread(
            stored_circuit_input, self.store, key, challenge, self.prover.codex_params
        )
        if int(circuit_input["dataSetRoot"]) != expected[1]:
            raise SlotNotProvableError(f"slot {key}: stored roots do not give the merkle root")
        if int(circuit_input["slotIndex"]) != slot.slot_index:
            raise SlotNotProvableError(f"slot {key} holds slot {circuit_input['slotIndex']}")
        return await self.prover.prove_input(circuit_input, expected)
