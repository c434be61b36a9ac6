"""Pieces of a whole sale on the local stack, shared by the demo and the end-to-end tests.

A marketplace deployed with the development circuit's verifying key (real Groth16 proofs), the
Codex-compatible data server and the worker as separate processes (so tests can SIGKILL them),
and a client that uploads a dataset and posts a storage request.
"""

import json
import os
import secrets
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from pydantic import BaseModel

from chain.config import DEMO
from chain.deploy import Deployment, deploy_marketplace
from deploy.local.anvil import DevAccount, dev_accounts, rpc
from deploy.local.processes import REPO_ROOT, free_port, pid_alive, spawn, terminate, wait_until
from sales.models import MarketplaceConfig, StorageAsk, StorageContent, StorageRequest

VERIFYING_KEY = REPO_ROOT / "proofs/circuits/artifacts/verification_key.json"


class Roles(BaseModel):
    """Which anvil development account plays which part."""

    deployer: DevAccount
    host: DevAccount
    client: DevAccount
    validator: DevAccount

    @classmethod
    def default(cls) -> "Roles":
        accounts = dev_accounts()
        return cls(
            deployer=accounts[0], host=accounts[1], client=accounts[2], validator=accounts[3]
        )


def deploy(
    rpc_url: str,
    roles: Roles,
    config: MarketplaceConfig = DEMO,
    *,
    also_fund: Sequence[str] = (),
) -> Deployment:
    """The development marketplace verifying real proofs of the development circuit.

    Host, client and validator get test tokens, and so does every address in ``also_fund``
    (another host a test plays, say).
    """
    return deploy_marketplace(
        rpc_url,
        roles.deployer.private_key,
        config,
        verifier="groth16",
        verifying_key=json.loads(VERIFYING_KEY.read_text()),
        fund=[roles.host.address, roles.client.address, roles.validator.address, *also_fund],
    )


def deployed(rpc_url: str, address: str) -> bool:
    """Whether ``address`` holds code on this chain (a restarted anvil has forgotten it)."""
    code = rpc(rpc_url, "eth_getCode", [address, "latest"])
    return isinstance(code, str) and len(code) > 2


class ManagedProcess(BaseModel):
    """A process of ours (data server, worker) that tests may stop or kill."""

    pid: int
    needle: str

    def alive(self) -> bool:
        return pid_alive(self.pid)

    def stop(self) -> None:
        terminate(self.pid, self.needle, timeout=30)

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
            wait_until(lambda: not self.alive(), 10, f"pid {self.pid} to die")


def start_data_server(
    data_dir: Path, log_path: Path, rate: int | None = None
) -> tuple[ManagedProcess, str]:
    """The Codex-compatible data server; ``rate`` (bytes/s) slows streams down for tests."""
    port = free_port()
    command = [sys.executable, "-m", "store.server", "--data-dir", str(data_dir)]
    command += ["--port", str(port)]
    if rate is not None:
        command += ["--rate", str(rate)]
    pid = spawn(command, log_path)
    process = ManagedProcess(pid=pid, needle="store.server")
    url = f"http://127.0.0.1:{port}"
    from deploy.local.processes import port_open

    wait_until(lambda: port_open(port), 30, "the data server")
    return process, url


def start_worker(environment: dict[str, str], log_path: Path, role: str = "all") -> ManagedProcess:
    """`worker.py` in its own process, configured only through its environment."""
    command = [sys.executable, str(REPO_ROOT / "worker.py"), "--role", role]
    pid = spawn(command, log_path, env={**environment, "PYTHONUNBUFFERED": "1"})
    return ManagedProcess(pid=pid, needle="worker.py")


def start_api(
    environment: dict[str, str], log_path: Path, port: int | None = None
) -> tuple[ManagedProcess, str]:
    """The sales REST API (`worker.py --role api`) on loopback; returns it and its base URL
    (`http://127.0.0.1:PORT/api/codex/v1`) once it accepts connections."""
    from deploy.local.processes import port_open

    port = port or free_port()
    env = {**environment, "SALES_API_ADDRESS": f"127.0.0.1:{port}", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(REPO_ROOT / "worker.py"), "--role", "api"]
    process = ManagedProcess(pid=spawn(command, log_path, env=env), needle="worker.py")
    wait_until(lambda: port_open(port) or not process.alive(), 60, "the sales REST API")
    if not process.alive():
        raise RuntimeError(f"the sales REST API exited; see {log_path}")
    return process, f"http://127.0.0.1:{port}/api/codex/v1"


async def post_request(
    rpc_url: str,
    marketplace: str,
    client: DevAccount,
    data_url: str,
    *,
    slots: int,
    bytes_per_slot: int = 20_000,
    duration: int = 180,
    expiry: int = 90,
    proof_probability: int = 1,
    price_per_byte_per_second: int = 1,
    collateral_per_byte: int = 1,
    max_slot_loss: int = 1,
    data: bytes | None = None,
    prepare: Callable[[StorageRequest], StorageRequest] | None = None,
) -> StorageRequest:
    """Upload ``data`` (random bytes if None), then request storage for it as the client
    (approving the payment). ``prepare`` may change the request last (a test picks its nonce,
    and with it the slot ids)."""
    from chain.client import OnChainClient
    from store.client import upload

    if data is None:
        data = secrets.token_bytes(slots * bytes_per_slot)
    uploaded = await upload(data_url, data, slots)
    request = StorageRequest(
        client=client.address,
        ask=StorageAsk(
            proof_probability=proof_probability,
            price_per_byte_per_second=price_per_byte_per_second,
            collateral_per_byte=collateral_per_byte,
            slots=uploaded.slots,
            slot_size=uploaded.slot_size,
            duration=duration,
            max_slot_loss=max_slot_loss,
        ),
        content=StorageContent(cid=uploaded.cid_bytes, merkle_root=uploaded.merkle_root),
        expiry=expiry,
        nonce=secrets.token_bytes(32),
    )
    if prepare is not None:
        request = prepare(request)
    market = cast(OnChainClient, OnChainClient.connect(rpc_url, marketplace, client.private_key))
    try:
        await market.request_storage(request)
    finally:
        await market.close()
    return request
