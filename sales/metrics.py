"""The `codex_sales_*` Prometheus metrics: one registry of names, kinds and meanings.

Workflows record theirs with the SDK's replay-safe workflow meter (workflows/metrics.py),
activities with the activity meter (activities/metrics.py), and the sales worker's collector
sets the gauges that are facts of the ledger or of visibility (activities/metrics.py). All of
them go out on the worker's Prometheus endpoint (`SALES_METRICS_ADDRESS`). The dashboard and
the alert rules in deploy/ may reference only names listed here (tests/deploy/test_dashboards.py).

Names follow Prometheus conventions: counters end in `_total`, units are in the name
(`_seconds`, `_bytes`, `_blocks`), amounts of tokens are plain numbers (`_tokens`).
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class Metric(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()


def _m(name: str, kind: Kind, help: str, *labels: str) -> Metric:
    return Metric(name=f"codex_sales_{name}", kind=kind, help=help, labels=labels)


C, G, H = Kind.COUNTER, Kind.GAUGE, Kind.HISTOGRAM

SALES = _m("sales", G, "Running sales by state (visibility, set by the collector)", "state")
SALES_STARTED = _m("sales_started_total", C, "Sales started, by entry (queue or recovery)", "entry")
SALES_ENDED = _m("sales_ended_total", C, "Sales ended, by outcome (their final state)", "outcome")
STATE_TRANSITIONS = _m("state_transitions_total", C, "States sales entered", "state")
SLOTS_HOSTED = _m("slots_hosted", G, "Slots this host holds on chain now (running hosting sales)")
SLOTS_FILLED = _m("slots_filled_total", C, "Fills that landed on chain")
PROOFS_SUBMITTED = _m("proofs_submitted_total", C, "Storage proofs that landed on chain")
PROOFS_FAILED = _m("proofs_failed_total", C, "Proof attempts that failed, by stage", "stage")
PERIODS_MISSED = _m("periods_missed_total", C, "Periods a proof was due and none landed")
PROOF_GENERATION = _m("proof_generation_seconds", H, "Time to generate one storage proof")
PROOF_SUBMISSION = _m("proof_submission_seconds", H, "Time from sending a proof to its receipt")
COLLATERAL_DEPOSITED = _m(
    "collateral_deposited_tokens_total", C, "Collateral deposited on chain by landed fills"
)
COLLATERAL_RETURNED = _m(
    "collateral_returned_tokens_total", C, "Collateral returned to availabilities at settlement"
)
COLLATERAL_AT_RISK = _m(
    "collateral_at_risk_tokens", G, "Collateral of fills sent or landed and not yet settled"
)
PAYOUTS = _m("payouts_total", C, "Payouts received (a finished slot freed with its payment)")
PAYOUT_TOKENS = _m(
    "payout_tokens_total", C, "Tokens earned by payouts: price per slot-second times time held"
)
AVAILABILITY_BYTES_TOTAL = _m(
    "availability_total_bytes", G, "Bytes an availability offers", "availability"
)
AVAILABILITY_BYTES_FREE = _m(
    "availability_free_bytes", G, "Bytes of an availability not reserved", "availability"
)
AVAILABILITY_BYTES_RESERVED = _m(
    "availability_reserved_bytes",
    G,
    "Bytes of an availability held by reservations",
    "availability",
)
QUEUE_LENGTH = _m("queue_length", G, "Slots waiting in the host's slot queue")
WORKERS_BUSY = _m("queue_workers_busy", G, "Queue workers running a sale")
WORKERS_MAX = _m("queue_workers_max", G, "The queue's maxWorkers")
FOLLOWER_LAG = _m("follower_lag_blocks", G, "Blocks the chain follower is behind the head")
EVENTS_DEAD_LETTERED = _m(
    "events_dead_lettered_total",
    C,
    "Marketplace events the follower moved past: undecodable, or refused by every delivery",
    "kind",
)
FOLLOWER_REORGS = _m("follower_reorgs_total", C, "Chain reorganisations the follower rewound")
REQUESTS_REFUSED = _m(
    "requests_refused_total", C, "Storage requests refused by the validation gate", "bound"
)
TRANSACTIONS_SENT = _m("transactions_sent_total", C, "Transactions broadcast", "operation")
FEE_BUMPS = _m("fee_bumps_total", C, "Replacements sent at raised fees", "operation")

ALL_METRICS: tuple[Metric, ...] = tuple(
    v for v in list(globals().values()) if isinstance(v, Metric)
)

HISTOGRAM_BUCKETS: dict[str, list[float]] = {
    PROOF_GENERATION.name: [0.5, 1, 2, 5, 10, 20, 30, 60, 120],
    PROOF_SUBMISSION.name: [0.5, 1, 2, 5, 10, 20, 30, 60, 120],
}
"""Bucket bounds in seconds for the worker's Prometheus exporter."""


def exported_names() -> set[str]:
    """Every series name Prometheus sees: histograms add _bucket, _sum and _count."""
    names: set[str] = set()
    for metric in ALL_METRICS:
        if metric.kind == Kind.HISTOGRAM:
            names |= {f"{metric.name}_bucket", f"{metric.name}_sum", f"{metric.name}_count"}
        else:
            names.add(metric.name)
    return names
