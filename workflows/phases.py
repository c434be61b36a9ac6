"""The phase model of a sale: which states may give up, how each activity is retried in each
phase, and which transitions are allowed (ARCHITECTURE §8: the fill is the point of no return).

- **Acquisition** (Preparing → InitialProving): bounded retries; when they run out the sale ends
  Ignored or Errored and everything it held goes back. Nothing of ours is on chain yet.
- **Hosting** (from the moment the fill transaction is broadcast — Filling — until the sale ends):
  reads and transactions retry without a limit, with a backoff capped well below a proof period,
  so an RPC or database outage only delays the sale. Only chain outcomes change its state.

Business failures (`ErrorType`) are never retried: they are the chain's or the ledger's answer,
and the step that called decides what they mean.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from sales.api import CHAIN_TX_TASK_QUEUE, PROVING_TASK_QUEUE, Activity, ErrorType
from workflows.sale_state import StateName

NON_RETRYABLE = [str(error) for error in ErrorType]


class Phase(StrEnum):
    ACQUISITION = "acquisition"
    HOSTING = "hosting"


def _retry(initial: float, maximum: float, attempts: int) -> RetryPolicy:
    """attempts=0: retry until it succeeds or fails with a business error."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=initial),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=maximum),
        maximum_attempts=attempts,
        non_retryable_error_types=NON_RETRYABLE,
    )


@dataclass(frozen=True)
class CallOptions:
    task_queue: str | None
    """None: the workflow's own queue (`sales` in production)."""
    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None
    cancellation: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL


HOSTING_BACKOFF_CAP = 10.0
"""Seconds: the longest pause between two attempts while hosting, well below any proof period
(Codex uses 120 s), so a recovered RPC endpoint is used again within the same period."""

_HEARTBEAT = timedelta(seconds=30)

# acquisition: about ten minutes of retries, then the sale gives up with everything returned
_A_READ = CallOptions(None, timedelta(seconds=30), _retry(1, 60, 10))
_A_TX = CallOptions(CHAIN_TX_TASK_QUEUE, timedelta(minutes=10), _retry(2, 120, 10), _HEARTBEAT)
_A_STORE = CallOptions(
    None,
    timedelta(hours=24),
    _retry(5, 300, 5),
    _HEARTBEAT,
    ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
)
"""The download heartbeats; a cancel waits until it stopped releasing bytes."""
_A_PROVE = CallOptions(PROVING_TASK_QUEUE, timedelta(minutes=10), _retry(2, 30, 3), _HEARTBEAT)
_A_HOOK = CallOptions(None, timedelta(minutes=2), _retry(1, 60, 5))

# hosting (and every cleanup): never give up on a transient fault
_H_READ = CallOptions(None, timedelta(seconds=30), _retry(1, HOSTING_BACKOFF_CAP, 0))
_H_TX = CallOptions(
    CHAIN_TX_TASK_QUEUE, timedelta(minutes=10), _retry(1, HOSTING_BACKOFF_CAP, 0), _HEARTBEAT
)
"""Transactions heartbeat their sent hash, so a retry finds the receipt instead of resending."""
_H_PROVE = CallOptions(
    PROVING_TASK_QUEUE, timedelta(minutes=10), _retry(1, HOSTING_BACKOFF_CAP, 0), _HEARTBEAT
)
"""Periodic proofs also carry a schedule-to-close deadline at the period's end (hosting.py)."""
_H_HOOK = CallOptions(None, timedelta(minutes=2), _retry(1, HOSTING_BACKOFF_CAP, 0))
_CLEANUP = CallOptions(None, timedelta(seconds=30), _retry(1, HOSTING_BACKOFF_CAP, 0))
"""Closing a reservation, recording the fill: must eventually happen, nothing may leak."""

_LEDGER_ALWAYS = {
    Activity.LEDGER_CLOSE_RESERVATION: _CLEANUP,
    Activity.LEDGER_RECORD_FILL: _CLEANUP,
}

