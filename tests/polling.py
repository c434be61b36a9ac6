"""Waiting for a condition in tests: poll it until a deadline, never sleep in its place.

A fixed sleep is either too short on a loaded 2-core CI machine or too long everywhere else;
polling returns as soon as the condition holds and fails with what it waited for.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
    check: Callable[[], Awaitable[T]],
    within: float,
    what: str,
    *,
    every: float = 0.05,
    pause: Callable[[], Awaitable[object]] | None = None,
) -> T:
    """Call ``check`` until it returns a truthy value, and return that value.

    Between calls it sleeps ``every`` seconds, or awaits ``pause`` instead (a time-skipping
    test environment lets virtual time pass there). After ``within`` seconds of wall time it
    raises AssertionError naming ``what`` and the last value seen.
    """
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {within:.0f}s waiting for {what} (last: {value!r})"
            )
        await (pause() if pause is not None else asyncio.sleep(every))
