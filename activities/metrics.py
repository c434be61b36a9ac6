"""Activity-side `codex_sales_*` metrics and the sales worker's collector of gauges.

Activities record through `activity.metric_meter()` (the worker's runtime, so the worker's
Prometheus endpoint). The collector sets the gauges that are facts of the ledger and of
visibility rather than events: sales by state, slots hosted, collateral at risk, bytes per
availability. It reads the same ledger rows and visibility list the API shows, every
`COLLECT_EVERY` seconds; it keeps no state of its own beyond the label values it emitted.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from temporalio import activity
from temporalio.common import MetricMeter

from sales import metrics as m
from sales.models import FillRecord

log = logging.getLogger("metrics")

COLLECT_EVERY = 5.0
"""Seconds between two collections of the gauges."""


def _activity_meter() -> MetricMeter | None:
    try:
        return activity.metric_meter()
    except Exception:  # not inside an activity (a unit test calling the function)
        return None


def count(metric: m.Metric, value: int = 1, labels: Mapping[str, str] | None = None) -> None:
    meter = _activity_meter()
    if meter is None or value <= 0:
        return
    with contextlib.suppress(Exception):  # telemetry never fails the activity
        meter.create_counter(metric.name, metric.help).add(value, dict(labels or {}) or None)


def gauge(metric: m.Metric, value: int) -> None:
    meter = _activity_meter()
    if meter is not None:
        with contextlib.suppress(Exception):
            meter.create_gauge(metric.name, metric.help).set(max(0, value))


@contextlib.asynccontextmanager
async def timed(metric: m.Metric) -> AsyncIterator[None]:
    """Record the seconds the block takes into `metric` (a histogram) when it succeeds."""
    started = time.monotonic()
    yield
    meter = _activity_meter()
    if meter is not None:
        with contextlib.suppress(Exception):
            histogram = meter.create_histogram_float(metric.name, metric.help, "s")
            histogram.record(time.monotonic() - started)


class Broadcasts:
    """Counts one activity's broadcasts: the first is a transaction sent, later ones (same
    nonce, raised fees) are fee bumps."""

    def __init__(self) -> None:
        self.sent = 0

    def on_sent(self) -> None:
        operation = activity.info().activity_type if _activity_meter() is not None else ""
        metric = m.TRANSACTIONS_SENT if self.sent == 0 else m.FEE_BUMPS
        self.sent += 1
        count(metric, labels={"operation": operation})


class Collector:
    """Gauges of the ledger and of visibility, set on the runtime's meter every few seconds."""

    def __init__(self, meter: MetricMeter, ledger: Any, client: Any) -> None:
        self.meter = meter
        self.ledger = ledger
        self.client = client
        self._availabilities: set[str] = set()

    def _gauge(self, metric: m.Metric, value: int, labels: Mapping[str, str] | None = None) -> None:
        self.meter.create_gauge(metric.name, metric.help).set(max(0, value), dict(labels or {}))

    async def collect(self) -> None:
        await self._ledger_gauges()
        await self._sales_gauges()

    async def _ledger_gauges(self) -> None:
        availabilities = await self.ledger.list_availabilities()
        seen = set()
        for a in availabilities:
            labels = {"availability": a.id}
            seen.add(a.id)
            self._gauge(m.AVAILABILITY_BYTES_TOTAL, a.total_size, labels)
            self._gauge(m.AVAILABILITY_BYTES_FREE, a.free_size, labels)
            self._gauge(m.AVAILABILITY_BYTES_RESERVED, a.total_size - a.free_size, labels)
        for gone in self._availabilities - seen:  # deleted: zero, not a stale value
            for metric in (m.AVAILABILITY_BYTES_TOTAL, m.AVAILABILITY_BYTES_FREE):
                self._gauge(metric, 0, {"availability": gone})
            self._gauge(m.AVAILABILITY_BYTES_RESERVED, 0, {"availability": gone})
        self._availabilities = seen
        at_risk = sum(
            r.collateral
            for r in await self.ledger.list_reservations()
            if r.fill in (FillRecord.SENT, FillRecord.LANDED)
        )
        self._gauge(m.COLLATERAL_AT_RISK, min(at_risk, 2**63 - 1))

    async def _sales_gauges(self) -> None:
        from sales.api import SALES_VISIBILITY_QUERY, SLOT_HOSTING_WORKFLOW
        from workflows.sale_state import StateName
        from workflows.search_attributes import SALE_STATE

        by_state = {str(name): 0 for name in StateName}
        hosted = 0
        query = f"{SALES_VISIBILITY_QUERY} AND ExecutionStatus = 'Running'"
        async for sale in self.client.list_workflows(query):
            state = sale.typed_search_attributes.get(SALE_STATE)
            if state in by_state:
                by_state[state] += 1
            if sale.workflow_type == SLOT_HOSTING_WORKFLOW:
                hosted += 1
        for state, number in by_state.items():
            self._gauge(m.SALES, number, {"state": state})
        self._gauge(m.SLOTS_HOSTED, hosted)

    async def run(self, every: float = COLLECT_EVERY) -> None:
        """Collect until cancelled; a failed round is logged and the next one tries again."""
        while True:
            try:
                await self.collect()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("metrics collection failed: %s", type(error).__name__)
            await asyncio.sleep(every)