CALLS: Mapping[Phase, Mapping[Activity, CallOptions]] = {
    Phase.ACQUISITION: {
        Activity.MARKET_CONFIG: _A_READ,
        Activity.MARKET_GET_REQUEST: _A_READ,
        Activity.MARKET_SLOT_STATUS: _A_READ,
        Activity.MARKET_CAN_RESERVE_SLOT: _A_READ,
        Activity.MARKET_SLOT_COLLATERAL: _A_READ,
        Activity.MARKET_PROVING_STATUS: _A_READ,
        Activity.MARKET_RESERVE_SLOT: _A_TX,
        Activity.LEDGER_FIND_AVAILABILITY: _A_READ,
        Activity.LEDGER_CREATE_RESERVATION: _A_READ,
        Activity.STORE_ON_STORE: _A_STORE,
        Activity.STORE_ON_CLEAR: _A_HOOK,
        Activity.PROVER_ON_PROVE: _A_PROVE,
        **_LEDGER_ALWAYS,
    },
    Phase.HOSTING: {
        Activity.MARKET_GET_REQUEST: _H_READ,
        Activity.MARKET_SLOT_STATUS: _H_READ,
        Activity.MARKET_SLOT_COLLATERAL: _H_READ,
        Activity.MARKET_PROVING_STATUS: _H_READ,
        Activity.MARKET_FILL_SLOT: _H_TX,
        Activity.MARKET_SUBMIT_PROOF: _H_TX,
        Activity.MARKET_FREE_SLOT: _H_TX,
        Activity.STORE_ON_EXPIRY_UPDATE: _H_HOOK,
        Activity.STORE_ON_CLEAR: _H_HOOK,
        Activity.STORE_ON_SALE: _H_HOOK,
        Activity.PROVER_ON_PROVE: _H_PROVE,
        **_LEDGER_ALWAYS,
    },
}
"""Phase → how each activity is called. A call missing here is a bug (KeyError fails the task)."""

PHASE_OF: Mapping[StateName, Phase] = {
    StateName.PREPARING: Phase.ACQUISITION,
    StateName.SLOT_RESERVING: Phase.ACQUISITION,
    StateName.DOWNLOADING: Phase.ACQUISITION,
    StateName.INITIAL_PROVING: Phase.ACQUISITION,
    StateName.IGNORED: Phase.ACQUISITION,
    StateName.FILLING: Phase.HOSTING,
    StateName.UNKNOWN: Phase.HOSTING,
    StateName.FILLED: Phase.HOSTING,
    StateName.PROVING: Phase.HOSTING,
    StateName.PROVING_SIMULATED: Phase.HOSTING,
    StateName.PAYOUT: Phase.HOSTING,
    StateName.FINISHED: Phase.HOSTING,
    StateName.CANCELLED: Phase.HOSTING,
    StateName.FAILED: Phase.HOSTING,
    StateName.ERRORED: Phase.HOSTING,
}
"""The ends run in the hosting phase: their cleanup (free, close) must eventually happen."""

GIVES_UP: Mapping[Phase, bool] = {Phase.ACQUISITION: True, Phase.HOSTING: False}
"""Whether an activity failure that survived its retries may end the sale (as Errored)."""

_ENDS = frozenset({StateName.CANCELLED, StateName.FAILED, StateName.ERRORED})
_PROVING = frozenset({StateName.PROVING, StateName.PROVING_SIMULATED})
_SETTLE_OR_HOLD = _ENDS | _PROVING | {StateName.FINISHED, StateName.PAYOUT}

TRANSITIONS: Mapping[StateName, frozenset[StateName]] = {
    StateName.PREPARING: frozenset(
        {StateName.SLOT_RESERVING, StateName.IGNORED, StateName.FILLED} | _ENDS
    ),
    StateName.SLOT_RESERVING: frozenset({StateName.DOWNLOADING, StateName.IGNORED} | _ENDS),
    StateName.DOWNLOADING: frozenset({StateName.INITIAL_PROVING, StateName.FILLED} | _ENDS),
    StateName.INITIAL_PROVING: frozenset({StateName.FILLING} | _ENDS),
    StateName.FILLING: frozenset(
        {StateName.FILLED, StateName.INITIAL_PROVING, StateName.IGNORED} | _ENDS
    ),
    StateName.UNKNOWN: _SETTLE_OR_HOLD | {StateName.FILLED},
    StateName.FILLED: _SETTLE_OR_HOLD,
    StateName.PROVING: _SETTLE_OR_HOLD,
    StateName.PROVING_SIMULATED: _SETTLE_OR_HOLD,
    StateName.PAYOUT: _SETTLE_OR_HOLD,
    StateName.CANCELLED: _SETTLE_OR_HOLD,
    StateName.FAILED: _SETTLE_OR_HOLD,
    StateName.ERRORED: _SETTLE_OR_HOLD,
    StateName.FINISHED: _SETTLE_OR_HOLD,
    StateName.IGNORED: frozenset(),
}
"""Allowed transitions. A step returning anything else is a bug: the workflow task fails, a
fixed worker replays it. The ends may go back to Proving: settlement found the slot still ours
and running (a forged or reorganised event), so the sale keeps proving."""


def options(state: StateName, activity: Activity) -> CallOptions:
    return CALLS[PHASE_OF[state]][activity]


def gives_up(state: StateName) -> bool:
    return GIVES_UP[PHASE_OF[state]]
