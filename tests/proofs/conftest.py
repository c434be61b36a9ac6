"""Fixtures for the development circuit: a small dataset, its commitment, the committed keys."""

from __future__ import annotations

import random

import pytest

from proofs import commitment
from proofs.prover import ProverConfig, SnarkjsBackend, StorageProver
from proofs.snarkjs_io import VerificationKey, load_verification_key


@pytest.fixture(scope="session")
def dev_config() -> ProverConfig:
    return ProverConfig()


@pytest.fixture(scope="session")
def dev_vk(dev_config: ProverConfig) -> VerificationKey:
    return load_verification_key(dev_config.vk)


@pytest.fixture(scope="session")
def dev_backend(dev_config: ProverConfig) -> SnarkjsBackend:
    return SnarkjsBackend(dev_config.wasm, dev_config.zkey)


@pytest.fixture(scope="session")
def dev_prover(dev_backend: SnarkjsBackend, dev_vk: VerificationKey) -> StorageProver:
    return StorageProver(dev_backend, dev_vk)


@pytest.fixture(scope="session")
def dataset() -> bytes:
    return random.Random(8).randbytes(90_000)  # 3 slots of 30,008 bytes (121 cells each)


@pytest.fixture(scope="session")
def committed(dataset: bytes) -> commitment.DatasetCommitment:
    return commitment.commit_dataset(dataset, 3)


@pytest.fixture(scope="session")
def slots(dataset: bytes, committed: commitment.DatasetCommitment) -> list[bytes]:
    return commitment.split_slots(dataset, 3, committed.slot_size)
