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

Reorganisations (README "Reorganisations"):
* Events are delivered only ``confirmations`` blocks deep (DEFAULT_CONFIRMATIONS suits public
  chains; the local stack and the tests ask for 1).
* The cursor keeps the hash of the block it stands on, and the store remembers the hashes of
  recent blocks it delivered from. Before each poll the follower compares the cursor's hash with
  the chain's; a changed hash (a reorganisation at or below the cursor) rewinds the cursor to the
  newest remembered block the chain still has (the fork point) and re-delivers from there.
  Every log's own block hash is checked against the block it claims, so a range read while the
  chain reorganised is read again rather than half delivered.
* Re-delivery is safe because delivery is idempotent by ``key`` (an event the reorganisation
  kept has the same transaction hash and log index). An event that was reorganised away is not
  taken back: the sink only uses events as hints (sales read the chain's state themselves).

Poison events: a sink failure that is not transient (``transient`` errors, e.g. the queue being
unreachable, are retried for ever) counts as an attempt at that event; after
``dead_letter_after`` attempts the event is recorded as a dead letter with its reason (a log
line, the ``dead_lettered`` count and ``on_dead_letter``, which the worker turns into a metric)
and the follower moves on, so one event cannot stop every other. Logs that do not decode are
recorded the same way.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import BlockNotFound

from chain.events import TOPICS, AnyEvent, LogDecodeError, decode_log, log_position
from ledger.follower import (
    Cursor,
    DeadLetter,
    FollowerStorage,
    FollowerStore,
    MemoryFollowerStore,
)
from sales.hexbytes import to_hex
from sales.redact import redact_text
from sales.service_api import DEFAULT_CONFIRMATIONS

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

CursorStore = FollowerStore
"""The follower's durable state in PostgreSQL (ledger/follower.py)."""
CursorStorage = FollowerStorage

DEAD_LETTER_AFTER = 5
"""Failed attempts at one event (non-transient sink errors) before it is dead-lettered."""

SINK_TIMEOUT = 120.0
"""Seconds one delivery may take before it counts as a failed attempt."""


@dataclass(frozen=True)
class BlockHeader:
    """What the follower needs of a block: its height, hash (0x-hex) and time."""

    number: int
    hash: str
    timestamp: int


class ReorgDuringScanError(ConnectionError):
    """A log's block hash is not the hash of the block at its height: the chain moved while the
    range was read. Transient: the range is read again."""


class SinkTimeoutError(RuntimeError):
    """The sink did not take an event within ``sink_timeout`` (counts as a failed attempt)."""


class LogSource(Protocol):
    """Where raw logs come from; `RpcLogSource` in production, crafted logs in unit tests."""

    address: str

    async def head(self) -> int: ...
    async def logs(self, from_block: int, to_block: int) -> list[Mapping[str, Any]]: ...
    async def block(self, block_number: int) -> BlockHeader | None:
        """The block at this height now (None when the chain is not that long)."""
        ...


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
        try:
            result: Any = await self._w3.eth.get_logs(params)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConnectionError(f"malformed eth_getLogs result: {exc}") from exc
        if not isinstance(result, list | tuple):
            raise ConnectionError(f"eth_getLogs answered a {type(result).__name__}, not a list")
        return cast(list[Mapping[str, Any]], list(result))

    async def block(self, block_number: int) -> BlockHeader | None:
        try:
            block = await self._w3.eth.get_block(block_number)
        except BlockNotFound:
            return None
        try:
            return BlockHeader(
                number=int(block["number"]),
                hash=to_hex(bytes(block["hash"])),
                timestamp=int(block["timestamp"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConnectionError(f"malformed block {block_number}: {exc}") from exc

    async def block_timestamp(self, block_number: int) -> int:
        header = await self.block(block_number)
        if header is None:
            raise ConnectionError(f"block {block_number} not found")
        return header.timestamp

    async def close(self) -> None:
        await self._w3.provider.disconnect()


WIDEN_AFTER = 64
"""Accepted eth_getLogs ranges in a row after which the follower asks for twice as many blocks."""


class ChainFollower:
    """Follows one marketplace from a persisted cursor and feeds its events to ``sink``."""

    def __init__(
        self,
        source: LogSource,
        cursor_store: FollowerStorage,
        sink: EventSink,
        *,
        start_block: int = 0,
        confirmations: int = DEFAULT_CONFIRMATIONS,
        batch_blocks: int = 500,
        poll_interval: float = 1.0,
        max_backoff: float = 10.0,
        dead_letter_after: int = DEAD_LETTER_AFTER,
        sink_timeout: float = SINK_TIMEOUT,
        transient: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, OSError),
        on_progress: Callable[[Cursor], None] | None = None,
        on_dead_letter: Callable[[DeadLetter], None] | None = None,
        on_reorg: Callable[[Cursor, Cursor], None] | None = None,
    ) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be at least 1 (the block holding the log)")
        if batch_blocks < 1:
            raise ValueError("batch_blocks must be at least 1")
        if dead_letter_after < 1:
            raise ValueError("dead_letter_after must be at least 1")
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
        self.dead_letter_after = dead_letter_after
        self.sink_timeout = sink_timeout
        self.transient = transient
        """Sink errors that are retried for ever (an outage, not a poison event)."""
        self.on_progress = on_progress
        self.on_dead_letter = on_dead_letter
        self.on_reorg = on_reorg
        self.cursor: Cursor | None = None
        self.failures = 0
        """Failed polls so far (RPC, database or sink errors), each followed by a backoff."""
        self.skipped: list[tuple[tuple[int, int], str]] = []
        """(position, reason) of logs skipped as malformed or foreign, for diagnostics."""
        self.dead_lettered = 0
        """Events moved past without the sink taking them (the metric's count)."""
        self.reorgs = 0
        """Reorganisations seen at or below the cursor (each a rewind)."""
        self._attempts: dict[str, int] = {}

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
        store = FollowerStore(dsn, name or f"marketplace:{source.address.lower()}")
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
        if await self._rewind_if_reorganised():
            return False
        confirmed = await self.source.head() - (self.confirmations - 1)
        start = self.cursor.block_number
        if start > confirmed:
            return True
        end = min(confirmed, start + self.window - 1)
        # the range's last block, read before its logs: a reorganisation after this read shows
        # as a changed hash at the next poll, one before it is already in the logs
        headers: dict[int, BlockHeader] = {end: await self._header(end)}
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
        for raw in ordered:
            position = _safe_position(raw)
            if position[0] >= 0 and position < self.cursor.position:
                continue  # delivered before a restart
            decoded = await self._decode(raw, position, headers, (start, end))
            if decoded is not None:
                await self._deliver(*decoded)
        await self._advance(Cursor(block_number=end + 1, block_hash=headers[end].hash))
        return end >= confirmed

    async def _header(self, number: int) -> BlockHeader:
        header = await self.source.block(number)
        if header is None or header.number != number:
            raise ReorgDuringScanError(f"block {number} is not on the chain any more")
        return header

    async def _rewind_if_reorganised(self) -> bool:
        """Point 3: a changed hash at the cursor rewinds it to the fork point; True if so."""
        assert self.cursor is not None
        cursor = self.cursor
        if cursor.block_hash is None or cursor.anchor < 0:
            return False
        now = await self.source.block(cursor.anchor)
        if now is not None and now.hash == cursor.block_hash:
            return False
        fork: tuple[int, str] | None = None
        known = await self.cursor_store.recent_blocks()
        for number, block_hash in known:
            if number > cursor.anchor:
                continue
            header = await self.source.block(number)
            if header is not None and header.hash == block_hash:
                fork = (number, block_hash)
                break
        if fork is not None:
            rewound = Cursor(block_number=fork[0] + 1, block_hash=fork[1])
        else:  # deeper than the remembered blocks: start again below the oldest of them
            oldest = min([number for number, _ in known] + [cursor.anchor])
            rewound = Cursor(block_number=max(self.start_block, oldest - self.window))
            log.error(
                "chain follower: reorganisation deeper than the %d remembered blocks", len(known)
            )
        log.warning(
            "chain follower: reorganisation: block %d is now %s, not %s; rewinding from %s to "
            "block %d to re-deliver",
            cursor.anchor,
            now.hash if now is not None else "missing",
            cursor.block_hash,
            cursor.position,
            rewound.block_number,
        )
        await self.cursor_store.rewind(rewound)
        self.cursor = rewound
        self.reorgs += 1
        if self.on_reorg is not None:
            self.on_reorg(cursor, rewound)
        return True

    async def _decode(
        self,
        raw: Mapping[str, Any],
        position: tuple[int, int],
        headers: dict[int, BlockHeader],
        scanned: tuple[int, int],
    ) -> tuple[AnyEvent, BlockHeader] | None:
        try:
            if not isinstance(raw, Mapping):
                raise LogDecodeError(f"a {type(raw).__name__} where a log should be")
            block = position[0]
            if block < 0:
                raise LogDecodeError("log without a block number")
            if not scanned[0] <= block <= scanned[1]:
                raise LogDecodeError(f"log of block {block} outside the range asked {scanned}")
            if block not in headers:
                headers[block] = await self._header(block)
            header = headers[block]
            claimed = raw.get("blockHash")
            if claimed is not None and _hex(claimed) != header.hash:
                raise ReorgDuringScanError(
                    f"log at {position} is from block {_hex(claimed)}, the chain has "
                    f"{header.hash}: reading the range again"
                )
            event = decode_log(
                raw, marketplace=self.source.address, block_timestamp=header.timestamp
            )
        except LogDecodeError as exc:
            log.warning("chain follower: skipping log at %s: %s", position, exc)
            self.skipped.append((position, str(exc)))
            await self._dead_letter(
                DeadLetter(
                    key="undecodable:" + _log_key(raw, position),
                    block_number=max(0, position[0]),
                    log_index=max(0, position[1]),
                    kind="undecodable",
                    reason=str(exc)[:500],
                    attempts=0,
                )
            )
            return None
        return event, header

    async def _deliver(self, event: AnyEvent, header: BlockHeader) -> None:
        """Hand one event to the sink and record it, as one step that cancellation cannot split."""
        step = asyncio.ensure_future(self._sink_then_save(event, header))
        try:
            await asyncio.shield(step)
        except asyncio.CancelledError:
            await step  # finish this event (sink + cursor) before stopping
            raise

    async def _sink_then_save(self, event: AnyEvent, header: BlockHeader) -> None:
        try:
            try:
                await asyncio.wait_for(self.sink(event), timeout=self.sink_timeout)
            except TimeoutError as exc:
                raise SinkTimeoutError(
                    f"the sink took longer than {self.sink_timeout:.0f}s"
                ) from exc
        except self.transient:
            raise  # an outage: retried for ever, never a poison event
        except Exception as exc:
            attempts = self._attempts.get(event.key, 0) + 1
            self._attempts[event.key] = attempts
            if attempts < self.dead_letter_after:
                raise
            await self._dead_letter(
                DeadLetter(
                    key=event.key,
                    block_number=event.block_number,
                    log_index=event.log_index,
                    kind=event.kind,
                    reason=_describe(exc),
                    attempts=attempts,
                    event=event.model_dump(mode="json"),
                )
            )
        self._attempts.pop(event.key, None)
        await self._advance(
            Cursor(
                block_number=event.block_number,
                log_index=event.log_index + 1,
                block_hash=header.hash,
            )
        )

    async def _dead_letter(self, letter: DeadLetter) -> None:
        """Record an event the follower moves past, durably, with a log line and the metric."""
        await self.cursor_store.dead_letter(letter)
        self.dead_lettered += 1
        log.error(
            "chain follower: dead-lettered %s %s at %s after %d attempt(s): %s",
            letter.kind,
            letter.key,
            (letter.block_number, letter.log_index),
            letter.attempts,
            letter.reason,
        )
        if self.on_dead_letter is not None:
            self.on_dead_letter(letter)

    async def _advance(self, cursor: Cursor) -> None:
        assert self.cursor is not None
        if cursor.position <= self.cursor.position:
            return
        await self.cursor_store.save(cursor)
        self.cursor = cursor
        if self.on_progress is not None:
            self.on_progress(cursor)


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return to_hex(bytes(value))
    return str(value).lower()


def _log_key(raw: Mapping[str, Any], position: tuple[int, int]) -> str:
    tx_hash = raw.get("transactionHash") if isinstance(raw, Mapping) else None
    if tx_hash is not None:
        try:
            return f"{_hex(tx_hash)}:{position[1]}"
        except Exception:
            pass
    return f"position:{position[0]}:{position[1]}"


def _safe_position(raw: Mapping[str, Any]) -> tuple[int, int]:
    if not isinstance(raw, Mapping):
        return (-1, -1)  # not a log at all: decoding says so
    try:
        return log_position(raw)
    except LogDecodeError:
        return (-1, -1)


def _describe(exc: BaseException) -> str:
    """One line for logs and dead letters, URLs redacted (RPC errors quote the endpoint)."""
    return redact_text(f"{type(exc).__name__}: {exc}")[:300]


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


__all__ = [
    "DEFAULT_CONFIRMATIONS",
    "SALES_EVENTS",
    "BlockHeader",
    "ChainFollower",
    "Cursor",
    "CursorStorage",
    "CursorStore",
    "DeadLetter",
    "FollowerStorage",
    "FollowerStore",
    "MemoryFollowerStore",
    "RpcLogSource",
]
