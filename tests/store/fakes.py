"""Test doubles for the data store: server fault injection and an idempotent releaser."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Faults:
    """One-shot faults applied by the server middleware; `requests` logs (path, Range)."""

    fail_next: int = 0  # answer 503 to this many requests
    cut_after: int | None = None  # stream: send this many bytes, then drop the connection
    corrupt_at: int | None = None  # stream: flip the byte at this dataset offset (every time)
    stall_after: int | None = None  # stream: send this many bytes, then hold the connection ...
    stall_seconds: float = 0.0  # ... this long before sending the rest (a slow source; once)
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def stream_ranges(self) -> list[str | None]:
        return [r for p, r in self.requests if p.endswith("/stream")]


def _parse_range(header: str, size: int) -> tuple[int, int]:
    first, last = header.removeprefix("bytes=").split("-")
    return int(first), min(int(last), size - 1)


def fault_middleware(faults: Faults, data_dir: Path) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        faults.requests.append((request.path, request.headers.get("Range")))
        if faults.fail_next > 0:
            faults.fail_next -= 1
            return web.Response(status=503, text="injected outage")
        is_stream = request.path.endswith("/network/stream")
        plain = (
            faults.cut_after is None and faults.corrupt_at is None and faults.stall_after is None
        )
        if not is_stream or plain:
            return await handler(request)
        data = (data_dir / f"{request.match_info['cid']}.bin").read_bytes()
        first, last = _parse_range(request.headers["Range"], len(data))
        body = bytearray(data[first : last + 1])
        if faults.corrupt_at is not None and first <= faults.corrupt_at <= last:
            body[faults.corrupt_at - first] ^= 0xFF
        resp = web.StreamResponse(
            status=206,
            headers={
                "Content-Range": f"bytes {first}-{last}/{len(data)}",
                "Content-Length": str(len(body)),
            },
        )
        await resp.prepare(request)
        if faults.cut_after is not None:
            cut, faults.cut_after = faults.cut_after, None
            await resp.write(bytes(body[:cut]))
            assert request.transport is not None
            request.transport.close()  # the client sees a truncated payload
            return resp
        if faults.stall_after is not None:
            stall, faults.stall_after = faults.stall_after, None
            await resp.write(bytes(body[:stall]))
            await asyncio.sleep(faults.stall_seconds)
            body = body[stall:]
        await resp.write(bytes(body))
        await resp.write_eof()
        return resp

    return middleware


@dataclass
class FakeReleaser:
    """Idempotent per (reservation_id, batch_seq), like the ledger (RES-19)."""

    released: dict[tuple[str, int], int] = field(default_factory=dict)
    calls: int = 0

    async def release(self, reservation_id: str, batch_seq: int, nbytes: int) -> None:
        self.calls += 1
        previous = self.released.setdefault((reservation_id, batch_seq), nbytes)
        assert previous == nbytes, "a batch must always have the same size"

    def total(self, reservation_id: str) -> int:
        return sum(n for (rid, _), n in self.released.items() if rid == reservation_id)


def ignore_range_middleware(data_dir: Path) -> Middleware:
    """A source without Range support: the whole body with 200, whatever was asked."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.endswith("/network/stream") and "Range" in request.headers:
            path = data_dir / f"{request.match_info['cid']}.bin"
            return web.Response(body=path.read_bytes())
        return await handler(request)

    return middleware
