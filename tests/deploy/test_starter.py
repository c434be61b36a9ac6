"""The operator CLI: clear errors for bad input, availabilities on a real PostgreSQL."""

import contextlib
import json
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError

import starter

CREATE = ["availability", "create", "--duration", "60", "--min-price", "1"]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never read the developer's .stack/ nor inherit SALES_* from the shell."""
    monkeypatch.setenv("SALES_STACK_DIR", str(tmp_path / "no-stack"))
    for name in ("SALES_DATABASE_URL", "SALES_SIGNER_KEY", "SALES_MARKETPLACE_ADDRESS"):
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


def test_no_database_configured_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([*CREATE, "--total-size", "10", "--total-collateral", "5"], capsys)
    assert code == 2 and "SALES_DATABASE_URL" in err


def test_service_needs_a_host_identity(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["service", "start"], capsys)
    assert code == 2 and "SALES_SIGNER_KEY" in err


def test_availabilities_are_created_listed_and_updated(
    database_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SALES_DATABASE_URL", database_dsn)
    code, out, _ = run([*CREATE, "--total-size", "1000", "--total-collateral", "5000"], capsys)
    assert code == 0
    created = json.loads(out)
    assert created["total_size"] == created["free_size"] == 1000 and created["enabled"]

    code, out, _ = run(["availability", "update", created["id"], "--disable"], capsys)
    assert code == 0 and json.loads(out)["enabled"] is False

    code, out, _ = run(["availability", "list"], capsys)
    assert [a["id"] for a in json.loads(out)] == [created["id"]]


def test_a_keyed_create_run_twice_makes_one_availability(
    database_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SALES_DATABASE_URL", database_dsn)
    keyed = [*CREATE, "--total-collateral", "5000", "--key", "k8s-job"]
    code, out, _ = run([*keyed, "--total-size", "1000"], capsys)
    assert code == 0
    code, again, _ = run([*keyed, "--total-size", "1000"], capsys)
    assert code == 0 and json.loads(again)["id"] == json.loads(out)["id"]
    code, _, err = run([*keyed, "--total-size", "9"], capsys)
    assert code == 2 and "update it instead" in err


def test_updating_an_unknown_availability_is_refused(
    database_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SALES_DATABASE_URL", database_dsn)
    code, _, err = run(["availability", "update", "0x" + "ab" * 32, "--enable"], capsys)
    assert code == 2 and "not" in err.lower()


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
