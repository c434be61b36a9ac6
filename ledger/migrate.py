"""Versioned schema migrations, applied at start, safe when several workers start together.

Each `migrations/NNNN_name.sql` runs once, in its own transaction, under a transaction-level
advisory lock, and is recorded in `ledger.schema_version`. A worker that loses the race waits
on the lock, then sees the version recorded and skips it.
"""

import re
from importlib import resources

from psycopg import AsyncConnection, sql

SCHEMA = "ledger"
ADVISORY_LOCK_KEY = 0x6C65646765720001  # "ledger" + 1: one key for every ledger migration
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every packaged migration, in version order."""
    out = []
    for entry in resources.files("ledger.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            out.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    out.sort()
    versions = [v for v, _, _ in out]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {versions}")
    return out


async def migrate(conn: AsyncConnection[object]) -> list[int]:
    """Apply every pending migration; returns the versions this call applied."""
    applied: list[int] = []
    for version, name, text in migration_files():
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            await conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA))
            )
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS ledger.schema_version ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute(
                "SELECT 1 FROM ledger.schema_version WHERE version = %s", (version,)
            )
            if await cur.fetchone() is not None:
                continue
            await conn.execute("SET LOCAL search_path TO ledger")
            await conn.execute(text.encode())
            await conn.execute(
                "INSERT INTO ledger.schema_version (version, name) VALUES (%s, %s)",
                (version, name),
            )
            applied.append(version)
    return applied
