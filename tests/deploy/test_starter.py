"""The operator CLI: clear errors for bad input, availabilities through the REST API."""

import contextlib
import json
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

import starter
from api.app import create_app
from deploy.local.processes import free_port
from ledger.memory import MemoryLedger

CREATE = ["availability", "create", "--duration", "60", "--min-price", "1"]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never read the developer's .stack/ nor inherit SALES_* from the shell."""
    monkeypatch.setenv("SALES_STACK_DIR", str(tmp_path / "no-stack"))
    for name in ("SALES_DATABASE_URL", "SALES_SIGNER_KEY", "SALES_MARKETPLACE_ADDRESS",
                 "SALES_API_URL", "SALES_API_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = starter.main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("size", "message"),
    [("0", "must be larger than zero"), ("-5", "must be larger than zero"), ("ten", "integer")],
)
def test_rest_2_bad_sizes_are_refused_with_a_clear_message(
    size: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run([*CREATE, "--total-size", size, "--total-collateral", "5"], capsys)
    assert code == 2 and message in err


def test_an_api_that_does_not_answer_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI goes through the REST API (issue: the operator's surface, point 5): without one
    it says where it looked and how to start it."""
    monkeypatch.setenv("SALES_API_URL", f"http://127.0.0.1:{free_port()}/api/codex/v1")
    code, _, err = run([*CREATE, "--total-size", "10", "--total-collateral", "5"], capsys)
    assert code == 2 and "does not answer" in err and "--role api" in err


def test_service_needs_a_host_identity(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["service", "start"], capsys)
    assert code == 2 and "SALES_SIGNER_KEY" in err


@pytest.fixture
def in_process_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's HTTP calls reach the API app in process, over a memory ledger."""
    app = create_app(MemoryLedger(quota_bytes=10**9))
    monkeypatch.setattr(starter, "api_transport", lambda: httpx.ASGITransport(app=app))
    monkeypatch.setenv("SALES_API_URL", "http://cli.test/api/codex/v1")


@pytest.mark.usefixtures("in_process_api")
def test_availabilities_are_created_listed_and_updated_through_the_api(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """create, update, list and reservations print the API's JSON with --json (Codex's field
    names, big numbers as strings) and a table without it."""
    code, out, _ = run([*CREATE, "--total-size", "1000", "--total-collateral", "5000", "--json"],
                       capsys)  # fmt: skip
    assert code == 0
    created = json.loads(out)
    assert created["totalSize"] == created["freeSize"] == 1000 and created["enabled"]
    assert created["totalCollateral"] == "5000"

    code, out, _ = run(["availability", "update", created["id"], "--disable", "--json"], capsys)
    assert code == 0 and json.loads(out)["enabled"] is False

    code, out, _ = run(["availability", "list", "--json"], capsys)
    assert [a["id"] for a in json.loads(out)] == [created["id"]]

    code, table, _ = run(["availability", "list"], capsys)
    header, _rule, row = table.splitlines()
    assert header.split()[:3] == ["id", "totalSize", "freeSize"]
    assert row.split()[:3] == [created["id"], "1000", "1000"]

    code, out, _ = run(["availability", "reservations", created["id"]], capsys)
    assert code == 0 and out.strip() == "(none)"


@pytest.mark.usefixtures("in_process_api")
def test_a_keyed_create_run_twice_makes_one_availability(
    capsys: pytest.CaptureFixture[str],
) -> None:
    keyed = [*CREATE, "--total-collateral", "5000", "--key", "k8s-job", "--json"]
    code, out, _ = run([*keyed, "--total-size", "1000"], capsys)
    assert code == 0
    code, again, _ = run([*keyed, "--total-size", "1000"], capsys)
    assert code == 0 and json.loads(again)["id"] == json.loads(out)["id"]
    code, _, err = run([*keyed, "--total-size", "9"], capsys)
    assert code == 2 and "update it instead" in err


@pytest.mark.usefixtures("in_process_api")
def test_refusals_of_the_api_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown availability (404) and a slot without a sale (404) come back as the API's
    status and message."""
    code, _, err = run(["availability", "update", "0x" + "ab" * 32, "--enable"], capsys)
    assert code == 2 and "404 Availability not found" in err
    code, out, _ = run(["slots"], capsys)
    assert code == 0 and out.strip() == "(none)"
    code, _, err = run(["slots", "0x" + "cd" * 32], capsys)
    assert code == 2 and "Provider not filling slot" in err


async def test_service_start_is_idempotent_and_stop_ends_it(temporal_client: Client) -> None:
    """Starting twice keeps the running queue, follower and schedule (a re-run of the demo or
    of `service start` must not fail or duplicate them); stop signals the queue to end and
    deletes the reconcile schedule. No worker runs here: only what the server records."""
    from deploy.local.anvil import dev_accounts
    from deploy.settings import HostSettings
    from sales.api import queue_workflow_id

    key = dev_accounts()[5].private_key
    settings = HostSettings.from_env({"SALES_SIGNER_KEY": key})
    options = {
        "max_workers": 1,
        "max_size": 4,
        "simulate_proof_failures": 0,
        "dispersal_initial_bits": 256,
        "dispersal_window_percent": 50,
        "start_block": 0,
        "confirmations": 1,
        "reconcile_every": 3600,
    }
    first = await starter.start_service(temporal_client, settings, options)
    queue = temporal_client.get_workflow_handle(queue_workflow_id(settings.host_address))
    run = (await queue.describe()).run_id
    again = await starter.start_service(temporal_client, settings, options)
    assert again == first and (await queue.describe()).run_id == run
    try:
        await starter.stop_service(temporal_client, settings)
        history = await queue.fetch_history()
        signals = [
            e.workflow_execution_signaled_event_attributes.signal_name
            for e in history.events
            if e.HasField("workflow_execution_signaled_event_attributes")
        ]
        assert signals == ["stop"], "stop asked the queue to end"
        with pytest.raises(RPCError):
            await temporal_client.get_schedule_handle(first["reconcile schedule"]).describe()
    finally:  # nothing of this host may be left for a later test's worker to pick up
        left = (queue.id, first["follower"], f"{first['reconcile schedule']}-at-start")
        for workflow_id in (*left, first["proving scheduler"]):
            with contextlib.suppress(RPCError):
                await temporal_client.get_workflow_handle(workflow_id).terminate("test over")
