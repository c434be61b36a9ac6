"""Operator CLI for a storage host running the Sales module on Temporal.

    python starter.py stack up|down|status            the embedded local stack
    python starter.py availability create|update|list|reservations   (via the REST API)
    python starter.py slots [ID]                       active slots / one slot's sale (REST API)
    python starter.py api                              serve the sales REST API
    python starter.py service start|stop               queue, chain follower, reconciliation
    python starter.py status                           the queue and the sales
    python starter.py demo                             everything above, with a client, on the stack

Settings come from TEMPORAL_* / SALES_* variables, or from the embedded stack's state.
"""

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from deploy.settings import HostSettings


class UsageError(Exception):
    """A command that cannot run as given; the message says what to change."""


def positive_int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from error
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be larger than zero")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from error
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return value


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


# -- stack --------------------------------------------------------------------------------------


def _stack(args: argparse.Namespace) -> int:
    from deploy.local.stack import LocalStack

    stack = LocalStack()
    if args.action == "up":
        state = stack.up()
        print("Local stack is up:")
        for name, value in stack.status().items():
            print(f"  {name:<9} {value}")
        if state.temporal:
            print(f"Temporal Web UI: {state.temporal.ui_url}")
        from deploy.local.demo import start_stack_api

        print(f"Sales REST API: {start_stack_api(stack, state)}")
    elif args.action == "down":
        stack.down()
        print("Local stack is down.")
    else:
        for name, value in stack.status().items():
            print(f"{name:<9} {value}")
    return 0


# -- availabilities -----------------------------------------------------------------------------


async def _availability(args: argparse.Namespace) -> int:
    """Availabilities through the sales REST API (api/), so the CLI and the API cannot drift."""
    settings = HostSettings.from_env()
    async with api_client(settings) as api:
        if args.action == "create":
            body: dict[str, Any] = {
                "totalSize": args.total_size,
                "duration": args.duration,
                "minPricePerBytePerSecond": str(args.min_price),
                "totalCollateral": str(args.total_collateral),
                "enabled": not args.disabled,
                "until": args.until,
            }
            headers = {"Idempotency-Key": args.key} if args.key else {}
            shown = [await api_call(api, "POST", "/sales/availability", body, headers=headers)]
        elif args.action == "update":
            changes = {
                "totalSize": args.total_size,
                "duration": args.duration,
                "minPricePerBytePerSecond": _text(args.min_price),
                "totalCollateral": _text(args.total_collateral),
                "enabled": args.enabled,
                "until": args.until,
            }
            patch = {k: v for k, v in changes.items() if v is not None}
            await api_call(api, "PATCH", f"/sales/availability/{args.id}", patch)
            every = await api_call(api, "GET", "/sales/availability")
            shown = [a for a in every if a["id"] == args.id.lower()]
        elif args.action == "list":
            shown = await api_call(api, "GET", "/sales/availability")
        else:
            path = f"/sales/availability/{args.id}/reservations"
            _show(await api_call(api, "GET", path), args.json, RESERVATION_COLUMNS)
            return 0
    _show(shown[0] if args.action in ("create", "update") and shown else shown, args.json,
          AVAILABILITY_COLUMNS)  # fmt: skip
    return 0


async def _slots(args: argparse.Namespace) -> int:
    """`slots [ID]`: the host's active slots, or one slot's sale (Codex's SlotAgent)."""
    async with api_client(HostSettings.from_env()) as api:
        if args.id is None:
            slots = await api_call(api, "GET", "/sales/slots")
            rows = [{"id": s["id"], "requestId": s["request"]["id"], "slotIndex": s["slotIndex"],
                     "slotSize": s["request"]["ask"]["slotSize"],
                     "duration": s["request"]["ask"]["duration"]} for s in slots]  # fmt: skip
            _show(slots if args.json else rows, args.json, SLOT_COLUMNS)
        else:
            _show(await api_call(api, "GET", f"/sales/slots/{args.id}"), args.json, AGENT_COLUMNS)
    return 0


