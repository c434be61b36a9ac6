"""anvil (Foundry's local EVM, from npm) on loopback, with its well-known development accounts."""

import glob
import json
import urllib.request
from pathlib import Path

from eth_account import Account
from pydantic import BaseModel

from deploy.local.processes import (
    REPO_ROOT,
    StackError,
    free_port,
    pid_alive,
    spawn,
    terminate,
    wait_until,
)

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""anvil's public development mnemonic: its keys guard nothing and must never hold real funds."""
ACCOUNT_COUNT = 10


class DevAccount(BaseModel):
    address: str
    private_key: str

    def __repr__(self) -> str:  # keep keys out of logs and test output
        return f"DevAccount(address={self.address!r})"

    __str__ = __repr__


def dev_accounts(count: int = ACCOUNT_COUNT) -> list[DevAccount]:
    Account.enable_unaudited_hdwallet_features()
    accounts = []
    for index in range(count):
        account = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
        accounts.append(DevAccount(address=account.address, private_key=account.key.hex()))
    return accounts


def find_anvil() -> Path:
    """The platform binary npm installed for @foundry-rs/anvil."""
    pattern = str(REPO_ROOT / "node_modules/@foundry-rs/anvil-*/bin/anvil")
    found = sorted(glob.glob(pattern))
    if not found:
        raise StackError("anvil not found: run `npm ci` in the repository root")
    return Path(found[0])


def rpc(url: str, method: str, params: list[object] | None = None) -> object:
    """One JSON-RPC call (setup and health checks; the app itself uses web3)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise StackError(f"{method} failed: {reply['error']}")
    return reply["result"]


class AnvilNode(BaseModel):
    pid: int
    port: int
    chain_id: int = 31337

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def accounts(self) -> list[DevAccount]:
        return dev_accounts()

    def alive(self) -> bool:
        return pid_alive(self.pid) and _answers(self.rpc_url)

    def stop(self) -> None:
        terminate(self.pid, "anvil")

    @classmethod
    def start(
        cls,
        log_path: Path,
        *,
        port: int | None = None,
        block_time: int | None = None,
        state_file: Path | None = None,
    ) -> "AnvilNode":
        """Start anvil; ``block_time`` mines on a timer (demo), None per transaction (tests).

        With ``state_file`` the chain is loaded from it and saved to it (every few seconds and
        on exit), so a restarted stack keeps its contracts and history, like its database and
        Temporal server do.
        """
        port = port or free_port()
        command = [
            str(find_anvil()), "--host", "127.0.0.1", "--port", str(port),
            "--accounts", str(ACCOUNT_COUNT), "--mnemonic", DEV_MNEMONIC,
            "--chain-id", "31337", "--balance", "1000000",
        ]  # fmt: skip
        if block_time:
            command += ["--block-time", str(block_time)]
        if state_file is not None:
            command += ["--state", str(state_file), "--state-interval", "5"]
        pid = spawn(command, log_path)
        node = cls(pid=pid, port=port)
        try:
            wait_until(node.alive, 30, f"anvil on port {port}")
        except StackError:
            node.stop()
            raise
        return node


def _answers(url: str) -> bool:
    try:
        rpc(url, "eth_chainId")
        return True
    except (OSError, StackError):
        return False
