"""The chain follower's durable state in the ledger database: cursor, recent block hashes and
dead letters (migration 0004), behind the small `FollowerStorage` port the follower uses.

`FollowerStore` keeps one autocommit connection (the follower is a single task) and runs the
ledger's migrations at setup, so a follower started before any ledger still finds its tables.
`MemoryFollowerStore` has the same semantics for unit tests.
"""

import json
from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
from pydantic import BaseModel, ConfigDict

from ledger.migrate import migrate

KEEP_BLOCKS = 256
"""Recent block hashes kept per follower: how deep a reorganisation's fork point can be found."""


class Cursor(BaseModel):
    """Everything strictly before (block_number, log_index) has been delivered.

    ``block_hash`` is the hash of the ``anchor`` block, the newest one whose logs were delivered
    (all of them when ``log_index`` is 0, else some): if the chain later shows another hash at
    that height, the blocks the follower read were reorganised away.
    """

    model_config = ConfigDict(frozen=True)

    block_number: int
    log_index: int = 0
    block_hash: str | None = None

    @property
    def position(self) -> tuple[int, int]:
        return (self.block_number, self.log_index)

    @property
    def anchor(self) -> int:
        """The block ``block_hash`` belongs to (-1: none yet)."""
        return self.block_number - 1 if self.log_index == 0 else self.block_number


class DeadLetter(BaseModel):
    """An event (or undecodable log) the follower moved past without the sink taking it."""

    model_config = ConfigDict(frozen=True)

    key: str
    """txHash:logIndex, the event's dedupe key (or the log's position when it has no hash)."""
    block_number: int
    log_index: int
    kind: str
    """The event's name, or "undecodable"."""
    reason: str
    attempts: int
    event: dict[str, Any] | None = None
    """The decoded event (JSON), so an operator can replay it."""


class FollowerStorage(Protocol):
    async def setup(self) -> None: ...
    async def load(self) -> Cursor | None: ...
    async def save(self, cursor: Cursor) -> None:
        """Store the cursor and remember its anchor block's hash (one transaction)."""
        ...

    async def recent_blocks(self) -> list[tuple[int, str]]:
        """Remembered (block number, hash), newest first."""
        ...

    async def rewind(self, cursor: Cursor) -> None:
        """Move the cursor back (a reorganisation) and forget the blocks above its anchor."""
        ...

    async def dead_letter(self, letter: DeadLetter) -> None:
        """Record a dead letter (again: no change)."""
        ...

    async def dead_letters(self) -> list[DeadLetter]: ...


