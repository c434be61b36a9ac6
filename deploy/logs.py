"""Process logging: `SALES_LOG_FORMAT=text|json` (text by default, for the local stack).

JSON lines (python-json-logger) carry, next to time, level, logger and message, the sale's
context as top-level fields: `workflow_id`, `run_id`, `workflow_type` and `activity_type`
from Temporal's workflow and activity loggers, and `request_id`, `slot_id`, `slot_index`,
`state`, `reservation_id`, `availability_id` from the sales' own log calls. The workflow logger
already suppresses lines while a workflow replays (`workflow.logger`), so a replay writes no
line twice.

Credentials never appear: every line, text or JSON, passes a redaction of the secrets this
process holds (the signer key, the database password, the API token) and of any password in
a connection URL, before it is written.
"""

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
REDACTED = "***"
URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<password>[^@\s]+)@")
CONTEXT_FIELDS = (
    "request_id",
    "slot_id",
    "slot_index",
    "reservation_id",
    "availability_id",
    "sale_state",
)


class Redactor:
    """Replaces known secret values and URL passwords in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
            if secret.startswith("0x"):
                text = text.replace(secret[2:], REDACTED)
        return URL_PASSWORD.sub(rf"\g<scheme>{REDACTED}@", text)


class SalesJsonFormatter(JsonFormatter):
    """One JSON object per line, with Temporal's and the sale's context flattened."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_default=str,
        )
        self.redact = redact

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        for key in ("temporal_workflow", "temporal_activity"):
            context = log_data.pop(key, None)
            if isinstance(context, Mapping):
                for name in ("workflow_id", "run_id", "workflow_type", "activity_type",
                             "activity_id", "task_queue", "attempt"):  # fmt: skip
                    if name in context and name not in log_data:
                        log_data[name] = context[name]
        if "sale_state" in log_data:
            log_data["state"] = log_data.pop("sale_state")

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class RedactingTextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def configure(secrets: Iterable[str] = (), env: Mapping[str, str] | None = None) -> None:
    """Root logging for a worker, API or CLI process, from SALES_LOG_FORMAT and
    SALES_LOG_LEVEL; `secrets` are the values no line may show."""
    env = os.environ if env is None else env
    kind = env.get("SALES_LOG_FORMAT", "text").lower()
    if kind not in ("text", "json"):
        raise SystemExit(f"SALES_LOG_FORMAT must be text or json, got {kind!r}")
    redact = Redactor(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(
        SalesJsonFormatter(redact) if kind == "json" else RedactingTextFormatter(redact)
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(env.get("SALES_LOG_LEVEL", "INFO"))


def secrets_of(settings: Any) -> list[str]:
    """The secret values a HostSettings holds: signer key, DSN password, API token."""
    from urllib.parse import urlsplit

    values = [getattr(settings, "signer_key", ""), getattr(settings, "api_token", "")]
    dsn = getattr(settings, "database_url", "")
    if dsn:
        try:
            password = urlsplit(dsn).password
        except ValueError:
            password = None
        if password:
            values.append(password)
    return [v for v in values if v]