AVAILABILITY_COLUMNS = [
    "id",
    "totalSize",
    "freeSize",
    "duration",
    "minPricePerBytePerSecond",
    "totalCollateral",
    "totalRemainingCollateral",
    "enabled",
    "until",
]
RESERVATION_COLUMNS = ["id", "availabilityId", "size", "requestId", "slotIndex", "validUntil"]
SLOT_COLUMNS = ["id", "requestId", "slotIndex", "slotSize", "duration"]
AGENT_COLUMNS = ["state", "requestId", "slotIndex", "reservation"]


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _show(value: Any, as_json: bool, columns: list[str]) -> None:
    """JSON as the API answered, or a table (one row per item, or key/value for one)."""
    if as_json:
        _print(value)
        return
    from tabulate import tabulate

    if isinstance(value, dict):
        rows = [(k, _cell(value.get(k))) for k in columns if k in value]
        print(tabulate(rows, tablefmt="plain"))
    elif not value:
        print("(none)")
    else:
        table = [[_cell(item.get(c)) for c in columns] for item in value]
        print(tabulate(table, headers=columns, tablefmt="simple", disable_numparse=True))


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id", json.dumps(value)))
    return "" if value is None else str(value)


def api_url(settings: HostSettings) -> str:
    """SALES_API_URL, else the embedded stack's API (the demo records it), else the API this
    host's settings bind (SALES_API_ADDRESS)."""
    import os

    url = os.environ.get("SALES_API_URL")
    if not url:
        from deploy.local.stack import LocalStack

        stack = LocalStack()
        url = stack.load().env.get("SALES_API_URL") if stack.state_file.exists() else None
    return (url or f"http://{settings.api_address}/api/codex/v1").rstrip("/")


def api_transport() -> Any:
    """The HTTP transport to the API (None: the network); tests put the app in process."""
    return None


def api_client(settings: HostSettings) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    return httpx.AsyncClient(
        base_url=api_url(settings), headers=headers, timeout=30, transport=api_transport()
    )


async def api_call(
    api: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    """One REST call; an error status or an unreachable API is a UsageError naming it."""
    import httpx

    try:
        response = await api.request(method, path, json=body, headers=headers)
    except httpx.TransportError as error:
        raise UsageError(
            f"the sales REST API at {api.base_url} does not answer ({type(error).__name__}); "
            "start it with `python worker.py --role api` or `python starter.py api`, "
            "or point SALES_API_URL at it"
        ) from error
    if response.status_code >= 400:
        raise UsageError(f"{method} {path}: {response.status_code} {response.text}")
    return response.json() if response.content else None


async def _api(args: argparse.Namespace) -> int:
    """`starter.py api`: serve the sales REST API in the foreground (like `worker.py --role
    api`), on the embedded stack's settings when no SALES_* are set."""
    from api.server import serve

    settings = HostSettings.from_env()
    from worker import configure_logging

    configure_logging(settings)
    await serve(settings)
    return 0


async def notify_queue(settings: HostSettings, notice: Any) -> None:
    """RES-23 → SALES-14, after commit: a running queue takes another look at seen items."""
    from temporalio.service import RPCError

    from sales.queue_api import QueueSignal

    if not settings.host_address:
        return
    client = await _client(settings)
    with contextlib.suppress(RPCError):  # no queue running: nothing to tell
        await client.get_workflow_handle(_queue_id(settings)).signal(
            QueueSignal.AVAILABILITY_SAVED, notice
        )


# -- service ------------------------------------------------------------------------------------


def _queue_id(settings: HostSettings) -> str:
    from sales.api import queue_workflow_id

    return queue_workflow_id(settings.host_address)


async def _client(settings: HostSettings) -> Any:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


async def _service(args: argparse.Namespace) -> int:
    settings = HostSettings.from_env()
    if not settings.host_address:
        raise UsageError("no host identity: set SALES_HOST_ADDRESS or SALES_SIGNER_KEY")
    client = await _client(settings)
    if args.action == "start":
        started = await start_service(client, settings, service_options(args))
        _print(started)
    else:
        await stop_service(client, settings)
        print("Sales service stopped (running sales continue to their end).")
    return 0


def service_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "max_workers": args.max_workers,
        "max_size": args.max_size,
        "simulate_proof_failures": args.simulate_proof_failures,
        "dispersal_initial_bits": args.dispersal_initial_bits,
        "dispersal_window_percent": args.dispersal_window_percent,
        "start_block": args.start_block,
        "confirmations": args.confirmations,
        "reconcile_every": args.reconcile_every,
    }


