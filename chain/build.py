"""Compile the development marketplace and write committed artifacts (``python -m chain.build``).

solcjs 0.8.28 from npm, standard JSON, evmVersion paris, optimizer on with 1000 runs: Codex's own
compiler settings (MARKETPLACE_ABI.md §0). Artifacts are written with sorted keys and no
timestamps so a rebuild is byte-for-byte identical; a test checks that the committed files match.
"""

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

CHAIN_DIR = Path(__file__).resolve().parent
ROOT_DIR = CHAIN_DIR.parent
CONTRACTS_DIR = CHAIN_DIR / "contracts"
ARTIFACTS_DIR = CHAIN_DIR / "artifacts"
COMPILE_SCRIPT = CHAIN_DIR / "compile.mjs"

SOLC_VERSION = "0.8.28"
EVM_VERSION = "paris"
OPTIMIZER_RUNS = 1000
OUTPUT_SELECTION = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]

DEPLOYABLE = {
    "Marketplace": "contracts/Marketplace.sol",
    "TestToken": "contracts/TestToken.sol",
    "TestVerifier": "contracts/TestVerifier.sol",
    "Groth16Verifier": "contracts/Groth16Verifier.sol",
}
"""Contract name -> source unit: the contracts that get an artifact."""


class BuildError(RuntimeError):
    """The compiler reported errors or could not run."""


def standard_json_input(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """Every .sol file under ``contracts_dir`` as a source unit named ``contracts/<file>``."""
    sources = {
        f"contracts/{path.name}": {"content": path.read_text()}
        for path in sorted(contracts_dir.glob("*.sol"))
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "outputSelection": {"*": {"*": OUTPUT_SELECTION}},
        },
    }


def compile_contracts(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, dict[str, Any]]:
    """Compile and return the artifact of each deployable contract, keyed by contract name."""
    request = json.dumps(standard_json_input(contracts_dir))
    try:
        done = subprocess.run(
            ["node", str(COMPILE_SCRIPT)],
            input=request,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT_DIR,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"solcjs failed to run: {exc}") from exc
    result = json.loads(done.stdout)
    version: str = result["version"]
    if not version.startswith(SOLC_VERSION + "+"):
        raise BuildError(f"expected solc {SOLC_VERSION}, node_modules has {version}")
    output = result["output"]
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    artifacts: dict[str, dict[str, Any]] = {}
    for name, source in DEPLOYABLE.items():
        compiled = output["contracts"][source][name]
        artifacts[name] = {
            "contractName": name,
            "sourceName": source,
            "abi": compiled["abi"],
            "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
            "compiler": {
                "version": version,
                "evmVersion": EVM_VERSION,
                "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            },
        }
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    """The exact text written to disk: sorted keys, two-space indent, trailing newline."""
    return json.dumps(artifact, sort_keys=True, indent=2) + "\n"


def write_artifacts(
    out_dir: Path = ARTIFACTS_DIR, contracts_dir: Path = CONTRACTS_DIR
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in compile_contracts(contracts_dir).items():
        path = out_dir / f"{name}.json"
        path.write_text(render(artifact))
        written.append(path)
    return written


def load_artifact(name: str) -> dict[str, Any]:
    """A committed artifact: ``{"abi", "bytecode", "deployedBytecode", ...}``."""
    loaded: dict[str, Any] = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ARTIFACTS_DIR, help="artifact directory")
    args = parser.parse_args()
    for path in write_artifacts(args.out):
        print(path)


if __name__ == "__main__":
    main()
