"""PostgreSQL-specific guarantees: migrations, database constraints, concurrency on separate
connections, cancellation and killed connections, NOTIFY after commit (Q-10)."""

import asyncio

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from ledger.api import BytesOutOfBoundsError, InvalidInputError, QuotaNotEnoughError
from ledger.migrate import migrate, migration_files
from ledger.postgres import NOTIFY_CHANNEL, PostgresLedger
from tests.ledger.helpers import audit, empty_ledger, make_av, new_id, reserve, snapshot
from tests.polling import until

pytestmark = pytest.mark.real_stack

Pool = AsyncConnectionPool[AsyncConnection]


@pytest.fixture
async def pg(ledger_pool: Pool) -> PostgresLedger:
    return await empty_ledger(ledger_pool)


async def wait_for(predicate, within: float = 10.0) -> None:
    await until(predicate, within, "the other session to block", every=0.01)


# --- migrations --------------------------------------------------------------------------------


async def test_migrations_concurrent_start_applies_each_version_once(database_dsn: str):
    """Several workers starting together: one applies, the others wait and skip."""
    conns = [await AsyncConnection.connect(database_dsn, autocommit=True) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        versions = [v for v, _, _ in migration_files()]
        assert sorted(v for r in results for v in r) == versions  # each applied exactly once
        assert await migrate(conns[0]) == []  # idempotent on restart
        cur = await conns[0].execute("SELECT version FROM ledger.schema_version ORDER BY 1")
        assert [v for (v,) in await cur.fetchall()] == versions
    finally:
        for c in conns:
            await c.close()


async def test_connect_migrates_and_reconnect_is_idempotent(database_dsn: str):
    first = await PostgresLedger.connect(database_dsn, max_size=2)
    await make_av(first)
    await first.close()
    second = await PostgresLedger.connect(database_dsn, max_size=2)
    try:
        assert len(await second.list_availabilities()) == 1
    finally:
        await second.close()


# --- constraints in the database ---------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger.availabilities SET free_size = free_size + 1",  # bytes equation
        "UPDATE ledger.availabilities SET free_size = 18446744073709551616",  # uint64 range
        "UPDATE ledger.availabilities SET total_collateral = 2 ^ 256::numeric",  # uint256 range
        "UPDATE ledger.availabilities SET total_remaining_collateral = 1",  # collateral equation
        "UPDATE ledger.reservations SET size = size - 1",  # slot_size = size + released
        "UPDATE ledger.reservations SET returned = 1",  # returned <= released
        "UPDATE ledger.availabilities SET until = -1",
        "INSERT INTO ledger.reservations (id, availability_id, request_id, slot_index, slot_size,"
        " size, collateral_per_byte, collateral, valid_until) SELECT '0x' || repeat('ab', 32),"
        " availability_id, request_id, slot_index, slot_size, size, collateral_per_byte,"
        " collateral, valid_until FROM ledger.reservations",  # one reservation per slot
    ],
)
async def test_database_refuses_rows_that_break_the_equations(pg: PostgresLedger, statement: str):
    """The schema itself keeps sizes/collateral in range and the per-row equations true."""
    av = await make_av(pg)
    await reserve(pg, av)
    before = await snapshot(pg)
    async with pg.pool.connection() as conn:
        with pytest.raises(psycopg.errors.IntegrityError):
            await conn.execute(statement.encode())
    assert await snapshot(pg) == before


# --- RES-7: concurrency on separate connections ------------------------------------------------


