"""The chain follower: marketplace logs -> typed events -> an async sink, from a durable cursor.

Delivery guarantee (ARCHITECTURE.md §3):
* Events reach the sink one at a time, in chain order (block number, log index), only once they
  have ``confirmations`` confirmations.
* The cursor (the position of the next event to deliver) is stored in PostgreSQL right after the
  sink returns for each event, and after each fully scanned block range. A restart resumes from
  it, so nothing is lost.
* Cancelling the follower (task cancel, shutdown) never splits "sink returned" from "cursor
  saved": the current event is finished first. Only a hard crash (process killed) between the
  two, or a failed cursor write right after the sink returned, can hand the same event to the
  sink again (after the restart or the retry); every event carries
  ``key = txHash:logIndex`` so the sink (Temporal signals) drops such a repeat. In short:
  at-least-once delivery, exactly-once effect with a key-idempotent sink.
* RPC, database and sink failures are retried with capped exponential backoff; the cursor only
  moves past an event once the sink has taken it. Logs that are not well-formed events of this
  marketplace are logged with the reason and skipped (MKT-11), never fatal.
* RPC providers cap eth_getLogs (block range or result count, each with its own message), so a
  refused range is halved for the next try; the window doubles again after WIDEN_AFTER
  accepted ranges in a row, so a cap costs a refusal now and then, not one per poll.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, cast

import psycopg
from pydantic import BaseModel, ConfigDict
from web3 import AsyncHTTPProvider, AsyncWeb3

from chain.events import TOPICS, AnyEvent, LogDecodeError, decode_log, log_position

log = logging.getLogger(__name__)

EventSink = Callable[[AnyEvent], Awaitable[None]]
"""Receives each event; must be idempotent by ``event.key`` (see the module docstring)."""

SALES_EVENTS = [
    "StorageRequested",
    "RequestFulfilled",
    "RequestFailed",
    "SlotFilled",
    "SlotFreed",
    "RequestCancelled",
    "SlotReservationsFull",
]
"""MKT-11: the seven events the sales module reacts to (ProofSubmitted is opt-in)."""

CURSOR_SCHEMA = """
CREATE TABLE IF NOT EXISTS chain_cursor (
    name text PRIMARY KEY,
    block_number bigint NOT NULL CHECK (block_number >= 0),
    log_index bigint NOT NULL CHECK (log_index >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


class Cursor(BaseModel):
    """Everything strictly before (block_number, log_index) has been delivered."""

    model_config = ConfigDict(frozen=True)

    block_number: int
    log_index: int = 0

    @property
    def position(self) -> tuple[int, int]:
        return (self.block_number, self.log_index)


class CursorStorage(Protocol):
    async def setup(self) -> None: ...
    async def load(self) -> Cursor | None: ...
    async def save(self, cursor: Cursor) -> None: ...


class CursorStore:
    """The follower's durable position, one row per follower name in ``chain_cursor``."""

    def __init__(self, dsn: str, name: str) -> None:
        self._dsn = dsn
        self.name = name
        self._conn: psycopg.AsyncConnection[Any] | None = None

    def __repr__(self) -> str:  # the DSN may hold a password
        return f"CursorStore(name={self.name!r})"

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        return self._conn

    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = await self._connection()
        try:
            cur = await conn.execute(sql, params)
            return await cur.fetchall() if cur.description else []
        except psycopg.OperationalError:
            await self.close()  # reconnect next time
            raise

    async def setup(self) -> None:
        """Create the table if needed (the ledger's migrations will absorb this later)."""
        await self._execute(CURSOR_SCHEMA)

    async def load(self) -> Cursor | None:
        rows = await self._execute(
            "SELECT block_number, log_index FROM chain_cursor WHERE name = %s", (self.name,)
        )
        return Cursor(block_number=rows[0][0], log_index=rows[0][1]) if rows else None

    async def save(self, cursor: Cursor) -> None:
        await self._execute(
            "INSERT INTO chain_cursor (name, block_number, log_index) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET block_number = EXCLUDED.block_number, "
            "log_index = EXCLUDED.log_index, updated_at = now()",
            (self.name, cursor.block_number, cursor.log_index),
        )

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class LogSource(Protocol):
    """Where raw logs come from; `RpcLogSource` in production, crafted logs in unit tests."""

    address: str

    async def head(self) -> int: ...
    async def logs(self, from_block: int, to_block: int) -> list[Mapping[str, Any]]: ...
    async def block_timestamp(self, block_number: int) -> int: ...


class RpcLogSource:
    """eth_getLogs for the marketplace's event topics over JSON-RPC."""

    def __init__(
        self,
        w3: "AsyncWeb3[Any]",
        marketplace: str,
        events: Sequence[str] = SALES_EVENTS,
    ) -> None:
        self._w3 = w3
        self.address: str = AsyncWeb3.to_checksum_address(marketplace)
        self._topics = [TOPICS[name] for name in events]

    @classmethod
    def connect(
        cls, rpc_url: str, marketplace: str, events: Sequence[str] = SALES_EVENTS
    ) -> "RpcLogSource":
        # no retries inside web3: the follower's own backoff handles outages
        provider = AsyncHTTPProvider(
            rpc_url, request_kwargs={"timeout": 10}, exception_retry_configuration=None
        )
        return cls(AsyncWeb3(provider), marketplace, events)

    async def head(self) -> int:
        return int(await self._w3.eth.block_number)

    async def logs(self, from_block: int, to_block: int) -> list[Mapping[str, Any]]:
        params: Any = {
            "address": self.address,
            "fromBlock": from_block,
            "toBlock": to_block,
            "topics": [self._topics],
        }
        return cast(list[Mapping[str, Any]], await self._w3.eth.get_logs(params))

    async def block_timestamp(self, block_number: int) -> int:
        block = await self._w3.eth.get_block(block_number)
        return int(block["timestamp"])

    async def close(self) -> None:
        await self._w3.provider.disconnect()


WIDEN_AFTER = 64
"""Accepted eth_getLogs ranges in a row after which the follower asks for twice as many blocks."""


class ChainFollower:
    """Follows one marketplace from a persisted cursor and feeds its events to ``sink``."""

    def __init__(
        self,
        source: LogSource,
        cursor_store: CursorStorage,
        sink: EventSink,
        *,
        start_block: int = 0,
        confirmations: int = 1,
        batch_blocks: int = 500,
        poll_interval: float = 1.0,
        max_backoff: float = 10.0,
        on_progress: Callable[[Cursor], None] | None = None,
    ) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be at least 1 (the block holding the log)")
        if batch_blocks < 1:
            raise ValueError("batch_blocks must be at least 1")
        self.source = source
        self.cursor_store = cursor_store
        self.sink = sink
        self.start_block = start_block
        self.confirmations = confirmations
        self.batch_blocks = batch_blocks
        self.window = batch_blocks
        """Blocks asked of eth_getLogs next (at most ``batch_blocks``)."""
        self._accepted_in_a_row = 0
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.on_progress = on_progress
        self.cursor: Cursor | None = None
        self.failures = 0
        """Failed polls so far (RPC, database or sink errors), each followed by a backoff."""
        self.skipped: list[tuple[tuple[int, int], str]] = []
        """(position, reason) of logs skipped as malformed or foreign, for diagnostics."""

    @classmethod
    def connect(
        cls,
        rpc_url: str,
        marketplace: str,
        dsn: str,
        sink: EventSink,
        *,
        name: str | None = None,
        events: Sequence[str] = SALES_EVENTS,
        **options: Any,
    ) -> "ChainFollower":
        """The production wiring: JSON-RPC logs, a PostgreSQL cursor named after the contract."""
        source = RpcLogSource.connect(rpc_url, marketplace, events)
        store = CursorStore(dsn, name or f"marketplace:{source.address.lower()}")
        return cls(source, store, sink, **options)

    async def close(self) -> None:
        """Release the RPC session and the database connection (after `run` has returned)."""
        for resource in (self.source, self.cursor_store):
            closer = getattr(resource, "close", None)
            if closer is not None:
                await closer()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Follow the chain until ``stop`` is set or the task is cancelled."""
        backoff = 0.0
        while stop is None or not stop.is_set():
            try:
                caught_up = await self.poll_once()
                backoff = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                backoff = min(self.max_backoff, max(0.1, backoff * 2))
                log.warning("chain follower: %s; retrying in %.1fs", _describe(exc), backoff)
                await _sleep_or_stop(backoff, stop)
                continue
            if caught_up:
                await _sleep_or_stop(self.poll_interval, stop)

    async def poll_once(self) -> bool:
        """Deliver one bounded block range; True when caught up with the confirmed head."""
        if self.cursor is None:
            await self.cursor_store.setup()
            self.cursor = await self.cursor_store.load() or Cursor(block_number=self.start_block)
        confirmed = await self.source.head() - (self.confirmations - 1)
        start = self.cursor.block_number
        if start > confirmed:
            return True
        end = min(confirmed, start + self.window - 1)
        try:
            raw_logs = await self.source.logs(start, end)
        except Exception:
            self.window = max(1, (end - start + 1) // 2)
            self._accepted_in_a_row = 0
            raise
        self._accepted_in_a_row += 1
        if self._accepted_in_a_row % WIDEN_AFTER == 0:
            self.window = min(self.batch_blocks, self.window * 2)
        ordered = sorted(raw_logs, key=_safe_position)
        timestamps: dict[int, int] = {}
        for raw in ordered:
            position = _safe_position(raw)
            if position[0] >= 0 and position < self.cursor.position:
                continue  # delivered before a restart
            event = await self._decode(raw, position, timestamps)
            if event is not None:
                await self._deliver(event)
        await self._advance(Cursor(block_number=end + 1))
        return end >= confirmed

    async def _decode(
        self, raw: Mapping[str, Any], position: tuple[int, int], timestamps: dict[int, int]
    ) -> AnyEvent | None:
        try:
            block = position[0]
            if block < 0:
                raise LogDecodeError("log without a block number")
            if block not in timestamps:
                timestamps[block] = await self.source.block_timestamp(block)
            return decode_log(
                raw, marketplace=self.source.address, block_timestamp=timestamps[block]
            )
        except LogDecodeError as exc:
            log.warning("chain follower: skipping log at %s: %s", position, exc)
            self.skipped.append((position, str(exc)))
            return None

    async def _deliver(self, event: AnyEvent) -> None:
        """Hand one event to the sink and record it, as one step that cancellation cannot split."""
        step = asyncio.ensure_future(self._sink_then_save(event))
        try:
            await asyncio.shield(step)
        except asyncio.CancelledError:
            await step  # finish this event (sink + cursor) before stopping
            raise

    async def _sink_then_save(self, event: AnyEvent) -> None:
        await self.sink(event)
        await self._advance(Cursor(block_number=event.block_number, log_index=event.log_index + 1))

    async def _advance(self, cursor: Cursor) -> None:
        assert self.cursor is not None
        if cursor.position <= self.cursor.position:
            return
        await self.cursor_store.save(cursor)
        self.cursor = cursor
        if self.on_progress is not None:
            self.on_progress(cursor)


def _safe_position(raw: Mapping[str, Any]) -> tuple[int, int]:
    try:
        return log_position(raw)
    except LogDecodeError:
        return (-1, -1)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
