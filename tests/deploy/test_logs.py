"""Structured logs (issue: the operator's surface, point 4): SALES_LOG_FORMAT=json writes one
JSON object per line with the workflow id, request id, slot id and index and the state as
top-level fields, and no line, JSON or text, shows a credential."""

import io
import json
import logging
from collections.abc import Iterator

import pytest

from deploy.logs import configure, secrets_of
from deploy.settings import HostSettings

KEY = "0x" + "4c" * 32
DSN = "postgresql://sales:hunter2-secret@db.example:5432/sales"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def configured(stream: io.StringIO, kind: str) -> None:
    settings = HostSettings(signer_key=KEY, database_url=DSN, api_token="tok-123456")
    configure(secrets_of(settings), env={"SALES_LOG_FORMAT": kind})
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


def sale_line() -> None:
    """A line as the sale workflows write it: Temporal's workflow context plus the sale's."""
    logging.getLogger("temporalio.workflow").info(
        "sale Proving → Payout",
        extra={
            "temporal_workflow": {
                "workflow_id": "sale-0xabc",
                "run_id": "r1",
                "workflow_type": "SlotHosting",
                "task_queue": "sales",
            },
            "request_id": "0x" + "12" * 32,
            "slot_id": "0xabc",
            "slot_index": 2,
            "sale_state": "Payout",
        },
    )


def test_json_lines_carry_the_sales_context(captured: io.StringIO) -> None:
    configured(captured, "json")
    sale_line()
    [line] = captured.getvalue().splitlines()
    record = json.loads(line)
    assert record["message"] == "sale Proving → Payout"
    assert record["level"] == "INFO" and record["logger"] == "temporalio.workflow"
    assert (record["workflow_id"], record["workflow_type"]) == ("sale-0xabc", "SlotHosting")
    assert (record["request_id"], record["slot_id"], record["slot_index"]) == (
        "0x" + "12" * 32, "0xabc", 2,
    )  # fmt: skip
    assert record["state"] == "Payout" and "time" in record


@pytest.mark.parametrize("kind", ["json", "text"])
def test_no_line_shows_a_credential(captured: io.StringIO, kind: str) -> None:
    """The signer key (with or without 0x), the DSN's password (also inside any other URL)
    and the API token are redacted from messages and fields alike."""
    configured(captured, kind)
    log = logging.getLogger("worker")
    log.info("connecting %s with key %s", DSN, KEY)
    log.warning("key without prefix %s", KEY[2:], extra={"token": "tok-123456"})
    log.error("other url postgresql://u:elsewhere-pw@host/db")
    out = captured.getvalue()
    for secret in ("hunter2-secret", KEY[2:], "tok-123456", "elsewhere-pw"):
        assert secret not in out
    assert out.count("***") >= 4


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(SystemExit, match="SALES_LOG_FORMAT"):
        configure(env={"SALES_LOG_FORMAT": "xml"})


def test_json_logs_take_the_sdk_cores_lines_too() -> None:
    """With SALES_LOG_FORMAT=json the SDK core's own lines are forwarded into Python logging
    (hence JSON and redacted); text keeps the default runtime unless metrics need one."""
    from temporalio.runtime import Runtime

    import worker

    assert worker.worker_runtime(HostSettings(), env={}) is None
    assert isinstance(worker.worker_runtime(HostSettings(), env={"SALES_LOG_FORMAT": "json"}),
                      Runtime)  # fmt: skip
