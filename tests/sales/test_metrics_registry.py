"""The `codex_sales_*` registry (issue: the operator's surface, point 2): Prometheus naming
conventions hold, and every registered metric is recorded somewhere, so the dashboard and the
alerts (which may use only registered names) never chart a series nobody writes."""

import re
from pathlib import Path

from sales import metrics as m

ROOT = Path(__file__).resolve().parents[2]


def test_names_follow_prometheus_conventions() -> None:
    for metric in m.ALL_METRICS:
        assert re.fullmatch(r"codex_sales_[a-z_]+", metric.name), metric.name
        assert metric.name.endswith("_total") == (metric.kind == m.Kind.COUNTER), metric.name
        if metric.kind == m.Kind.HISTOGRAM:
            assert metric.name.endswith("_seconds"), metric.name
    assert len({x.name for x in m.ALL_METRICS}) == len(m.ALL_METRICS)


def test_every_registered_metric_is_recorded() -> None:
    sources = "\n".join(
        path.read_text()
        for folder in ("workflows", "activities")
        for path in (ROOT / folder).glob("*.py")
    )
    constants = {name: value for name, value in vars(m).items() if isinstance(value, m.Metric)}
    for name in constants:
        assert re.search(rf"\b(m\.)?{name}\b", sources), f"{name} is never recorded"
