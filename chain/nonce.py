"""One signer's nonces, handed out without gaps or collisions to concurrent senders.

The node's pending transaction count is the truth: it is read on first use (so a restarted process
picks up where the last one left off, including its transactions still in the mempool) and again
after any failed broadcast (a nonce that never reached the node must be reused, or every later
transaction would wait behind the gap). Between those reads the manager counts locally under an
asyncio lock, and the lock is held from "take a nonce" until "the node accepted the transaction",
so two callers never race for the same number.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


class NonceManager:
    def __init__(self, pending_count: Callable[[], Awaitable[int]]) -> None:
        """``pending_count`` returns ``eth_getTransactionCount(signer, "pending")``."""
        self._pending_count = pending_count
        self._lock = asyncio.Lock()
        self._next: int | None = None

    @asynccontextmanager
    async def next_nonce(self) -> AsyncIterator[int]:
        """Yield the nonce to sign with; the body must broadcast the transaction.

        If the body raises, the nonce is considered unused and the count is re-read from the
        node before the next caller proceeds.
        """
        async with self._lock:
            if self._next is None:
                self._next = await self._pending_count()
            nonce = self._next
            try:
                yield nonce
            except BaseException:
                self._next = None  # resynchronise: the node decides what was really sent
                raise
            self._next = nonce + 1

    def reset(self) -> None:
        """Forget the local count; the next caller re-reads it from the node."""
        self._next = None
