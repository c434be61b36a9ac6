"""Keep-alive heartbeats for activities that work longer than their heartbeat timeout.

A short heartbeat timeout is what lets Temporal notice a dead worker quickly and retry the
activity elsewhere; an activity busy in one long call (a proof) keeps it by beating on a timer.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity


@contextlib.asynccontextmanager
async def heartbeating(every: float = 5.0) -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    ticker = asyncio.create_task(beat())
    try:
        yield
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
