"""SnarkjsBackend's process handling, with a stand-in for node (fast, no proving)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from proofs.prover import (
    BACKENDS,
    ProverConfig,
    ProverError,
    SnarkjsBackend,
    WitnessError,
    backend_from_config,
)

VECTORS = Path("/work/shared/vectors/codex-hardhat-groth16")


def fake_node(tmp_path: Path, body: str) -> str:
    """An executable that ignores the script argument and runs `body` (Python)."""
    script = tmp_path / "fake_node"
    script.write_text(f"#!{sys.executable}\nimport sys, json, time, os\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.fixture
def artifacts(tmp_path: Path) -> tuple[Path, Path]:
    wasm, zkey = tmp_path / "c.wasm", tmp_path / "c.zkey"
    wasm.write_bytes(b"")
    zkey.write_bytes(b"")
    return wasm, zkey


async def test_result_is_parsed_and_concurrency_is_bounded(
    tmp_path: Path, artifacts: tuple[Path, Path]
) -> None:
    log = tmp_path / "spans"
    answer = {
        "proof": json.loads((VECTORS / "proof.json").read_text()),
        "publicSignals": json.loads((VECTORS / "public.json").read_text()),
    }
    (tmp_path / "answer.json").write_text(json.dumps(answer))
    node = fake_node(
        tmp_path,
        f"""job = json.load(sys.stdin)
start = time.monotonic(); time.sleep(0.3)
with open({str(log)!r}, "a") as f: f.write(f"{{start}} {{time.monotonic()}}\\n")
sys.stdout.write(open({str(tmp_path / "answer.json")!r}).read())""",
    )
    backend = SnarkjsBackend(*artifacts, node=node, max_concurrent=1)
    results = await asyncio.gather(*(backend.prove({"x": "1"}) for _ in range(3)))
    proof, public = results[0]
    assert public == [int(v) for v in answer["publicSignals"]]
    assert proof.b.x.real == int(answer["proof"]["pi_b"][0][0])
    spans = sorted(tuple(map(float, line.split())) for line in log.read_text().splitlines())
    assert len(spans) == 3
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # never two provers at once with max_concurrent=1


@pytest.mark.parametrize(
    ("code", "error"), [(2, WitnessError), (1, ProverError)], ids=["witness", "crash"]
)
async def test_exit_codes_map_to_typed_errors(
    tmp_path: Path, artifacts: tuple[Path, Path], code: int, error: type[Exception]
) -> None:
    node = fake_node(tmp_path, f"sys.stderr.write('witness: Assert Failed'); sys.exit({code})")
    with pytest.raises(error, match="Assert Failed"):
        await SnarkjsBackend(*artifacts, node=node).prove({})


async def test_garbage_output_is_a_prover_error(
    tmp_path: Path, artifacts: tuple[Path, Path]
) -> None:
    node = fake_node(tmp_path, "print('not json')")
    with pytest.raises(ProverError, match="unusable"):
        await SnarkjsBackend(*artifacts, node=node).prove({})


async def test_a_hung_prover_is_killed_at_the_timeout(
    tmp_path: Path, artifacts: tuple[Path, Path]
) -> None:
    pid_file = tmp_path / "pid"
    node = fake_node(
        tmp_path, f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)"
    )
    started = time.monotonic()
    with pytest.raises(ProverError, match="did not finish"):
        await SnarkjsBackend(*artifacts, node=node, timeout=1.0).prove({})
    assert time.monotonic() - started < 10
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_backend_is_chosen_by_configuration(artifacts: tuple[Path, Path]) -> None:
    wasm, zkey = artifacts
    env = {"PROVER_BACKEND": "snarkjs", "PROVER_WASM": str(wasm), "PROVER_ZKEY": str(zkey)}
    assert isinstance(backend_from_config(ProverConfig.from_env(env)), SnarkjsBackend)
    with pytest.raises(ValueError, match="unknown PROVER_BACKEND"):
        backend_from_config(ProverConfig.from_env({"PROVER_BACKEND": "gpu"}))
    assert "snarkjs" in BACKENDS
    with pytest.raises(FileNotFoundError):
        backend_from_config(ProverConfig.from_env({"PROVER_WASM": "/nonexistent.wasm"}))