async def test_res7_concurrent_reservations_never_both_succeed(pg: PostgresLedger):
    """RES-7: two concurrent createReservations of totalSize-1 and totalSize on one availability,
    each on its own connection, 200 times: exactly one succeeds, freeSize never negative."""
    for _ in range(200):
        av = await make_av(pg, total_size=1000)
        results = await asyncio.gather(
            reserve(pg, av, slot_size=999),
            reserve(pg, av, slot_size=1000),
            return_exceptions=True,
        )
        won = [r for r in results if not isinstance(r, BaseException)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1, results
        assert isinstance(lost[0], BytesOutOfBoundsError), lost
        got = await pg.get_availability(av.id)
        assert got.free_size == 1000 - won[0].size >= 0
    await audit(pg)


async def test_res17_concurrent_retries_of_one_slot_deduct_once(pg: PostgresLedger):
    """ARCHITECTURE §3: duplicate create activities racing on separate connections."""
    av = await make_av(pg, total_size=1000)
    req = new_id()
    rows = await asyncio.gather(*(reserve(pg, av, request_id=req) for _ in range(6)))
    assert len({r.id for r in rows}) == 1
    assert (await pg.get_availability(av.id)).free_size == 900
    await audit(pg)


async def test_one_slot_raced_through_two_availabilities_conflicts(pg: PostgresLedger):
    """One reservation per (request, slot) per host even across availabilities."""
    a, b = await make_av(pg), await make_av(pg)
    req = new_id()
    results = await asyncio.gather(
        reserve(pg, a, request_id=req), reserve(pg, b, request_id=req), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert any(isinstance(r, InvalidInputError) for r in results), results
    assert len(await pg.list_reservations()) == 1
    await audit(pg)


async def test_res5_concurrent_availabilities_never_exceed_the_quota(ledger_pool: Pool):
    """RES-5/RES-10 under concurrency: the quota row serialises creators."""
    pg = await empty_ledger(ledger_pool, quota_bytes=1001)
    results = await asyncio.gather(
        *(make_av(pg, total_size=100) for _ in range(16)), return_exceptions=True
    )
    ok = [r for r in results if not isinstance(r, BaseException)]
    assert len(ok) == 10  # 10 * 100 = 1000 < 1001; the 11th would need 100 < 1
    assert all(isinstance(r, QuotaNotEnoughError) for r in results if r not in ok)
    assert await pg.available_quota() == 1
    await audit(pg)


# --- interrupted operations --------------------------------------------------------------------


async def hold_lock(pg: PostgresLedger, av_id: str):
    """Open a transaction on a separate connection holding the availability's row lock."""
    conn = await AsyncConnection.connect(str(pg.pool.conninfo), autocommit=False)
    await conn.execute("SELECT 1 FROM ledger.availabilities WHERE id = %s FOR UPDATE", (av_id,))
    return conn


async def lock_waiters(pg: PostgresLedger) -> list[int]:
    async with pg.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        )
        return [pid for (pid,) in await cur.fetchall()]


async def test_cancelled_operation_writes_nothing(pg: PostgresLedger):
    """A task cancelled while its transaction waits for the row lock leaves no trace."""
    av = await make_av(pg)
    before = await snapshot(pg)
    blocker = await hold_lock(pg, av.id)
    try:
        task = asyncio.create_task(reserve(pg, av))

        async def blocked() -> bool:
            return len(await lock_waiters(pg)) == 1

        await wait_for(blocked)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await blocker.rollback()
        await blocker.close()
    assert await snapshot(pg) == before
    await reserve(pg, av)  # the pool is still healthy
    await audit(pg)


async def test_killed_connection_rolls_back_and_retry_succeeds(pg: PostgresLedger):
    """A connection killed mid-transaction (pg_terminate_backend) rolls back; the retry is
    counted once."""
    av = await make_av(pg)
    res = await reserve(pg, av, slot_size=100)
    before = await snapshot(pg)
    blocker = await hold_lock(pg, av.id)
    try:
        task = asyncio.create_task(pg.release(res.id, 0, 40))
        pids: list[int] = []

        async def blocked() -> bool:
            pids[:] = await lock_waiters(pg)
            return len(pids) == 1

        await wait_for(blocked)
        await blocker.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
        with pytest.raises(psycopg.OperationalError):
            await task
    finally:
        await blocker.rollback()
        await blocker.close()
    assert await snapshot(pg) == before
    assert (await pg.release(res.id, 0, 40)).size == 60
    assert (await pg.release(res.id, 0, 40)).size == 60
    await audit(pg)


# --- Q-10 / RES-23: NOTIFY only after commit ---------------------------------------------------


async def test_q10_res23_notify_only_for_committed_saves_that_notify(pg: PostgresLedger):
    """Q-10: NOTIFY reaches listeners only for committed transactions. RES-23: create and
    close notify; createReservation and release never do. A marker NOTIFY sent in between
    (deliveries follow commit order) tells them apart without waiting for silence."""
    listener = await AsyncConnection.connect(str(pg.pool.conninfo), autocommit=True)
    try:
        await listener.execute(f"LISTEN {NOTIFY_CHANNEL}")

        async def boom(op: str, phase: str) -> None:
            if phase == "before_commit":
                raise RuntimeError("injected")

        pg.fault_hook = boom
        with pytest.raises(RuntimeError):
            await make_av(pg)
        pg.fault_hook = None
        av = await make_av(pg)
        res = await reserve(pg, av)
        await pg.release(res.id, 0, 10)
        async with pg.pool.connection() as conn:
            await conn.execute("SELECT pg_notify(%s, 'marker')", (NOTIFY_CHANNEL,))
        await pg.close_reservation(res.id, 0)
        got = [n async for n in listener.notifies(timeout=10, stop_after=3)]
        assert [(n.channel, n.payload) for n in got] == [
            (NOTIFY_CHANNEL, av.id),
            (NOTIFY_CHANNEL, "marker"),
            (NOTIFY_CHANNEL, av.id),
        ]
    finally:
        await listener.close()
