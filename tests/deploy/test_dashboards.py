"""The Grafana dashboard and the Prometheus alert rules in deploy/ (issue: the operator's
surface, point 3, dashboards and alerts as code): the dashboard is well-formed dashboard JSON,
every query and rule is valid PromQL (promql-parser, the Prometheus parser's Rust port), and
every metric they reference is one the worker exports (sales/metrics.py) or Prometheus's own
`up`. The dashboard shows what the issue names, and the rules cover the alerts it names."""

import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import promql_parser
import pytest
import yaml

from sales.metrics import exported_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = json.loads((DEPLOY / "grafana" / "sales-dashboard.json").read_text())
RULES = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
PROMETHEUS_OWN = {"up"}

TARGET = {
    "type": "object",
    "required": ["refId", "expr"],
    "properties": {"refId": {"type": "string"}, "expr": {"type": "string", "minLength": 1}},
}
GRID = {
    "type": "object",
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "minimum": 1},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
    },
}
DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {
                "list": {
                    "type": "array",
                    "items": {"type": "object", "required": ["name", "type"]},
                }
            },
        },
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos"],
                "properties": {
                    "id": {"type": "integer"},
                    "type": {"enum": ["row", "timeseries", "stat", "gauge", "table", "bargauge"]},
                    "gridPos": GRID,
                    "targets": {"type": "array", "items": TARGET},
                },
                "if": {"properties": {"type": {"not": {"const": "row"}}}},
                "then": {"required": ["targets", "datasource"]},
            },
        },
    },
}
"""The part of Grafana's dashboard model (schemaVersion 36+) this dashboard relies on."""

GRAFANA_VARIABLES = {
    "$__range": "1h",
    "$__rate_interval": "1m",
    "$period": "5m",
    "$job": "codex-sales",
}


def queries() -> list[str]:
    return [t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", [])]


def rules() -> list[dict[str, Any]]:
    return [rule for group in RULES["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def test_the_dashboard_is_well_formed_dashboard_json() -> None:
    """The model Grafana imports: required fields, panel ids unique, panels on the 24-column
    grid without overlapping, every variable a query uses defined."""
    jsonschema.Draft202012Validator(DASHBOARD_SCHEMA).validate(DASHBOARD)
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
    defined = {v["name"] for v in DASHBOARD["templating"]["list"]}
    used = set(re.findall(r"\$\{?(\w+)", json.dumps(DASHBOARD["panels"]))) - {"__range"}
    assert used <= defined


@pytest.mark.parametrize("expr", queries())
def test_every_dashboard_query_is_promql_on_exported_metrics(expr: str) -> None:
    names = metric_names(expr)
    assert names, expr
    assert names <= exported_names() | PROMETHEUS_OWN, names - exported_names()


def test_the_dashboard_shows_what_an_operator_needs() -> None:
    """Earnings, collateral at risk, proofs and misses per period, sales by state, the queue,
    follower lag and worker health."""
    shown = set().union(*(metric_names(e) for e in queries()))
    for needed in (
        "codex_sales_payout_tokens_total",
        "codex_sales_collateral_at_risk_tokens",
        "codex_sales_proofs_submitted_total",
        "codex_sales_periods_missed_total",
        "codex_sales_sales",
        "codex_sales_queue_length",
        "codex_sales_follower_lag_blocks",
        "up",
    ):
        assert needed in shown, needed


def test_alert_rules_are_valid_promql_on_exported_metrics() -> None:
    """Each rule has a name, a severity and a summary, a `for` Prometheus accepts, and a valid
    expression on metrics the worker exports."""
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    for rule in rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        if "for" in rule:
            promql_parser.parse_duration(rule["for"])
        used = metric_names(rule["expr"])
        assert used <= exported_names() | PROMETHEUS_OWN, (rule["alert"], used)


def test_alert_rules_cover_the_failures_the_issue_names() -> None:
    """A missed proof, follower lag, a worker down, no chain-tx worker, collateral at risk
    without proving."""
    by_metric = {rule["alert"]: metric_names(rule["expr"]) for rule in rules()}
    exprs = {rule["alert"]: rule["expr"] for rule in rules()}
    assert "codex_sales_periods_missed_total" in by_metric["CodexSalesProofMissed"]
    assert "codex_sales_follower_lag_blocks" in by_metric["CodexSalesFollowerLagging"]
    assert "== 0" in exprs["CodexSalesWorkerDown"]
    assert 'app="chain-tx-worker"' in exprs["CodexSalesNoChainTxWorker"]
    assert by_metric["CodexSalesCollateralAtRiskWithoutProving"] == {
        "codex_sales_collateral_at_risk_tokens",
        "codex_sales_proofs_submitted_total",
    }
