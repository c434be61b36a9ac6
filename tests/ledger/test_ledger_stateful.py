"""Stateful property test: random operation sequences with retries and interrupted transactions.

Each step runs one ledger operation under a random fault: none, an exception before commit
(rollback), the task cancelled inside its transaction, or an exception after commit (the caller
never learns it succeeded). After a fault the step is retried without one, as an activity
would be. A small independent model predicts every value and error; after every step the stored
rows must equal the model and satisfy the ledger equations (ledger/README.md, helpers.audit).
Runs against MemoryLedger and PostgresLedger (its own database and event loop).
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from ledger.api import (
    AvailabilityPatch,
    BytesOutOfBoundsError,
    InvalidInputError,
    NotExistsError,
    QuotaNotEnoughError,
)
from ledger.memory import MemoryLedger
from ledger.postgres import PostgresLedger
from sales.errors import ArithmeticRangeError
from tests.ledger.helpers import audit, new_av, new_id

QUOTA = 6000
REQUESTS = [new_id() for _ in range(3)]
FAULTS = ["none", "none", "before_commit", "cancel", "after_commit"]


class Injected(Exception):
    pass


@dataclass
class Av:
    total: int
    free: int
    tc: int
    remaining: int
    held: int = 0
    committed: int = 0
    locked: int = 0
    lost: int = 0
    gained: int = 0


@dataclass
class Res:
    av: str
    req: str
    idx: int
    slot_size: int
    cpb: int
    size: int
    released: int = 0
    returned: int = 0
    batches: set[int] = field(default_factory=set)

    @property
    def collateral(self) -> int:
        return self.slot_size * self.cpb


def batch_bytes(seq: int) -> int:
    """Deterministic per batch, so a retried batch carries the same byte count."""
    return 10 * (seq + 1)


class LedgerMachine(RuleBasedStateMachine):
    """Subclassed per backend: `make_ledger` and `run` are provided by the factory below."""

    make_ledger: Callable[[], Any]
    run: Callable[[Awaitable[Any]], Any]

    availabilities = Bundle("availabilities")
    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        self.ledger = type(self).make_ledger()
        self.avs: dict[str, Av] = {}
        self.res: dict[str, Res] = {}
        self.fault: str = "none"

    async def _hook(self, op: str, phase: str) -> None:
        if self.fault == "before_commit" and phase == "before_commit":
            raise Injected(op)
        if self.fault == "after_commit" and phase == "after_commit":
            raise Injected(op)
        if self.fault == "cancel" and phase == "before_commit":
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)

    def call(self, fault: str, make: Callable[[], Awaitable[Any]]) -> Any:
        """Run once under `fault`; if it was interrupted, retry once cleanly (at-least-once)."""
        self.fault = fault
        self.ledger.fault_hook = self._hook
        try:
            return type(self).run(make())
        except (Injected, asyncio.CancelledError):
            pass
        finally:
            self.fault = "none"
        return type(self).run(make())

    def expect(self, error: type[Exception] | None, fault: str, make) -> Any:
        if error is None:
            return self.call(fault, make)
        with pytest.raises(error):
            self.call(fault, make)
        return None

    # --- rules -------------------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        self.ledger.fault_hook = None

    @rule(
        target=availabilities,
        total=st.integers(100, 3000),
        tc=st.integers(0, 3),
        fault=st.sampled_from(["none", "before_commit", "cancel"]),
    )
    def create_availability(self, total: int, tc: int, fault: str) -> Any:
        """No idempotency key on create (an operator action): only pre-commit faults."""
        collateral = 10**tc * 1000
        used = sum(a.total for a in self.avs.values())
        if total >= QUOTA - used:
            self.expect(
                QuotaNotEnoughError,
                fault,
                lambda: self.ledger.create_availability(
                    new_av(total_size=total, total_collateral=collateral)
                ),
            )
            return multiple()
        saved = self.call(
            fault,
            lambda: self.ledger.create_availability(
                new_av(total_size=total, total_collateral=collateral)
            ),
        )
        self.avs[saved.availability.id] = Av(total, total, collateral, collateral)
        return str(saved.availability.id)

    @rule(
        target=reservations,
        av_id=availabilities,
        req=st.sampled_from(REQUESTS),
        idx=st.integers(0, 30),
        size=st.integers(50, 400),
        cpb=st.integers(0, 3),
        fault=st.sampled_from(FAULTS),
    )
    def create_reservation(self, av_id, req, idx, size, cpb, fault) -> Any:
        def make():
            return self.ledger.create_reservation(
                availability_id=av_id,
                slot_size=size,
                request_id=req,
                slot_index=idx,
                collateral_per_byte=cpb,
                valid_until=1000,
            )

        av = self.avs.get(av_id)
        same = [(k, r) for k, r in self.res.items() if (r.req, r.idx) == (req, idx)]
        if av is None:
            self.expect(NotExistsError, fault, make)
            return multiple()
        if same:
            key, r = same[0]
            if (r.av, r.slot_size, r.cpb) != (av_id, size, cpb):
                self.expect(InvalidInputError, fault, make)
                return key
            assert self.call(fault, make).id == key
            return key
        if av.free < size:
            self.expect(BytesOutOfBoundsError, fault, make)
            return multiple()
        if size * cpb > av.remaining:
            self.expect(ArithmeticRangeError, fault, make)
            return multiple()
        got = self.call(fault, make)
        assert got.size == size
        self.res[got.id] = Res(av_id, req, idx, size, cpb, size)
        av.free -= size
        av.held += size
        av.remaining -= size * cpb
        av.locked += size * cpb
        return str(got.id)

    @rule(res_id=reservations, fault=st.sampled_from(FAULTS))
    def retry_create_reservation(self, res_id, fault) -> None:
        """A duplicated create activity: the same terms return the same row, or it is gone."""
        r = self.res.get(res_id)
        if r is None:
            return
        got = self.call(
            fault,
            lambda: self.ledger.create_reservation(
                availability_id=r.av,
                slot_size=r.slot_size,
                request_id=r.req,
                slot_index=r.idx,
                collateral_per_byte=r.cpb,
                valid_until=1000,
            ),
        )
        assert (got.id, got.size) == (res_id, r.size)

    @rule(res_id=reservations, seq=st.integers(0, 4), fault=st.sampled_from(FAULTS))
    def release(self, res_id, seq, fault) -> None:
        n = batch_bytes(seq)
        r = self.res.get(res_id)

        def make():
            return self.ledger.release(res_id, seq, n)

        if r is None:
            self.expect(NotExistsError, fault, make)
            return
        if seq in r.batches:
            assert self.call(fault, make).size == r.size
            return
        if r.size < n:
            self.expect(BytesOutOfBoundsError, fault, make)
            return
        assert self.call(fault, make).size == r.size - n
        r.size -= n
        r.released += n
        r.batches.add(seq)
        av = self.avs[r.av]
        av.held -= n
        av.committed += n

    @rule(res_id=reservations, fault=st.sampled_from(FAULTS))
    def return_bytes(self, res_id, fault) -> None:
        r = self.res.get(res_id)
        if r is None:
            self.expect(
                NotExistsError, fault, lambda: self.ledger.return_bytes_to_availability(res_id, 1)
            )
            return
        fresh = r.released - r.returned
        saved = self.call(
            fault, lambda: self.ledger.return_bytes_to_availability(res_id, r.slot_size)
        )
        if fault == "after_commit" or fresh == 0:
            assert saved is None  # the retry (or a call with nothing to do) is a no-op
        else:
            assert saved is not None and saved.notice is not None
        r.returned += fresh
        av = self.avs[r.av]
        av.free += fresh
        av.committed -= fresh

    @rule(
        res_id=reservations,
        close=st.booleans(),
        rc=st.none() | st.integers(0, 2000),
        fault=st.sampled_from(FAULTS),
    )
    def finish(self, res_id, close, rc, fault) -> None:
        op = self.ledger.close_reservation if close else self.ledger.delete_reservation
        r = self.res.pop(res_id, None)
        saved = self.call(fault, lambda: op(res_id, rc))
        if r is None or fault == "after_commit":
            assert saved is None
        if r is None:
            return
        av = self.avs[r.av]
        if close:
            back = r.released - r.returned
            av.free += back
            av.committed -= back
        c = rc or 0
        av.free += r.size
        av.held -= r.size
        av.remaining += c
        av.locked -= r.collateral
        av.lost += max(0, r.collateral - c)
        av.gained += max(0, c - r.collateral)

    @rule(av_id=availabilities, delta=st.integers(-500, 500), fault=st.sampled_from(FAULTS))
    def resize(self, av_id, delta, fault) -> None:
        av = self.avs.get(av_id)
        if av is None:
            return
        new_total = max(1, av.total + delta)

        def make():
            return self.ledger.update_availability(av_id, AvailabilityPatch(total_size=new_total))

        used = sum(a.total for a in self.avs.values())
        if new_total < av.held + av.committed:
            self.expect(InvalidInputError, fault, make)
        elif new_total > av.total and not new_total - av.total < QUOTA - used:
            self.expect(QuotaNotEnoughError, fault, make)
        else:
            self.call(fault, make)
            av.free += new_total - av.total
            av.total = new_total

    @rule(av_id=availabilities, tc=st.integers(0, 5000), fault=st.sampled_from(FAULTS))
    def set_collateral(self, av_id, tc, fault) -> None:
        av = self.avs.get(av_id)
        if av is None:
            return

        def make():
            return self.ledger.update_availability(av_id, AvailabilityPatch(total_collateral=tc))

        if tc < av.locked:
            self.expect(InvalidInputError, fault, make)
            return
        self.call(fault, make)
        av.tc, av.remaining, av.lost, av.gained = tc, tc - av.locked, 0, 0

    # --- checks after every step ---------------------------------------------------------------

    @invariant()
    def matches_model_and_equations(self) -> None:
        self.ledger.fault_hook = None
        rows = {a.id: a for a in type(self).run(self.ledger.availability_rows())}
        assert set(rows) == set(self.avs)
        for av_id, m in self.avs.items():
            a = rows[av_id]
            assert (a.total_size, a.free_size, a.held_size, a.committed_size) == (
                m.total,
                m.free,
                m.held,
                m.committed,
            )
            assert (
                a.total_collateral,
                a.total_remaining_collateral,
                a.locked_collateral,
                a.lost_collateral,
                a.gained_collateral,
            ) == (m.tc, m.remaining, m.locked, m.lost, m.gained)
        stored = {r.id: r for r in type(self).run(self.ledger.reservation_rows())}
        assert set(stored) == set(self.res)
        for res_id, mr in self.res.items():
            r = stored[res_id]
            assert (r.size, r.released, r.returned) == (mr.size, mr.released, mr.returned)
        type(self).run(audit(self.ledger))


SETTINGS = settings(
    max_examples=30,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def own_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


def test_stateful_memory_ledger(own_loop: asyncio.AbstractEventLoop) -> None:
    class Machine(LedgerMachine):
        make_ledger = staticmethod(lambda: MemoryLedger(quota_bytes=QUOTA))
        run = staticmethod(own_loop.run_until_complete)

    Machine.TestCase.settings = SETTINGS
    Machine.TestCase().runTest()


@pytest.mark.real_stack
@pytest.mark.slow
def test_stateful_postgres_ledger(own_loop: asyncio.AbstractEventLoop, database_dsn: str) -> None:
    run = own_loop.run_until_complete
    base = run(PostgresLedger.connect(database_dsn, max_size=2, quota_bytes=QUOTA))

    def fresh() -> PostgresLedger:
        async def truncate() -> None:
            async with base.pool.connection() as conn:
                await conn.execute(
                    "TRUNCATE ledger.released_batches, ledger.reservations,"
                    " ledger.availabilities; UPDATE ledger.store_quota SET reserved_bytes = 0"
                )

        run(truncate())
        return PostgresLedger(base.pool, quota_bytes=QUOTA)

    class Machine(LedgerMachine):
        make_ledger = staticmethod(fresh)
        run = staticmethod(own_loop.run_until_complete)

    Machine.TestCase.settings = SETTINGS
    try:
        Machine.TestCase().runTest()
    finally:
        run(base.close())