class FollowerStore:
    """`FollowerStorage` on PostgreSQL, one row set per follower name."""

    def __init__(self, dsn: str, name: str) -> None:
        self._dsn = dsn
        self.name = name
        self._conn: psycopg.AsyncConnection[Any] | None = None

    def __repr__(self) -> str:  # the DSN may hold a password
        return f"{type(self).__name__}(name={self.name!r})"

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        return self._conn

    async def _run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[Any, ...]]:
        """Run statements in one transaction; the rows of the last one."""
        conn = await self._connection()
        rows: list[tuple[Any, ...]] = []
        try:
            async with conn.transaction():
                for sql, params in statements:
                    cur = await conn.execute(sql.encode(), params)
                    rows = await cur.fetchall() if cur.description else []
        except psycopg.OperationalError:
            await self.close()  # reconnect next time
            raise
        return rows

    async def setup(self) -> None:
        """Apply the ledger's migrations (idempotent, safe beside other workers)."""
        conn = await self._connection()
        await migrate(conn)

    async def load(self) -> Cursor | None:
        rows = await self._run(
            [
                (
                    "SELECT block_number, log_index, block_hash FROM ledger.follower_cursor "
                    "WHERE name = %s",
                    (self.name,),
                )
            ]
        )
        if not rows:
            return None
        number, index, block_hash = rows[0]
        return Cursor(block_number=number, log_index=index, block_hash=block_hash)

    def _upsert(self, cursor: Cursor) -> tuple[str, Sequence[Any]]:
        return (
            "INSERT INTO ledger.follower_cursor (name, block_number, log_index, block_hash) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
            "block_number = EXCLUDED.block_number, log_index = EXCLUDED.log_index, "
            "block_hash = EXCLUDED.block_hash, updated_at = now()",
            (self.name, cursor.block_number, cursor.log_index, cursor.block_hash),
        )

    async def save(self, cursor: Cursor) -> None:
        statements = [self._upsert(cursor)]
        if cursor.block_hash is not None and cursor.anchor >= 0:
            statements += [
                (
                    "INSERT INTO ledger.follower_blocks (name, block_number, block_hash) "
                    "VALUES (%s, %s, %s) ON CONFLICT (name, block_number) "
                    "DO UPDATE SET block_hash = EXCLUDED.block_hash",
                    (self.name, cursor.anchor, cursor.block_hash),
                ),
                (
                    "DELETE FROM ledger.follower_blocks WHERE name = %s AND block_number < %s",
                    (self.name, cursor.anchor - KEEP_BLOCKS),
                ),
            ]
        await self._run(statements)

    async def recent_blocks(self) -> list[tuple[int, str]]:
        rows = await self._run(
            [
                (
                    "SELECT block_number, block_hash FROM ledger.follower_blocks "
                    "WHERE name = %s ORDER BY block_number DESC",
                    (self.name,),
                )
            ]
        )
        return [(int(number), str(block_hash)) for number, block_hash in rows]

    async def rewind(self, cursor: Cursor) -> None:
        await self._run(
            [
                self._upsert(cursor),
                (
                    "DELETE FROM ledger.follower_blocks WHERE name = %s AND block_number > %s",
                    (self.name, cursor.anchor),
                ),
            ]
        )

    async def dead_letter(self, letter: DeadLetter) -> None:
        await self._run(
            [
                (
                    "INSERT INTO ledger.dead_letters (name, event_key, block_number, log_index, "
                    "kind, reason, attempts, event) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (name, event_key) DO NOTHING",
                    (
                        self.name,
                        letter.key,
                        letter.block_number,
                        letter.log_index,
                        letter.kind,
                        letter.reason,
                        letter.attempts,
                        None if letter.event is None else json.dumps(letter.event),
                    ),
                )
            ]
        )

    async def dead_letters(self) -> list[DeadLetter]:
        rows = await self._run(
            [
                (
                    "SELECT event_key, block_number, log_index, kind, reason, attempts, event "
                    "FROM ledger.dead_letters WHERE name = %s ORDER BY block_number, log_index",
                    (self.name,),
                )
            ]
        )
        return [
            DeadLetter(
                key=key,
                block_number=number,
                log_index=index,
                kind=kind,
                reason=reason,
                attempts=attempts,
                event=event,
            )
            for key, number, index, kind, reason, attempts, event in rows
        ]

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class MemoryFollowerStore:
    """`FollowerStorage` in memory (unit tests)."""

    def __init__(self) -> None:
        self.saved: Cursor | None = None
        self.blocks: dict[int, str] = {}
        self.letters: dict[str, DeadLetter] = {}

    async def setup(self) -> None:
        return None

    async def load(self) -> Cursor | None:
        return self.saved

    async def save(self, cursor: Cursor) -> None:
        self.saved = cursor
        if cursor.block_hash is not None and cursor.anchor >= 0:
            self.blocks[cursor.anchor] = cursor.block_hash
            for number in [n for n in self.blocks if n < cursor.anchor - KEEP_BLOCKS]:
                del self.blocks[number]

    async def recent_blocks(self) -> list[tuple[int, str]]:
        return sorted(self.blocks.items(), reverse=True)

    async def rewind(self, cursor: Cursor) -> None:
        self.saved = cursor
        for number in [n for n in self.blocks if n > cursor.anchor]:
            del self.blocks[number]

    async def dead_letter(self, letter: DeadLetter) -> None:
        self.letters.setdefault(letter.key, letter)

    async def dead_letters(self) -> list[DeadLetter]:
        return sorted(self.letters.values(), key=lambda d: (d.block_number, d.log_index))
