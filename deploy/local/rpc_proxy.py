"""A loopback JSON-RPC proxy that injects faults between the workers and anvil.

The workers get the proxy's URL as ``SALES_RPC_URL``; the fault-injection tests
(`tests/faults`) and the chaos run (`deploy/local/chaos.py`) switch it at runtime:

- ``PASS``: forward every request to the upstream node and its answer back;
- ``REFUSE``: the port stops listening (new connections get ECONNREFUSED) and requests on
  connections already open are reset, as when the endpoint's process is gone;
- ``HANG``: requests are read and never answered (until the mode changes, then reset), as a
  stuck load balancer does; the client's own timeout is what ends them;
- ``GARBAGE``: HTTP 200 with a body that is not JSON, as a broken middlebox returns.

``refuse_after_next_send()`` forwards the next ``eth_sendRawTransaction`` to the node (so it is
mined), drops its answer and refuses from then on: the caller cannot know its transaction
landed. The proxy runs its own event loop in a daemon thread, so a synchronous chaos script and
an asyncio test alike drive it with plain method calls.
"""

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Coroutine
from enum import StrEnum
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from deploy.local.processes import free_port


class ProxyMode(StrEnum):
    PASS = "pass"
    REFUSE = "refuse"
    HANG = "hang"
    GARBAGE = "garbage"


GARBAGE_BODY = b'{"jsonrpc": "2.0", "id": 1, "result": "0x\x00\xff not json'


class RpcProxy:
    """One proxy in front of ``upstream`` on 127.0.0.1:``port`` (a free port by default)."""

    def __init__(self, upstream: str, port: int | None = None) -> None:
        self.upstream = upstream
        self.port = port or free_port()
        self.mode = ProxyMode.PASS
        self.counts: Counter[str] = Counter()
        """Requests seen per JSON-RPC method (and per fault: ``refused``, ``hung``...)."""
        self._refuse_after_send = False
        self._send_marker = ""
        self.sent_then_refused: list[str] = []
        """Transactions forwarded whose answer the proxy dropped (their hashes, as the node
        answered)."""
        self._loop = asyncio.new_event_loop()
        self._changed: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._session: ClientSession | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- control (any thread) -----------------------------------------------------------------

    def start(self) -> "RpcProxy":
        self._thread.start()
        self._run(self._start())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def set_mode(self, mode: ProxyMode) -> None:
        self._run(self._set_mode(mode))

    def refuse_after_next_send(self, containing: str = "") -> None:
        """Forward the next eth_sendRawTransaction (whose raw hex contains ``containing``, say a
        function selector), drop its answer, then refuse everything."""
        self._send_marker = containing.lower().removeprefix("0x")
        self._refuse_after_send = True

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    # --- inside the proxy's loop ----------------------------------------------------------------

    async def _start(self) -> None:
        self._changed = asyncio.Event()
        self._session = ClientSession(timeout=ClientTimeout(total=60))
        app = web.Application(client_max_size=16 * 2**20)
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()

    async def _shutdown(self) -> None:
        self._wake()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _wake(self) -> None:
        """Wake every hanging request: the mode changed."""
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def _set_mode(self, mode: ProxyMode) -> None:
        previous, self.mode = self.mode, mode
        if mode != ProxyMode.REFUSE:
            self._refuse_after_send = False
        self._wake()
        if mode == ProxyMode.REFUSE and previous != ProxyMode.REFUSE and self._site is not None:
            await self._site.stop()  # the port closes: ECONNREFUSED
            self._site = None
        if mode != ProxyMode.REFUSE and self._site is None:
            await self._listen()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        method = _method_of(body)
        self.counts[method] += 1
        if self.mode == ProxyMode.REFUSE:
            return self._reset(request, "refused")
        if self.mode == ProxyMode.HANG:
            self.counts["hung"] += 1
            assert self._changed is not None
            await self._changed.wait()
            return self._reset(request, "hang ended")
        if self.mode == ProxyMode.GARBAGE:
            self.counts["garbage"] += 1
            return web.Response(body=GARBAGE_BODY, content_type="application/json")
        assert self._session is not None
        try:
            async with self._session.post(
                self.upstream, data=body, headers={"Content-Type": "application/json"}
            ) as upstream:
                answer = await upstream.read()
                status = upstream.status
        except (TimeoutError, OSError):
            return self._reset(request, "upstream down")
        if (
            self._refuse_after_send
            and method == "eth_sendRawTransaction"
            and self._send_marker in body.decode(errors="replace").lower()
        ):
            self.sent_then_refused.append(_result_of(answer))
            await self._set_mode(ProxyMode.REFUSE)
            return self._reset(request, "sent then refused")
        return web.Response(body=answer, status=status, content_type="application/json")

    def _reset(self, request: web.Request, why: str) -> web.Response:
        """Drop the connection without an answer (the client sees a reset)."""
        self.counts[why] += 1
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=502)


def _method_of(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return "unparsed"
    if isinstance(parsed, list):
        return "batch"
    method = parsed.get("method") if isinstance(parsed, dict) else None
    return str(method) if method else "unknown"


def _result_of(answer: bytes) -> str:
    try:
        parsed = json.loads(answer)
    except ValueError:
        return "unparsed"
    return str(parsed.get("result") or parsed.get("error")) if isinstance(parsed, dict) else "?"
