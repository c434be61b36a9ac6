"""`python starter.py demo`: a whole storage sale on the embedded local stack, to watch.

Brings up the stack, deploys the development marketplace (real Groth16 verification), starts the
data server and a worker, offers an availability, starts the sales service, then acts as a
client: uploads a dataset and requests storage. Each sale's state changes print here as they
happen, and the Web UI shows the same workflows with their histories.
"""

import asyncio
import time
from typing import Any

from deploy.local.scenario import (
    Roles,
    deploy,
    deployed,
    post_request,
    start_api,
    start_data_server,
    start_worker,
)
from deploy.local.stack import LocalStack, StackState
from deploy.settings import HostSettings

TERMINAL = {"finished", "cancelled", "failed", "errored", "ignored"}


def _prepare(stack: LocalStack, roles: Roles) -> StackState:
    """Stack up; deploy and start the data server and worker unless they are running already."""
    state = stack.up()
    assert state.anvil is not None
    env = dict(state.env)
    if not (env.get("SALES_MARKETPLACE_ADDRESS") and deployed(
        state.anvil.rpc_url, env["SALES_MARKETPLACE_ADDRESS"]
    )):  # fmt: skip
        print("Deploying the development marketplace …")
        deployment = deploy(state.anvil.rpc_url, roles)
        env |= {
            "SALES_MARKETPLACE_ADDRESS": deployment.marketplace,
            "SALES_START_BLOCK": str(deployment.block_number),
        }
        state.extra.pop("worker.py", None)  # a worker of an old marketplace must go
    from deploy.local.processes import pid_alive, terminate

    server_pid = state.extra.get("store.server")
    if server_pid is None or not pid_alive(server_pid):
        server, url = start_data_server(stack.root / "source-data", stack.root / "data-server.log")
        state.extra["store.server"] = server.pid
        env["SALES_DATA_URL"] = url
    env |= {
        "SALES_SIGNER_KEY": roles.host.private_key,  # anvil's public dev key, never a real one
        "SALES_DATA_DIR": str(stack.root / "host-data"),
        "SALES_QUOTA_BYTES": str(64 * 2**20),
        "PROVER_CONCURRENCY": "2",
        "SALES_PROVING_CONCURRENCY": "2",
    }
    state.env = env
    stack.save(state)
    worker_pid = state.extra.get("worker.py")
    if worker_pid is not None and pid_alive(worker_pid):
        terminate(worker_pid, "worker.py")
    worker = start_worker(state.environment(), stack.root / "worker.log")
    state.extra["worker.py"] = worker.pid
    stack.save(state)
    start_stack_api(stack, state)
    return state


API_PORT = 8080
"""Codex's REST port; the demo takes a free one when something else holds it."""


def start_stack_api(stack: LocalStack, state: StackState) -> str:
    """The sales REST API next to the worker (restarted, like the worker), its URL kept in the
    stack's env as SALES_API_URL for the CLI."""
    from deploy.local.processes import pid_alive, port_open, terminate

    api_pid = state.extra.get("--role api")
    if api_pid is not None and pid_alive(api_pid):
        terminate(api_pid, "--role api")
    port = None if port_open(API_PORT) else API_PORT
    api, url = start_api(state.environment(), stack.root / "api.log", port)
    state.extra["--role api"] = api.pid
    state.env = {**state.env, "SALES_API_URL": url}
    stack.save(state)
    return url


async def _ensure_availability(settings: HostSettings) -> None:
    """Offer 8 MiB unless the host offers something already, through the sales REST API as an
    operator's script would."""
    from starter import api_call, api_client

    async with api_client(settings) as api:
        if not await api_call(api, "GET", "/sales/availability"):
            body = {"totalSize": 8 * 2**20, "duration": 3600, "minPricePerBytePerSecond": "1",
                    "totalCollateral": str(8 * 2**20)}  # fmt: skip
            created = await api_call(api, "POST", "/sales/availability", body)
            print(f"Availability {created['id'][:18]}… offers 8 MiB (POST {api.base_url}).")


async def _watch(client: Any, request_id: str, slots: int, deadline: float) -> dict[int, str]:
    """Print each sale's state changes until every slot's sale has ended."""
    from sales.api import SALES_VISIBILITY_QUERY
    from workflows.search_attributes import SALE_STATE, SLOT_INDEX

    states: dict[int, str] = {}
    started = time.monotonic()
    query = f"{SALES_VISIBILITY_QUERY} AND RequestId='{request_id}'"
    while time.monotonic() < deadline:
        async for sale in client.list_workflows(query):
            attributes = sale.typed_search_attributes
            index, state = attributes.get(SLOT_INDEX), attributes.get(SALE_STATE)
            if index is not None and state and states.get(index) != state:
                states[index] = state
                print(f"  [{time.monotonic() - started:6.1f}s] slot {index}: {state}")
        if len(states) == slots and {s.lower() for s in states.values()} <= TERMINAL:
            break
        await asyncio.sleep(1)
    return states


async def run_demo(slots: int = 3, keep_running: bool = False) -> int:
    from starter import _client, start_service

    stack, roles = LocalStack(), Roles.default()
    state = _prepare(stack, roles)
    settings = HostSettings.from_env()
    assert state.temporal is not None and state.anvil is not None
    print(f"Temporal Web UI: {state.temporal.ui_url}")
    print(f"Sales REST API (Codex-compatible): {state.env['SALES_API_URL']}/sales/availability")
    await _ensure_availability(settings)
    client = await _client(settings)
    await start_service(
        client,
        settings,
        {
            "max_workers": 3,
            "max_size": 128,
            "simulate_proof_failures": 0,
            "dispersal_initial_bits": 256,
            "dispersal_window_percent": 50,
            "start_block": int(state.env.get("SALES_START_BLOCK", "0")),
            "confirmations": 1,
            "reconcile_every": 600,
        },
    )
    print(f"Sales service running for host {settings.host_address}.")
    request = await post_request(
        state.anvil.rpc_url, settings.marketplace_address, roles.client,
        settings.data_url, slots=slots,
    )  # fmt: skip
    print(f"Client requested storage: request {request.id}, {slots} slots.")
    print(
        f"Watch it: {state.temporal.ui_url}/namespaces/default/workflows"
        f"?query=RequestId%3D%22{request.id}%22"
    )
    deadline = time.monotonic() + request.expiry + request.ask.duration + 180
    states = await _watch(client, request.id, slots, deadline)
    finished = sum(1 for s in states.values() if s.lower() == "finished")
    print(f"{finished}/{slots} sales finished and paid out; states: {states}")
    if not keep_running:
        from deploy.local.processes import terminate

        for name, needle in (("worker.py", "worker.py"), ("--role api", "--role api")):
            pid = state.extra.pop(name, None)
            if pid is not None:
                terminate(pid, needle)
        pid = state.extra.pop("store.server", None)
        if pid is not None:
            terminate(pid, "store.server")
        stack.save(state)
        print("Worker and API stopped; Temporal, PostgreSQL and anvil stay up for the Web UI.")
        print("Stop them with: .venv/bin/python starter.py stack down")
    return 0 if finished == slots else 1
