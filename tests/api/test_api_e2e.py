"""A whole sale driven through the REST API, with the worker's metrics scraped along the way
(issue: the operator's surface, "done when": a real-stack test drives a whole sale through the
REST API only, from offering an availability to seeing the slot Finished, validating every
response against the OpenAPI document; point 2: a test scrapes a real worker during a
real-stack sale and checks the values move as they must; point 6: headless Chromium finds the
proving sale by the SaleState filter of the Web UI and reads its current details).

The host side goes through the API process (`worker.py --role api`, with a bearer token) only;
the client's storage request is a chain transaction, and the sales service is started as the
operator starts it (Codex's API has no such path). The worker runs with its Prometheus port.
"""

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from deploy.local.processes import free_port
from deploy.local.scenario import ManagedProcess, start_api
from sales.api import sale_workflow_id
from sales.ids import slot_id
from tests.api.openapi_check import validate_response
from tests.api.webui import sale_in_web_ui
from tests.conftest import TEMPORAL_UI_PORT
from tests.e2e.conftest import E2EStack
from tests.e2e.helpers import client_requests, ensure_service, poll

pytestmark = [pytest.mark.real_stack, pytest.mark.slow]

TOKEN = "e2e-" + os.urandom(8).hex()
PREFIX = "/api/codex/v1"


class Api:
    """The API process's client: every answer is checked against the served OpenAPI doc."""

    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        self.base = base
        self.doc: dict[str, Any] = {}

    async def call(self, method: str, path: str, template: str, status: int, **kw: Any) -> Any:
        response = await self.http.request(method, self.base + path, **kw)
        assert response.status_code == status, (method, path, response.text)
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            validate_response(self.doc, PREFIX + template, method, status, body)
            return body
        return None


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("codex_sales_"):
                labels = {
                    k: v
                    for k, v in sample.labels.items()
                    if k in ("state", "outcome", "entry", "stage", "operation")
                }
                key = (sample.name, frozenset(labels.items()))
                samples[key] = samples.get(key, 0.0) + sample.value
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_a_sale_through_the_rest_api_with_metrics_moving(
    e2e: E2EStack, e2e_client: Client, tmp_path: Path
) -> None:
    metrics_port = free_port()
    assert e2e.worker is not None
    e2e.worker.stop()
    e2e.environment["SALES_METRICS_ADDRESS"] = f"127.0.0.1:{metrics_port}"
    e2e.environment["SALES_LOG_FORMAT"] = "json"
    e2e.start_worker()
    api_process: ManagedProcess | None = None
    try:
        api_process, base = start_api(
            {**e2e.environment, "SALES_API_TOKEN": TOKEN}, e2e.logs / "api.log"
        )
        api = Api(base)
        assert (
            await api.http.get(base + "/sales/availability", headers={"Authorization": ""})
        ).status_code == 401
        api.doc = (await api.http.get(base.removesuffix(PREFIX) + "/openapi.json")).json()
        await drive_sale(e2e, e2e_client, api, metrics_port, tmp_path)
    finally:
        if api_process is not None:
            api_process.stop()


