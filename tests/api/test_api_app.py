"""The sales REST API over a memory ledger (issue: the operator's surface, point 1): Codex's
status codes and plain-text error bodies (nim-codex `codex/rest/api.nim` and its integration
tests `testrestapivalidation.nim`), string-encoded big numbers, the bearer token, and no 500
with a traceback. Every success body is validated against the generated OpenAPI document."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import PREFIX, create_app
from api.sales import SaleView
from ledger.memory import MemoryLedger
from sales.api import AvailabilitySaved
from sales.ids import slot_id
from tests.api.openapi_check import validate_response
from tests.workflows.fakes import make_request

AVAILABILITY = {
    "totalSize": 140000,
    "duration": 200,
    "minPricePerBytePerSecond": "3",
    "totalCollateral": "300",
}


class FakeSales:
    """Sales as Temporal would show them, and the notices the API sent."""

    def __init__(self, sales: list[SaleView] | None = None) -> None:
        self.sales = sales or []
        self.notices: list[AvailabilitySaved] = []

    async def running(self) -> list[SaleView]:
        return [s for s in self.sales if s.running]

    async def find(self, slot_id: str) -> SaleView | None:
        return next((s for s in self.sales if s.slot_id == slot_id), None)

    async def availability_saved(self, notice: AvailabilitySaved) -> None:
        self.notices.append(notice)


def client_for(app: Any, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api" + PREFIX, headers=headers
    )


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any], FakeSales]]:
    sales = FakeSales()
    app = create_app(MemoryLedger(quota_bytes=10**9), sales)
    async with client_for(app) as client:
        yield client, app.openapi(), sales


async def test_offer_list_update_and_reservations_round_trip(
    api: tuple[httpx.AsyncClient, dict[str, Any], FakeSales],
) -> None:
    """POST 201 with SalesAvailabilityREAD (UInt256 as decimal strings, uint64 as integers,
    numbers also accepted as strings); GET lists it; PATCH 204 changes it and tells the queue
    (RES-23); reservations of a fresh availability are an empty list."""
    client, doc, sales = api
    created = await client.post("/sales/availability", json={**AVAILABILITY, "duration": "200"})
    assert created.status_code == 201, created.text
    body = created.json()
    validate_response(doc, f"{PREFIX}/sales/availability", "post", 201, body)
    assert body["totalSize"] == body["freeSize"] == 140000
    assert body["totalCollateral"] == body["totalRemainingCollateral"] == "300"
    assert body["minPricePerBytePerSecond"] == "3" and body["duration"] == 200
    assert body["enabled"] is True and body["until"] == 0
    listed = await client.get("/sales/availability")
    validate_response(doc, f"{PREFIX}/sales/availability", "get", 200, listed.json())
    assert [a["id"] for a in listed.json()] == [body["id"]]

    patched = await client.patch(
        f"/sales/availability/{body['id']}", json={"totalSize": 150000, "totalCollateral": 400}
    )
    assert patched.status_code == 204 and patched.content == b""
    [after] = (await client.get("/sales/availability")).json()
    assert after["totalSize"] == after["freeSize"] == 150000
    assert after["totalCollateral"] == "400"
    assert [n.availability_id for n in sales.notices] == [body["id"], body["id"]]

    reservations = await client.get(f"/sales/availability/{body['id']}/reservations")
    assert reservations.status_code == 200 and reservations.json() == []
    path = f"{PREFIX}/sales/availability/{{id}}/reservations"
    validate_response(doc, path, "get", 200, reservations.json())


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"totalSize": 0}, 422, "Total size must be larger then zero"),
        ({"duration": 0}, 422, "duration must be larger then zero"),
        ({"minPricePerBytePerSecond": "0"}, 422,
         "minPricePerBytePerSecond must be larger then zero"),
        ({"totalCollateral": 0}, 422, "totalCollateral must be larger then zero"),
        ({"totalSize": 24000000000}, 422, "Not enough storage quota"),
        ({"until": -1}, 422, "Cannot set until to a negative value"),
        ({"totalSize": "-1"}, 400, "totalSize: Parsed integer outside of valid range"),
        ({"totalCollateral": str(2**256)}, 400,
         "totalCollateral: Parsed integer outside of valid range"),
        ({"duration": "soon"}, 400, "duration: 'soon' is not a decimal integer"),
        ({"duration": None}, 400, "duration: expected an integer, got NoneType"),
    ],
)  # fmt: skip
async def test_create_refusals_carry_codex_codes_and_messages(
    api: tuple[httpx.AsyncClient, dict[str, Any], FakeSales],
    change: dict[str, Any],
    status: int,
    message: str,
) -> None:
    """REST-2: Codex's validation order and wording; bad numbers are 400, rules 422."""
    client, _, _ = api
    response = await client.post("/sales/availability", json={**AVAILABILITY, **change})
    assert (response.status_code, response.text) == (status, message)
    assert response.headers["content-type"].startswith("text/plain")


async def test_zero_check_comes_before_until(
    api: tuple[httpx.AsyncClient, dict[str, Any], FakeSales],
) -> None:
    """Codex checks the zero fields before `until` (testrestapivalidation: duration zero with
    until -1 answers the duration message)."""
    client, _, _ = api
    response = await client.post(
        "/sales/availability", json={**AVAILABILITY, "duration": 0, "until": -1}
    )
    assert (response.status_code, response.text) == (422, "duration must be larger then zero")


