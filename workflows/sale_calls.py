"""How the sale workflow calls each activity: task queue, timeouts, retries (ARCHITECTURE §3).

Every call has an explicit start-to-close timeout and a retry policy with backoff; business
errors (`ErrorType`) are never retried. Long activities heartbeat, so cancellation reaches them.
Reads on the workflow's own queue (`sales` in production) use `task_queue=None`.
"""

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from sales.api import CHAIN_TX_TASK_QUEUE, PROVING_TASK_QUEUE, Activity, ErrorType

NON_RETRYABLE = [str(error) for error in ErrorType]


def _retry(initial: float, maximum: float, attempts: int, backoff: float = 2.0) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=initial),
        backoff_coefficient=backoff,
        maximum_interval=timedelta(seconds=maximum),
        maximum_attempts=attempts,
        non_retryable_error_types=NON_RETRYABLE,
    )


@dataclass(frozen=True)
class CallOptions:
    task_queue: str | None
    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None
    cancellation: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL


READ = CallOptions(None, timedelta(seconds=30), _retry(1, 60, 10))
"""Chain and ledger reads: about ten minutes of retries, then the sale errors."""
LEDGER_WRITE = CallOptions(None, timedelta(seconds=30), _retry(1, 60, 10))
CLEANUP = CallOptions(None, timedelta(seconds=30), _retry(1, 300, 0))
"""Closing a reservation must eventually happen (nothing may leak): retried forever."""
TX = CallOptions(
    CHAIN_TX_TASK_QUEUE, timedelta(minutes=10), _retry(2, 120, 10), timedelta(seconds=30)
)
"""Transactions heartbeat their sent hash, so a retry finds the receipt instead of resending."""
PROOF_TX = CallOptions(
    CHAIN_TX_TASK_QUEUE, timedelta(minutes=5), _retry(2, 30, 3), timedelta(seconds=30)
)
"""A proof is only worth its period: few retries."""
STORE = CallOptions(
    None,
    timedelta(hours=24),
    _retry(5, 300, 5),
    timedelta(seconds=30),
    ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
)
"""The download heartbeats per batch; a cancel waits until it stopped releasing bytes."""
HOOK = CallOptions(None, timedelta(minutes=2), _retry(1, 60, 5))
PROVE = CallOptions(
    PROVING_TASK_QUEUE, timedelta(minutes=10), _retry(2, 30, 3), timedelta(seconds=30)
)
"""The prover heartbeats while it works: a dead proving worker costs seconds, not minutes."""

OPTIONS: dict[Activity, CallOptions] = {
    Activity.MARKET_CONFIG: READ,
    Activity.MARKET_GET_REQUEST: READ,
    Activity.MARKET_SLOT_STATUS: READ,
    Activity.MARKET_CAN_RESERVE_SLOT: READ,
    Activity.MARKET_SLOT_COLLATERAL: READ,
    Activity.MARKET_PROVING_STATUS: READ,
    Activity.MARKET_MY_SLOTS: READ,
    Activity.MARKET_RESERVE_SLOT: TX,
    Activity.MARKET_FILL_SLOT: TX,
    Activity.MARKET_SUBMIT_PROOF: PROOF_TX,
    Activity.MARKET_FREE_SLOT: TX,
    Activity.LEDGER_FIND_AVAILABILITY: READ,
    Activity.LEDGER_CREATE_RESERVATION: LEDGER_WRITE,
    Activity.LEDGER_CLOSE_RESERVATION: CLEANUP,
    Activity.LEDGER_LIST_RESERVATIONS: READ,
    Activity.STORE_ON_STORE: STORE,
    Activity.STORE_ON_EXPIRY_UPDATE: HOOK,
    Activity.STORE_ON_CLEAR: HOOK,
    Activity.STORE_ON_SALE: HOOK,
    Activity.PROVER_ON_PROVE: PROVE,
}