async def start_service(
    client: Any, settings: HostSettings, options: dict[str, Any]
) -> dict[str, str]:
    """Start (or find running) the queue, the follower, and reconciliation now and on a schedule."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleIntervalSpec,
        ScheduleSpec,
    )
    from temporalio.common import WorkflowIDConflictPolicy

    from sales.api import RECONCILE_WORKFLOW, SALES_TASK_QUEUE, SLOT_QUEUE_WORKFLOW, SaleSettings
    from sales.dispersal import DispersalWindow
    from sales.queue_api import QueueInput, QueueSettings
    from sales.scheduling import PROVING_SCHEDULER_WORKFLOW, SchedulerInput, scheduler_workflow_id
    from sales.service_api import (
        CHAIN_FOLLOWER_WORKFLOW,
        FollowInput,
        ReconcileInput,
        follower_workflow_id,
        reconcile_workflow_id,
    )

    sale = SaleSettings(
        scheduled_proving=True,
        simulate_proof_failures=options["simulate_proof_failures"],
        dispersal=DispersalWindow(
            initial_bits=options["dispersal_initial_bits"],
            window_percent=options["dispersal_window_percent"],
        ),
    )
    queue_id = _queue_id(settings)
    queue = QueueInput(
        settings=QueueSettings(
            max_workers=options["max_workers"], max_size=options["max_size"], sale=sale
        )
    )
    await client.start_workflow(
        SLOT_QUEUE_WORKFLOW,
        queue,
        id=queue_id,
        task_queue=SALES_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="the host's slot queue",
    )
    scheduler_id = scheduler_workflow_id(settings.host_address)
    await client.start_workflow(
        PROVING_SCHEDULER_WORKFLOW,
        SchedulerInput(host=settings.host_address),
        id=scheduler_id,
        task_queue=SALES_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="one chain read per period for every hosted slot",
    )
    follower_id = follower_workflow_id(settings.host_address)
    await client.start_workflow(
        CHAIN_FOLLOWER_WORKFLOW,
        FollowInput(
            queue_workflow_id=queue_id,
            start_block=options["start_block"],
            confirmations=options["confirmations"] or settings.confirmations,
        ),
        id=follower_id,
        task_queue=SALES_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="marketplace event follower",
    )
    reconcile_id = reconcile_workflow_id(settings.host_address)
    reconcile = ReconcileInput(queue_workflow_id=queue_id, settings=sale)
    await client.start_workflow(
        RECONCILE_WORKFLOW,
        reconcile,
        id=f"{reconcile_id}-at-start",
        task_queue=SALES_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    with contextlib.suppress(ScheduleAlreadyRunningError):  # started before: keep it
        await client.create_schedule(
            reconcile_id,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    RECONCILE_WORKFLOW, reconcile, id=reconcile_id, task_queue=SALES_TASK_QUEUE
                ),
                spec=ScheduleSpec(
                    intervals=[
                        ScheduleIntervalSpec(every=timedelta(seconds=options["reconcile_every"]))
                    ]
                ),
            ),
        )
    return {
        "queue": queue_id,
        "follower": follower_id,
        "reconcile schedule": reconcile_id,
        "proving scheduler": scheduler_id,
    }


async def stop_service(client: Any, settings: HostSettings) -> None:
    from temporalio.service import RPCError

    from sales.queue_api import QueueSignal
    from sales.service_api import follower_workflow_id, reconcile_workflow_id

    host = settings.host_address
    with contextlib.suppress(RPCError):  # already stopped
        await client.get_workflow_handle(_queue_id(settings)).signal(QueueSignal.STOP)
    with contextlib.suppress(RPCError):
        await client.get_workflow_handle(follower_workflow_id(host)).cancel()
    with contextlib.suppress(RPCError):
        await client.get_schedule_handle(reconcile_workflow_id(host)).delete()


# -- status -------------------------------------------------------------------------------------


async def _status(args: argparse.Namespace) -> int:
    from temporalio.service import RPCError

    from sales.api import SALES_VISIBILITY_QUERY
    from workflows.search_attributes import SALE_STATE, SLOT_INDEX

    settings = HostSettings.from_env()
    client = await _client(settings)
    try:
        queue = await client.get_workflow_handle(_queue_id(settings)).query("status")
        print(
            f"queue: {'paused' if queue.get('paused') else 'running'}, "
            f"{len(queue.get('items', []))} queued, "
            f"{len(queue.get('running', []))}/{queue.get('max_workers')} workers busy"
        )
    except RPCError:
        print("queue: not running")
    print("sales:")
    async for sale in client.list_workflows(SALES_VISIBILITY_QUERY):
        attributes = sale.typed_search_attributes
        print(
            f"  {sale.id}  slot {attributes.get(SLOT_INDEX)}  "
            f"{attributes.get(SALE_STATE) or '?':<16} {sale.status.name if sale.status else ''}"
        )
    return 0


# -- demo ---------------------------------------------------------------------------------------


async def _demo(args: argparse.Namespace) -> int:
    from deploy.local.demo import run_demo

    return int(await run_demo(slots=args.slots, keep_running=args.keep_running))


# -- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starter.py", description=(__doc__ or "").split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    stack = commands.add_parser("stack", help="the embedded local stack on loopback")
    stack.add_argument("action", choices=["up", "down", "status"])
    stack.set_defaults(handler=_stack)

    availability = commands.add_parser("availability", help="space this host offers")
    actions = availability.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="offer space (RES-8..12)")
    create.add_argument("--total-size", type=positive_int, required=True, help="bytes")
    create.add_argument("--duration", type=positive_int, required=True, help="seconds")
    create.add_argument("--min-price", type=positive_int, required=True,
                        help="minimum price per byte per second")  # fmt: skip
    create.add_argument("--total-collateral", type=positive_int, required=True)
    create.add_argument("--until", type=non_negative_int, default=0,
                        help="unix time after which no slot may end (0: no limit)")  # fmt: skip
    create.add_argument("--disabled", action="store_true")
    create.add_argument("--key", help="idempotency key: the same create run again (a deploy "
                        "script, a retried job) returns the first one's availability")  # fmt: skip
    update = actions.add_parser("update", help="change an availability (REST-3..6)")
    update.add_argument("id")
    update.add_argument("--total-size", type=positive_int)
    update.add_argument("--duration", type=positive_int)
    update.add_argument("--min-price", type=positive_int)
    update.add_argument("--total-collateral", type=positive_int)
    update.add_argument("--until", type=non_negative_int)
    enabled = update.add_mutually_exclusive_group()
    enabled.add_argument("--enable", dest="enabled", action="store_const", const=True)
    enabled.add_argument("--disable", dest="enabled", action="store_const", const=False)
    actions.add_parser("list", help="every availability")
    reservations = actions.add_parser("reservations", help="an availability's reservations")
    reservations.add_argument("id")
    for action in (create, update, actions.choices["list"], reservations):
        action.add_argument("--json", action="store_true", help="the API's JSON, not a table")
    availability.set_defaults(handler=_availability)

    slots = commands.add_parser("slots", help="the host's active slots, or one slot's sale")
    slots.add_argument("id", nargs="?", help="a slot id: its sale's state and reservation")
    slots.add_argument("--json", action="store_true", help="the API's JSON, not a table")
    slots.set_defaults(handler=_slots)

    api = commands.add_parser("api", help="serve the sales REST API (Codex-compatible)")
    api.set_defaults(handler=_api)

    service = commands.add_parser("service", help="the sales service of this host")
    service.add_argument("action", choices=["start", "stop"])
    service.add_argument("--max-workers", type=positive_int, default=3)
    service.add_argument("--max-size", type=positive_int, default=128)
    service.add_argument("--simulate-proof-failures", type=non_negative_int, default=0)
    service.add_argument("--dispersal-initial-bits", type=non_negative_int, default=256)
    service.add_argument("--dispersal-window-percent", type=non_negative_int, default=50)
    service.add_argument("--start-block", type=non_negative_int, default=0)
    service.add_argument(
        "--confirmations",
        type=positive_int,
        default=None,
        help="blocks deep before an event is acted on (default: SALES_CONFIRMATIONS, 12)",
    )
    service.add_argument("--reconcile-every", type=positive_int, default=600, help="seconds")
    service.set_defaults(handler=_service)

    status = commands.add_parser("status", help="the queue and the sales")
    status.set_defaults(handler=_status)

    demo = commands.add_parser("demo", help="a whole sale on the embedded stack")
    demo.add_argument("--slots", type=positive_int, default=3)
    demo.add_argument("--keep-running", action="store_true",
                      help="leave the stack and worker up afterwards")  # fmt: skip
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result)
    except UsageError as error:
        parser.exit(2, f"starter.py: error: {error}\n")
    except Exception as error:
        from ledger.api import LedgerError

        if isinstance(error, LedgerError | ValueError):
            parser.exit(2, f"starter.py: error: {error}\n")
        raise


if __name__ == "__main__":
    sys.exit(main())