async def test_malformed_bodies_are_400_with_a_clear_message(
    api: tuple[httpx.AsyncClient, dict[str, Any], FakeSales],
) -> None:
    """Input that does not parse is 400 with a message naming the problem, never a 500."""
    client, _, _ = api
    broken = await client.post(
        "/sales/availability", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert (broken.status_code, broken.text) == (400, "Invalid JSON in the request body")
    missing = await client.post("/sales/availability", json={"totalSize": 1})
    assert missing.status_code == 400
    assert "duration: Field required" in missing.text


async def test_patch_refusals(api: tuple[httpx.AsyncClient, dict[str, Any], FakeSales]) -> None:
    """REST-3..6: unknown id 404, freeSize 422 "not allowed", zero size 422, over quota 422,
    a malformed id 400, a negative number 400."""
    client, _, _ = api
    created = (await client.post("/sales/availability", json=AVAILABILITY)).json()
    url = f"/sales/availability/{created['id']}"
    unknown = await client.patch(f"/sales/availability/0x{'ab' * 32}", json={"duration": 100})
    assert (unknown.status_code, unknown.text) == (404, "Availability not found")
    free = await client.patch(url, json={"freeSize": 110000})
    assert free.status_code == 422 and "not allowed" in free.text
    zero = await client.patch(url, json={"totalSize": 0})
    assert (zero.status_code, zero.text) == (422, "Total size must be larger then zero")
    quota = await client.patch(url, json={"totalSize": 24000000000})
    assert (quota.status_code, quota.text) == (422, "Not enough storage quota")
    negative = await client.patch(url, json={"totalSize": "-1"})
    assert (negative.status_code, negative.text) == (
        400,
        "totalSize: Parsed integer outside of valid range",
    )
    bad_id = await client.patch("/sales/availability/not-an-id", json={"duration": 1})
    assert bad_id.status_code == 400 and "Invalid availability id" in bad_id.text
    gone = await client.get(f"/sales/availability/0x{'cd' * 32}/reservations")
    assert (gone.status_code, gone.text) == (404, "Availability not found")
    bad = await client.get("/sales/availability/0x12/reservations")
    assert bad.status_code == 400


async def test_slots_show_sales_as_codex_slot_agents() -> None:
    """GET /sales/slots lists running sales with a known request as Codex `Slot`s; GET
    /sales/slots/{slotId} answers a `SlotAgent` with the state in Codex's names (404 without
    a sale, 400 for an id that is not 32 bytes of hex)."""
    request = make_request()
    hosting = SaleView(
        slot_id=slot_id(request.id, 1),
        request_id=request.id,
        slot_index=1,
        state="Proving",
        running=True,
        request=request,
    )
    finished = hosting.model_copy(
        update={
            "slot_id": slot_id(request.id, 0),
            "slot_index": 0,
            "state": "Finished",
            "running": False,
        }
    )
    app = create_app(MemoryLedger(), FakeSales([hosting, finished]))
    doc = app.openapi()
    async with client_for(app) as client:
        slots = (await client.get("/sales/slots")).json()
        validate_response(doc, f"{PREFIX}/sales/slots", "get", 200, slots)
        assert [(s["id"], s["slotIndex"], s["request"]["id"]) for s in slots] == [
            (hosting.slot_id, 1, request.id)
        ]
        assert slots[0]["request"]["ask"]["pricePerBytePerSecond"] == str(
            request.ask.price_per_byte_per_second
        )
        agent = (await client.get(f"/sales/slots/{hosting.slot_id}")).json()
        validate_response(doc, f"{PREFIX}/sales/slots/{{slotId}}", "get", 200, agent)
        assert (agent["state"], agent["slotIndex"], agent["requestId"]) == (
            "SaleProving",
            1,
            request.id,
        )
        done = (await client.get(f"/sales/slots/{finished.slot_id.removeprefix('0x')}")).json()
        assert done["state"] == "SaleFinished" and done["request"] is not None
        none = await client.get(f"/sales/slots/0x{'ee' * 32}")
        assert (none.status_code, none.text) == (404, "Provider not filling slot")
        bad = await client.get("/sales/slots/xyz")
        assert bad.status_code == 400 and "Invalid SlotId" in bad.text


async def test_bearer_token_guards_every_path() -> None:
    """With SALES_API_TOKEN set, a call without the token or with a wrong one is 401."""
    app = create_app(MemoryLedger(), token="s3cret")
    async with client_for(app) as anonymous, client_for(app, "wrong") as wrong:
        for client in (anonymous, wrong):
            assert (await client.get("/sales/availability")).status_code == 401
            assert (await client.get("/sales/slots")).status_code == 401
    async with client_for(app, "s3cret") as allowed:
        assert (await allowed.get("/sales/availability")).status_code == 200


class BrokenLedger(MemoryLedger):
    async def list_availabilities(self) -> Any:
        raise RuntimeError("connection to server lost: password=hunter2")


async def test_unexpected_failure_is_a_500_without_traceback_or_secrets() -> None:
    """A failure that is no business error answers 500 naming only the error's kind: no
    traceback, no message text (which may carry a DSN)."""
    app = create_app(BrokenLedger())
    async with client_for(app) as client:
        response = await client.get("/sales/availability")
    assert (response.status_code, response.text) == (500, "Internal error (RuntimeError)")
