"""The prover's circuit files are checked at start-up (issue 16, point 5).

PROVER_WASM / PROVER_ZKEY / PROVER_R1CS / PROVER_VK name a circuit's files; a worker refuses to
start when they do not fit together, or when the zkey is not the one the marketplace's
configuration names by its zkeyHash.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from chain.config import DEV
from proofs.circuit_files import (
    CircuitFileError,
    check_circuit_files,
    read_r1cs_header,
    read_zkey_header,
    zkey_sha256,
)
from proofs.poseidon2.circuit_input import CircuitParams
from proofs.prover import ProverConfig, check_against_marketplace
from proofs.public_inputs import SNARK_SCALAR_FIELD
from proofs.snarkjs_io import load_verification_key

ARTIFACTS = Path(__file__).resolve().parents[2] / "proofs" / "circuits" / "artifacts"
ZKEY = ARTIFACTS / "storage_final.zkey"
VK = ARTIFACTS / "verification_key.json"


def r1cs_file(path: Path, prime: int, n_out: int, n_in: int) -> Path:
    """A minimal R1CS file: magic, version, one header section."""
    body = struct.pack("<I", 32) + prime.to_bytes(32, "little")
    body += struct.pack("<IIIIQI", 100, n_out, n_in, 50, 150, 99)
    path.write_bytes(b"r1cs" + struct.pack("<II", 1, 1) + struct.pack("<IQ", 1, len(body)) + body)
    return path


def test_committed_dev_files_fit_together() -> None:
    """The zkey's own verification key (Montgomery-decoded) is PROVER_VK's; 3 public inputs."""
    header = check_circuit_files(ZKEY, load_verification_key(VK))
    assert header.n_public == 3
    assert read_zkey_header(ZKEY).alpha1 == load_verification_key(VK).alpha1


def test_a_foreign_verification_key_is_refused(tmp_path: Path) -> None:
    """A VK that is not the zkey's would make every local check meaningless: refused."""
    vk = load_verification_key(VK)
    other = type(vk)(vk.alpha1, vk.beta2, vk.beta2, vk.delta2, vk.ic)
    with pytest.raises(CircuitFileError, match="not the one"):
        check_circuit_files(ZKEY, other)


def test_r1cs_header_is_checked(tmp_path: Path) -> None:
    """An R1CS over BN254 with 3 public inputs passes; another field or count does not."""
    vk = load_verification_key(VK)
    good = r1cs_file(tmp_path / "good.r1cs", SNARK_SCALAR_FIELD, 0, 3)
    assert read_r1cs_header(good).n_public == 3
    check_circuit_files(ZKEY, vk, r1cs=good)
    bad = r1cs_file(tmp_path / "bad.r1cs", SNARK_SCALAR_FIELD, 1, 3)
    with pytest.raises(CircuitFileError, match="3 public inputs"):
        check_circuit_files(ZKEY, vk, r1cs=bad)
    (tmp_path / "junk.r1cs").write_bytes(b"nope")
    with pytest.raises(CircuitFileError, match="not a snarkjs"):
        read_r1cs_header(tmp_path / "junk.r1cs")


def test_marketplace_zkey_hash_must_name_the_zkey() -> None:
    """zkeyHash "" (the dev marketplace) checks only the files; a hash must be the zkey's."""
    vk = load_verification_key(VK)
    check_circuit_files(ZKEY, vk, marketplace_zkey_hash="")
    check_circuit_files(ZKEY, vk, marketplace_zkey_hash="0x" + zkey_sha256(ZKEY).upper())
    with pytest.raises(CircuitFileError, match="zkeyHash"):
        check_circuit_files(ZKEY, vk, marketplace_zkey_hash="65dfa139" + "0" * 56)
    # an operator may state the published name of the key instead of its SHA-256
    check_circuit_files(ZKEY, vk, marketplace_zkey_hash="abc", zkey_id="ABC")


def test_config_from_env_names_codex_files_and_parameters(tmp_path: Path) -> None:
    """The env names the four files and the codex circuit's parameters, like nim-codex's flags."""
    files = {}
    for name, src in (("wasm", ARTIFACTS / "storage.wasm"), ("zkey", ZKEY), ("vk", VK)):
        files[name] = tmp_path / src.name
        shutil.copy(src, files[name])
    r1cs = r1cs_file(tmp_path / "c.r1cs", SNARK_SCALAR_FIELD, 0, 3)
    config = ProverConfig.from_env(
        {
            "PROVER_WASM": str(files["wasm"]),
            "PROVER_ZKEY": str(files["zkey"]),
            "PROVER_VK": str(files["vk"]),
            "PROVER_R1CS": str(r1cs),
            "PROVER_CIRCUIT": "codex",
            "PROVER_MAX_SLOT_DEPTH": "16",
            "PROVER_SAMPLES": "5",
        }
    )
    assert config.r1cs == r1cs and config.circuit == "codex"
    assert config.codex_params == CircuitParams(max_depth=16, max_log2_n_slots=8, n_samples=5)
    config.check()
    files["wasm"].unlink()
    with pytest.raises(CircuitFileError, match="missing"):
        config.check()
    with pytest.raises(ValueError, match="PROVER_CIRCUIT"):
        ProverConfig.from_env({"PROVER_CIRCUIT": "other"})


async def test_start_up_check_reads_the_marketplace_configuration() -> None:
    """The worker's check fetches configuration().proofs.zkeyHash and compares the zkey."""

    class Market:
        def __init__(self, zkey_hash: str) -> None:
            self.config = DEV.model_copy(
                update={"proofs": DEV.proofs.model_copy(update={"zkey_hash": zkey_hash})}
            )

        async def configuration(self):  # type: ignore[no-untyped-def]
            return self.config

    assert await check_against_marketplace(ProverConfig(), Market("")) == ""
    assert await check_against_marketplace(ProverConfig(), Market(zkey_sha256(ZKEY)))
    with pytest.raises(CircuitFileError):
        await check_against_marketplace(ProverConfig(), Market("ff" * 32))
