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
from proofs.circuit_files import CircuitFileError, ZkeyHeader, check_circuit_files
from proofs.poseidon2.circuit_input import CODEX_PARAMS, CircuitParams
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
    """From the environment (proving worker), as nim-codex takes --circom-* flags:

    PROVER_BACKEND      snarkjs (the registry BACKENDS below)
    PROVER_WASM         witness generator            default: the committed dev circuit
    PROVER_ZKEY         Groth16 proving key          default: the committed dev circuit
    PROVER_VK           verification key JSON        default: the committed dev circuit
    PROVER_R1CS         constraint system (optional; only its header is checked)
    PROVER_CIRCUIT      dev | codex: which statement the files prove (dev: proofs/commitment.py;
                        codex: Codex's SampleAndProve over proofs/poseidon2, for Codex's files)
    PROVER_MAX_SLOT_DEPTH / PROVER_MAX_DATASET_DEPTH / PROVER_SAMPLES
                        the codex circuit's maxDepth, maxLog2NSlots, nSamples (default 32, 8, 5
                        like nim-codex's --max-slot-depth, --max-dataset-depth, --proof-samples)
    PROVER_ZKEY_HASH    the zkey's published name, if its ceremony does not name it by SHA-256
    PROVER_CONCURRENCY, PROVER_NODE
    """

    backend: str = "snarkjs"
    wasm: Path = ARTIFACTS / "storage.wasm"
    zkey: Path = ARTIFACTS / "storage_final.zkey"
    vk: Path = ARTIFACTS / "verification_key.json"
    concurrency: int = 1
    node: str = "node"
    r1cs: Path | None = None
    circuit: str = "dev"
    codex_params: CircuitParams = CODEX_PARAMS
    zkey_hash: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ProverConfig:
        d = cls()
        circuit = env.get("PROVER_CIRCUIT", d.circuit)
        if circuit not in ("dev", "codex"):
            raise ValueError(f"PROVER_CIRCUIT must be dev or codex, not {circuit!r}")
        params = CircuitParams(
            max_depth=int(env.get("PROVER_MAX_SLOT_DEPTH", str(d.codex_params.max_depth))),
            max_log2_n_slots=int(
                env.get("PROVER_MAX_DATASET_DEPTH", str(d.codex_params.max_log2_n_slots))
            ),
            n_samples=int(env.get("PROVER_SAMPLES", str(d.codex_params.n_samples))),
        )
        r1cs = env.get("PROVER_R1CS")
        return cls(
            backend=env.get("PROVER_BACKEND", d.backend),
            wasm=Path(env.get("PROVER_WASM", d.wasm)),
            zkey=Path(env.get("PROVER_ZKEY", d.zkey)),
            vk=Path(env.get("PROVER_VK", d.vk)),
            concurrency=int(env.get("PROVER_CONCURRENCY", str(d.concurrency))),
            node=env.get("PROVER_NODE", d.node),
            r1cs=Path(r1cs) if r1cs else None,
            circuit=circuit,
            codex_params=params,
            zkey_hash=env.get("PROVER_ZKEY_HASH") or None,
        )

    def check(self, marketplace_zkey_hash: str | None = None) -> ZkeyHeader:
        """Start-up check (proofs/circuit_files.py): the files exist and fit together, and the
        zkey is the one the marketplace's configuration names (when it names one). Raises
        CircuitFileError: a worker must not start with a key the chain's verifier rejects."""
        for path in (self.wasm, self.zkey, self.vk, *([self.r1cs] if self.r1cs else [])):
            if not path.exists():
                raise CircuitFileError(f"prover file {path} is missing")
        return check_circuit_files(
            self.zkey,
            load_verification_key(self.vk),
            self.r1cs,
            marketplace_zkey_hash,
            zkey_id=self.zkey_hash,
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

    def __init__(
        self,
        backend: ProverBackend,
        vk: VerificationKey,
        circuit: str = "dev",
        codex_params: CircuitParams = CODEX_PARAMS,
    ) -> None:
        self.backend, self.vk = backend, vk
        self.circuit = circuit
        """"dev" proves proofs/commitment.py slots; "codex" proves Codex-layout slots
        (proofs/poseidon2) with `codex_params`."""
        self.codex_params = codex_params

    @classmethod
    def from_config(cls, config: ProverConfig) -> StorageProver:
        """Checks the circuit files fit together first (config.check without the marketplace)."""
        config.check()
        return cls(
            backend_from_config(config),
            load_verification_key(config.vk),
            config.circuit,
            config.codex_params,
        )

    async def prove_input(
        self, circuit_input: Mapping[str, Any], expected: list[int]
    ) -> Groth16Proof:
        """Any circuit's input (e.g. Codex's, proofs/poseidon2/circuit_input.py): prove, check
        the public signals are `expected` ([entropy, dataSetRoot, slotIndex]), verify locally."""
        proof, public = await self.backend.prove(circuit_input)
        if public != expected:
            raise ProofVerificationError(f"prover's public signals {public} are not {expected}")
        await self.check(proof, expected)
        return proof

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
        return await self.prove_input(circuit_input, expected)

    async def check(self, proof: Groth16Proof, public: list[int]) -> None:
        try:
            ok = await asyncio.to_thread(verify, self.vk, proof, public)
        except MalformedProofError as e:
            raise ProofVerificationError(f"malformed proof: {e}") from e
        if not ok:
            raise ProofVerificationError("proof does not verify against the verification key")


class _HasConfiguration(Protocol):
    async def configuration(self) -> Any: ...


async def check_against_marketplace(config: ProverConfig, market: _HasConfiguration) -> str:
    """The worker's start-up check: config.check() with the marketplace's zkeyHash.

    Returns the zkeyHash checked against ("" when the marketplace names none: then only the
    files' consistency is checked). Raises CircuitFileError on a mismatch.
    """
    zkey_hash = str((await market.configuration()).proofs.zkey_hash)
    await asyncio.to_thread(config.check, zkey_hash)
    return zkey_hash
