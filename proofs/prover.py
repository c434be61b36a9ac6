"""onProve: turn a stored slot and a challenge into a Groth16 proof that verifies locally.

`ProverBackend` is the plug-in point (snarkjs today; a native or GPU prover later), chosen by
configuration (`PROVER_BACKEND`). A backend only maps a circuit input to (proof, public signals);
`StorageProver` builds the input from the block store, runs the backend and checks the proof
with py_ecc before returning it: a proof that fails is never returned.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from proofs import commitment
from proofs.public_inputs import public_inputs
from proofs.snarkjs_io import (
    SnarkjsFormatError,
    VerificationKey,
    load_verification_key,
    proof_from_snarkjs,
    public_from_snarkjs,
)
from proofs.types import Groth16Proof
from proofs.verifier import MalformedProofError, verify

ARTIFACTS = Path(__file__).resolve().parent / "circuits" / "artifacts"
SNARKJS_SCRIPT = Path(__file__).resolve().parent / "snarkjs_prove.cjs"


class ProverError(Exception):
    """The prover failed for an infrastructure reason (crash, timeout); retrying may help."""


class WitnessError(Exception):
    """The circuit rejects the input: the stored data does not match the commitment/challenge."""


class ProofVerificationError(Exception):
    """A produced proof did not verify locally; it must never be submitted."""


class SlotNotProvableError(Exception):
    """The slot is not stored completely, or has no commitment this circuit understands."""


class ProverBackend(Protocol):
    async def prove(self, circuit_input: Mapping[str, Any]) -> tuple[Groth16Proof, list[int]]:
        """(proof, public signals) for one circuit input; raises WitnessError or ProverError."""
        ...


class SnarkjsBackend:
    """Witness (circuit wasm) + Groth16 prove (zkey) in a node subprocess per proof.

    Works for any circom circuit's wasm/zkey pair, including Codex's published ones. The semaphore
    bounds concurrent provers per process (each uses a core and ~100s of MB).
    """

    def __init__(
        self,
        wasm: Path,
        zkey: Path,
        *,
        node: str = "node",
        max_concurrent: int = 1,
        timeout: float = 300.0,
        node_path: Path | None = None,
    ) -> None:
        for path in (wasm, zkey):
            if not path.exists():
                raise FileNotFoundError(f"prover artifact {path} is missing")
        self.wasm, self.zkey, self.node, self.timeout = wasm, zkey, node, timeout
        self._limit = asyncio.Semaphore(max_concurrent)
        self._env = dict(os.environ)
        if node_path is not None:
            self._env["NODE_PATH"] = str(node_path)

    async def prove(self, circuit_input: Mapping[str, Any]) -> tuple[Groth16Proof, list[int]]:
        job = json.dumps({"wasm": str(self.wasm), "zkey": str(self.zkey), "input": circuit_input})
        async with self._limit:
            proc = await asyncio.create_subprocess_exec(
                self.node,
                str(SNARKJS_SCRIPT),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
            )
            try:
                out, err = await asyncio.wait_for(proc.communicate(job.encode()), self.timeout)
            except TimeoutError as e:
                proc.kill()
                await proc.wait()
                raise ProverError(f"snarkjs did not finish within {self.timeout}s") from e
            except asyncio.CancelledError:
                proc.kill()
                await proc.wait()
                raise
        message = err.decode(errors="replace").strip()[-2000:]
        if proc.returncode == 2:
            raise WitnessError(message)
        if proc.returncode != 0:
            raise ProverError(f"snarkjs exited {proc.returncode}: {message}")
        try:
            doc = json.loads(out)
            return proof_from_snarkjs(doc["proof"]), public_from_snarkjs(doc["publicSignals"])
        except (ValueError, KeyError, SnarkjsFormatError) as e:
            raise ProverError(f"snarkjs printed an unusable result: {e}") from e


@dataclass(frozen=True)
class ProverConfig:
    """From the environment: PROVER_BACKEND, PROVER_WASM, PROVER_ZKEY, PROVER_VK,
    PROVER_CONCURRENCY, PROVER_NODE. Defaults: snarkjs with the committed dev circuit."""

    backend: str = "snarkjs"
    wasm: Path = ARTIFACTS / "storage.wasm"
    zkey: Path = ARTIFACTS / "storage_final.zkey"
    vk: Path = ARTIFACTS / "verification_key.json"
    concurrency: int = 1
    node: str = "node"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ProverConfig:
        d = cls()
        return cls(
            backend=env.get("PROVER_BACKEND", d.backend),
            wasm=Path(env.get("PROVER_WASM", d.wasm)),
            zkey=Path(env.get("PROVER_ZKEY", d.zkey)),
            vk=Path(env.get("PROVER_VK", d.vk)),
            concurrency=int(env.get("PROVER_CONCURRENCY", str(d.concurrency))),
            node=env.get("PROVER_NODE", d.node),
        )


BACKENDS: dict[str, Callable[[ProverConfig], ProverBackend]] = {
    "snarkjs": lambda c: SnarkjsBackend(c.wasm, c.zkey, node=c.node, max_concurrent=c.concurrency),
}
"""Register a native/GPU backend here (name -> factory) to select it with PROVER_BACKEND."""


def backend_from_config(config: ProverConfig) -> ProverBackend:
    try:
        factory = BACKENDS[config.backend]
    except KeyError as e:
        known = sorted(BACKENDS)
        raise ValueError(f"unknown PROVER_BACKEND {config.backend!r}; known: {known}") from e
    return factory(config)


class StorageProver:
    """Proves possession of one slot's bytes for a challenge (the development circuit)."""

    def __init__(self, backend: ProverBackend, vk: VerificationKey) -> None:
        self.backend, self.vk = backend, vk

    @classmethod
    def from_config(cls, config: ProverConfig) -> StorageProver:
        return cls(backend_from_config(config), load_verification_key(config.vk))

    async def prove(
        self,
        slot: bytes,
        slot_index: int,
        slot_roots: Sequence[int],
        merkle_root: bytes,
        challenge: bytes,
    ) -> Groth16Proof:
        """A proof for [entropy(challenge), merkleRoot, slotIndex], verified locally first."""
        expected = public_inputs(challenge, merkle_root, slot_index)
        try:
            circuit_input = await asyncio.to_thread(
                commitment.witness_input, slot, slot_index, slot_roots, expected[0]
            )
        except commitment.CommitmentError as e:
            raise SlotNotProvableError(str(e)) from e
        if int(circuit_input["dataSetRoot"]) != expected[1]:
            raise SlotNotProvableError("the stored slot roots do not hash to the merkle root")
        proof, public = await self.backend.prove(circuit_input)
        if public != expected:
            raise ProofVerificationError(f"prover's public signals {public} are not {expected}")
        await self.check(proof, expected)
        return proof

    async def check(self, proof: Groth16Proof, public: list[int]) -> None:
        try:
            ok = await asyncio.to_thread(verify, self.vk, proof, public)
        except MalformedProofError as e:
            raise ProofVerificationError(f"malformed proof: {e}") from e
        if not ok:
            raise ProofVerificationError("proof does not verify against the verification key")
