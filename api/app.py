"""The FastAPI application: Codex's five sales paths over the ledger and Temporal.

Status codes and error bodies follow nim-codex `codex/rest/api.nim`: errors are plain text
(`RestApiResponse.error`), 400 for a body or id that does not parse, 422 when validation fails
(zero sizes, quota, `until`, updating `freeSize`), 404 for an unknown availability or a slot
without a sale. Any other failure is a 500 whose body names the error's kind, never a traceback.
An optional bearer token (`SALES_API_TOKEN`) guards every path.
"""

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.models import (
    Reservation,
    SalesAvailability,
    SalesAvailabilityPatch,
    SalesAvailabilityREAD,
    Slot,
    SlotAgent,
    StorageRequest,
    codex_state,
    dump,
)
from api.sales import NoSales, SalesSource
from ledger.api import (
    AvailabilityConflictError,
    AvailabilityPatch,
    BytesOutOfBoundsError,
    InvalidInputError,
    Ledger,
    LedgerError,
    NewAvailability,
    NotExistsError,
    QuotaNotEnoughError,
    SavedAvailability,
    UntilOutOfBoundsError,
)

log = logging.getLogger("api")

PREFIX = "/api/codex/v1"
TAG = "Marketplace"


class ApiError(Exception):
    """An answer other than success: status code and Codex's plain-text message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _ledger_error(error: LedgerError) -> ApiError:
    if isinstance(error, NotExistsError):
        return ApiError(404, "Availability not found")
    if isinstance(
        error,
        QuotaNotEnoughError
        | UntilOutOfBoundsError
        | BytesOutOfBoundsError
        | InvalidInputError
        | AvailabilityConflictError,
    ):
        return ApiError(422, str(error))
    return ApiError(500, str(error))


def _check_id(text: str, what: str) -> str:
    """A 32-byte 0x-hex id (Codex's AvailabilityId / SlotId), normalised; else 400."""
    value = text.lower()
    if not value.startswith("0x"):
        value = "0x" + value
    try:
        ok = len(value) == 66 and len(bytes.fromhex(value[2:])) == 32
    except ValueError:
        ok = False
    if not ok:
        raise ApiError(400, f"Invalid {what}: expected 32 bytes as hex, got {text!r}")
    return value


def _positive(fields: dict[str, int | str | None], names: list[tuple[str, str]]) -> None:
    """Codex's zero checks, in Codex's order and wording (typo included)."""
    for field, label in names:
        value = fields.get(field)
        if value is not None and int(value) == 0:
            raise ApiError(422, f"{label} must be larger then zero")


def create_app(
    ledger: Ledger,
    sales: SalesSource | None = None,
    *,
    token: str | None = None,
) -> FastAPI:
    """The API over this ledger and these sales; `token` set means every call needs it."""
    source: SalesSource = sales if sales is not None else NoSales()
    app = FastAPI(
        title="Codex API (sales)",
        version="0.0.1",
        description="The sales paths of Codex's REST API, served by codex-sales-temporal.",
    )
    bearer = HTTPBearer(auto_error=False)

    async def authorised(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> None:
        if token is None:
            return
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise ApiError(401, "Missing or wrong bearer token")

    guard = [Depends(authorised)]

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        return PlainTextResponse(error.message, status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, error: RequestValidationError) -> Response:
        return PlainTextResponse(_validation_message(error), status_code=400)

    @app.middleware("http")
    async def unexpected(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Last resort: a 500 naming the error's kind. Neither the answer nor the log carries
        the message or a traceback, which could hold a DSN or a key."""
        try:
            return await call_next(request)
        except Exception as error:
            log.error("%s %s failed: %s", request.method, request.url.path, type(error).__name__)
            return PlainTextResponse(f"Internal error ({type(error).__name__})", status_code=500)

    async def notify(saved: SavedAvailability) -> None:
        if saved.notice is not None:
            try:
                await source.availability_saved(saved.notice)
            except Exception as error:  # the row is committed; the queue's next look finds it
                log.warning("availability-saved notice not delivered: %s", type(error).__name__)

    @app.get(
        f"{PREFIX}/sales/availability",
        tags=[TAG],
        operation_id="getAvailabilities",
        summary="Returns storage that is for sale",
        response_model=list[SalesAvailabilityREAD],
        dependencies=guard,
    )
    async def get_availabilities() -> Any:
        return [dump(SalesAvailabilityREAD.of(a)) for a in await ledger.list_availabilities()]

    @app.post(
        f"{PREFIX}/sales/availability",
        tags=[TAG],
        operation_id="offerStorage",
        summary="Offers storage for sale",
        status_code=201,
        response_model=SalesAvailabilityREAD,
        responses={400: {"description": "Invalid data input"}, 422: {"description": "Not "
                   "enough node's storage quota available or the provided parameters did not "
                   "pass validation"}},
        dependencies=guard,
    )  # fmt: skip
    async def offer_storage(
        body: SalesAvailability,
        idempotency_key: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Any:
        """Beyond Codex: an `Idempotency-Key` header makes a retried create (a deploy script,
        the CLI's `--key`) return the first one's availability (ledger keyed create)."""
        _positive(
            body.model_dump(),
            [
                ("totalSize", "Total size"),
                ("duration", "duration"),
                ("minPricePerBytePerSecond", "minPricePerBytePerSecond"),
                ("totalCollateral", "totalCollateral"),
            ],
        )
        new = NewAvailability(
            total_size=body.totalSize,
            duration=body.duration,
            min_price_per_byte_per_second=int(body.minPricePerBytePerSecond),
            total_collateral=int(body.totalCollateral),
            enabled=body.enabled,
            until=body.until,
            key=idempotency_key,
        )
        try:
            saved = await ledger.create_availability(new)
        except LedgerError as error:
            raise _ledger_error(error) from None
        await notify(saved)
        return JSONResponse(dump(SalesAvailabilityREAD.of(saved.availability)), status_code=201)

    @app.patch(
        f"{PREFIX}/sales/availability/{{id}}",
        tags=[TAG],
        operation_id="updateOfferedStorage",
        summary="Updates availability",
        status_code=204,
        response_class=Response,
        responses={
            400: {"description": "Invalid data input"},
            404: {"description": "Availability not found"},
            422: {"description": "The provided parameters did not pass validation"},
        },
        dependencies=guard,
    )
    async def update_offered_storage(id: str, body: SalesAvailabilityPatch) -> Response:
        availability_id = _check_id(id, "availability id")
        try:
            await ledger.get_availability(availability_id)
        except NotExistsError:
            raise ApiError(404, "Availability not found") from None
        if body.freeSize is not None:
            raise ApiError(422, "Updating freeSize is not allowed")
        _positive(body.model_dump(), [("totalSize", "Total size")])
        patch = AvailabilityPatch(
            total_size=body.totalSize,
            duration=body.duration,
            min_price_per_byte_per_second=_int_or_none(body.minPricePerBytePerSecond),
            total_collateral=_int_or_none(body.totalCollateral),
            enabled=body.enabled,
            until=body.until,
        )
        try:
            saved = await ledger.update_availability(availability_id, patch)
        except LedgerError as error:
            raise _ledger_error(error) from None
        await notify(saved)
        return Response(status_code=204)

    @app.get(
        f"{PREFIX}/sales/availability/{{id}}/reservations",
        tags=[TAG],
        operation_id="getReservations",
        summary="Get availability's reservations",
        response_model=list[Reservation],
        responses={
            400: {"description": "Invalid Availability ID"},
            404: {"description": "Availability not found"},
        },
        dependencies=guard,
    )
    async def get_reservations(id: str) -> Any:
        availability_id = _check_id(id, "availability id")
        try:
            await ledger.get_availability(availability_id)
        except NotExistsError:
            raise ApiError(404, "Availability not found") from None
        reservations = await ledger.list_reservations(availability_id)
        return [dump(Reservation.of(r)) for r in reservations]

    @app.get(
        f"{PREFIX}/sales/slots",
        tags=[TAG],
        operation_id="getActiveSlots",
        summary="Returns active slots",
        response_model=list[Slot],
        dependencies=guard,
    )
    async def get_active_slots() -> Any:
        slots = []
        for sale in await source.running():
            if sale.request is not None:
                slot = Slot(
                    id=sale.slot_id,
                    request=StorageRequest.of(sale.request),
                    slotIndex=sale.slot_index,
                )
                slots.append(dump(slot))
        return slots

    @app.get(
        f"{PREFIX}/sales/slots/{{slotId}}",
        tags=[TAG],
        operation_id="getActiveSlotById",
        summary="Returns active slot with id {slotId} for the host",
        response_model=SlotAgent,
        responses={
            400: {"description": "Invalid or missing SlotId"},
            404: {"description": "Host is not in an active sale for the slot"},
        },
        dependencies=guard,
    )
    async def get_active_slot_by_id(slotId: str) -> Any:
        slot_id = _check_id(slotId, "SlotId")
        sale = await source.find(slot_id)
        if sale is None:
            raise ApiError(404, "Provider not filling slot")
        agent = SlotAgent(
            slotIndex=sale.slot_index,
            requestId=sale.request_id,
            request=StorageRequest.of(sale.request) if sale.request is not None else None,
            reservation=Reservation.of(sale.reservation) if sale.reservation else None,
            state=codex_state(sale.state),
        )
        return dump(agent)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document without its default 422 "Validation Error" answers: this API
    answers input that does not parse with 400 and plain text (Codex's codes), so those
    entries would document a response that never comes."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                answer = operation.get("responses", {}).get("422", {})
                if "HTTPValidationError" in str(answer.get("content", "")):
                    del operation["responses"]["422"]
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema


def _int_or_none(text: str | None) -> int | None:
    return None if text is None else int(text)


def _validation_message(error: RequestValidationError) -> str:
    """One line per problem, `field: reason`, without pydantic's noise."""
    lines = []
    for problem in error.errors():
        location = [str(part) for part in problem.get("loc", ()) if part != "body"]
        message = str(problem.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        if problem.get("type") == "json_invalid":
            location, message = [], "Invalid JSON in the request body"
        elif problem.get("type") == "missing" and not location:
            message = "Missing request body"
        lines.append(f"{'.'.join(location)}: {message}" if location else message)
    return "; ".join(lines) or "Invalid data input"