async def drive_sale(
    e2e: E2EStack, client: Client, api: Api, metrics_port: int, shots: Path
) -> None:
    offered = await api.call(
        "POST", "/sales/availability", "/sales/availability", 201,
        json={"totalSize": 1_000_000, "duration": 3600, "minPricePerBytePerSecond": "1",
              "totalCollateral": "1000000"},
    )  # fmt: skip
    listed = await api.call("GET", "/sales/availability", "/sales/availability", 200)
    assert [a["id"] for a in listed] == [offered["id"]]
    await ensure_service(e2e, client)
    before = scrape(metrics_port)
    request = await client_requests(e2e, slots=1, expiry=100, duration=105)
    sid = slot_id(request.id, 0)
    agent_path = "/sales/slots/{slotId}"

    async def listed_as_active() -> bool:
        slots = await api.call("GET", "/sales/slots", "/sales/slots", 200)
        return any(s["id"] == sid and s["request"]["id"] == request.id for s in slots)

    await poll(listed_as_active, 90, "the slot to be listed by GET /sales/slots")
    seen: list[str] = []

    async def state_is(*wanted: str) -> bool:
        agent = await api.call("GET", f"/sales/slots/{sid}", agent_path, 200)
        if not seen or seen[-1] != agent["state"]:
            seen.append(agent["state"])
        ended = {"SaleFinished", "SaleCancelled", "SaleFailed", "SaleErrored", "SaleIgnored"}
        assert agent["state"] in wanted or agent["state"] not in ended, f"sale ended: {seen}"
        return agent["state"] in wanted

    await poll(
        lambda: state_is("SaleProving"),
        request.expiry + 60,
        "the sale to prove (GET /sales/slots/{id})",
    )
    reservations = await api.call(
        "GET", f"/sales/availability/{offered['id']}/reservations",
        "/sales/availability/{id}/reservations", 200,
    )  # fmt: skip
    assert [(r["requestId"], r["slotIndex"]) for r in reservations] == [(request.id, 0)]

    async def proving_shows() -> bool:
        now = scrape(metrics_port)
        return (
            value(now, "codex_sales_proofs_submitted_total") >= 1
            and value(now, "codex_sales_sales", state="Proving") == 1
            and value(now, "codex_sales_slots_hosted") == 1
        )

    await poll(proving_shows, 90, "metrics: a proof submitted, one sale Proving, one slot hosted")
    # The Web UI tells the story (point 6): the SaleState filter finds the sale, and its
    # current details give state, period, proofs, collateral and the next deadline.
    described = await client.get_workflow_handle(sale_workflow_id(sid)).describe()
    listing, details = await sale_in_web_ui(
        f"http://127.0.0.1:{TEMPORAL_UI_PORT}", client.namespace, described.id,
        described.run_id or "", "Proving", shots,
    )  # fmt: skip
    assert "SaleState" in listing and described.id in listing
    for shown in ("Proving", "period", "submitted", "missed", "on chain", "next deadline"):
        assert shown in details, (shown, details)
    during = scrape(metrics_port)
    collateral = request.ask.collateral_per_slot
    assert value(during, "codex_sales_sales_started_total", entry="queue") == 1
    assert value(during, "codex_sales_slots_filled_total") == 1
    assert value(during, "codex_sales_collateral_deposited_tokens_total") == collateral
    assert value(during, "codex_sales_collateral_at_risk_tokens") == collateral
    assert value(during, "codex_sales_transactions_sent_total", operation="market_fill_slot") >= 1
    assert value(during, "codex_sales_proof_generation_seconds_count") >= 2  # initial + period
    assert value(during, "codex_sales_proof_submission_seconds_count") >= 1
    assert value(during, "codex_sales_availability_reserved_bytes") == request.ask.slot_size
    assert value(during, "codex_sales_queue_workers_max") == 3
    assert value(before, "codex_sales_slots_filled_total") == 0

    await poll(
        lambda: state_is("SaleFinished"),
        request.expiry + request.ask.duration + 120,
        "the slot Finished (GET /sales/slots/{id})",
    )
    assert seen[-1] == "SaleFinished" and "SaleProving" in seen

    async def settled_shows() -> bool:
        now = scrape(metrics_port)
        return (
            value(now, "codex_sales_sales_ended_total", outcome="Finished") == 1
            and value(now, "codex_sales_collateral_at_risk_tokens") == 0
            and value(now, "codex_sales_slots_hosted") == 0
        )

    await poll(settled_shows, 60, "metrics: the sale ended Finished, nothing at risk")
    after = scrape(metrics_port)
    assert value(after, "codex_sales_payouts_total") == 1
    assert value(after, "codex_sales_payout_tokens_total") > 0
    assert value(after, "codex_sales_collateral_returned_tokens_total") == collateral
    assert value(after, "codex_sales_periods_missed_total") == 0
    assert value(after, "codex_sales_availability_reserved_bytes") == 0
    [back] = await api.call("GET", "/sales/availability", "/sales/availability", 200)
    assert back["freeSize"] == back["totalSize"] == 1_000_000
    assert back["totalRemainingCollateral"] == "1000000"
    active = await api.call("GET", "/sales/slots", "/sales/slots", 200)
    assert sid not in [s["id"] for s in active]
    json_logs_tell_the_sale(e2e, request.id, sid)


def json_logs_tell_the_sale(e2e: E2EStack, request_id: str, sid: str) -> None:
    """Point 4: the worker's JSON lines carry workflow id, request id, slot id and index and
    the state, and the log shows no credential."""
    text = (e2e.logs / "worker.log").read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    states = {
        line["state"]
        for line in lines
        if line.get("workflow_id") == sale_workflow_id(sid)
        and (line.get("request_id"), line.get("slot_id"), line.get("slot_index"))
        == (request_id, sid, 0)
    }
    assert {"Proving", "Finished"} <= states, states
    assert e2e.roles.host.private_key.removeprefix("0x") not in text
    password = urlsplit(e2e.environment["SALES_DATABASE_URL"]).password
    assert not password or f":{password}@" not in text
