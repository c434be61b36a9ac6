"""The `api` role: the sales REST API served by uvicorn (`worker.py --role api`).

It reads the same settings as the workers (deploy/settings.py), among them
`SALES_API_ADDRESS` (`host:port`, default 127.0.0.1:8080 — loopback, Codex's API port) and
`SALES_API_TOKEN` (optional: when set, every call needs `Authorization: Bearer <token>`).
The ledger is the host's PostgreSQL ledger and the sales are read from Temporal; the API keeps
no state of its own. SIGTERM/SIGINT stop it gracefully (uvicorn's handlers).
"""

import logging
from typing import Any

from deploy.settings import HostSettings

log = logging.getLogger("api.server")


def split_address(text: str) -> tuple[str, int]:
    """`host:port` (SALES_API_ADDRESS) as (host, port)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"SALES_API_ADDRESS must be host:port, got {text!r}")
    return host.strip("[]"), int(port)


async def serve(settings: HostSettings) -> None:
    """Connect to the ledger and Temporal, then serve until a signal stops uvicorn."""
    import uvicorn
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.envconfig import ClientConfig

    from api.app import create_app
    from api.sales import TemporalSales
    from ledger.postgres import PostgresLedger

    missing = settings.missing_for(["api"])
    if missing:
        raise SystemExit(f"role api needs {', '.join(missing)}")
    host, port = split_address(settings.api_address)
    ledger = await PostgresLedger.connect(settings.database_url, quota_bytes=settings.quota_bytes)
    try:
        config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())  # TLS, API key
        config.setdefault("target_host", settings.temporal_address)
        config.setdefault("namespace", settings.temporal_namespace)
        client = await Client.connect(**config, data_converter=pydantic_data_converter)
        app = create_app(
            ledger, TemporalSales(client, settings.host_address), token=settings.api_token or None
        )
        server = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        log.info("sales REST API on http://%s:%d/api/codex/v1", host, port)
        await uvicorn.Server(server).serve()
    finally:
        await ledger.close()
