"""Alert rules and the dashboard: valid for promtool, tested alert by alert, and built on metrics that exist.

Also `promtool check metrics` on the /metrics output of the shared operations endpoint (schemas/ops.py),
served for real with the pipeline's metrics registered.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry, Metric
from prometheus_client.metrics import MetricWrapperBase

from schemas.ops import bound_port, ops_app
from schemas.settings import Settings
from tests.deploy.manifests import promtool

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "observability" / "alerts.yaml"
DASHBOARD = ROOT / "deploy" / "observability" / "grafana-dashboard.json"
ALERT_TESTS = Path(__file__).parent / "promtool" / "alerts_test.yaml"
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "gauge": ("",), "summary": ("", "_sum", "_count", "_created")}
ALERTS_NEEDED = {"CallapiDeliveryDeadLettersGrowing", "CallapiConsumerLagGrowing", "CallapiCircuitOpenTooLong",
                 "CallapiDeliverySuccessRateLow"}


def pipeline_registry() -> CollectorRegistry:
    """A registry holding the metrics of every component, each labelled metric with one child."""
    from control import relay, sink
    from control.api import metrics as api_metrics
    from delivery.metrics import DeliveryMetrics
    from deploy import lag
    from processors import metrics as processor_metrics

    registry = CollectorRegistry()
    delivery = DeliveryMetrics(registry=registry)
    delivery.attempts.labels(outcome="delivered").inc()
    delivery.retries.labels(delay="30s").inc()
    for module in (processor_metrics, relay, sink, api_metrics, lag):
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                registry.register(value)
    lag.LAG.labels(group="callapi.processor", topic="callapi.call-events").set(3)
    return registry


def known_series(registry: CollectorRegistry) -> set[str]:
    families: list[Metric] = list(registry.collect())
    return {family.name + suffix for family in families for suffix in SUFFIXES.get(family.type, ("",))}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    for name, value in GRAFANA_VARIABLES.items():
        exprs = [expr.replace(name, value) for expr in exprs]
    return exprs


def alert_exprs() -> list[str]:
    return [rule["expr"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def metric_names(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in re.findall(r"\bcallapi_[a-z0-9_]+", expr)}


def alert_expr(name: str) -> str:
    (expr,) = [rule["expr"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
               if rule.get("alert") == name]
    return str(expr)


def test_alert_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    names = {rule["alert"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]}
    assert names >= ALERTS_NEEDED


def test_each_alert_fires_on_its_trouble_and_not_on_health() -> None:
    result = promtool("test", "rules", str(ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", ALERT_TESTS.read_text()))
    assert tested == {rule["alert"] for group in yaml.safe_load(ALERTS.read_text())["groups"]
                      for rule in group["rules"]}


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel_{i}", "expr": expr} for i, expr in enumerate(dashboard_exprs())]}]}
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource"}
    for panel in panels:
        assert panel["gridPos"]["x"] >= 0 and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}" and target["refId"]
    assert metric_names(dashboard_exprs()) >= {"callapi_consumer_lag", "callapi_delivery_attempts_total",
                                               "callapi_delivery_dlq_total", "callapi_delivery_open_circuits"}


def test_alerts_and_dashboard_use_only_metrics_the_code_exports() -> None:
    unknown = metric_names(alert_exprs() + dashboard_exprs()) - known_series(pipeline_registry())
    assert not unknown, f"no component exports {sorted(unknown)}"


def test_lag_alert_leaves_out_exactly_the_delay_topics() -> None:
    """Jobs wait on the delay topics on purpose; every other topic's lag is a consumer falling behind."""
    (pattern,) = set(re.findall(r'topic!~"([^"]+)"', alert_expr("CallapiConsumerLagGrowing")))
    topics = Settings(topic_prefix="callapi.").topics
    others = [topics.call_events, topics.call_events_dlq, topics.event_requests, topics.deliveries,
              topics.deliveries_dlq, topics.delivery_attempts]
    assert all(re.fullmatch(pattern, topic) for topic in topics.retries)
    assert not any(re.fullmatch(pattern, topic) for topic in others)


def test_dead_letter_alert_counts_everything_the_workers_put_on_the_dlq() -> None:
    from delivery.metrics import DeliveryMetrics

    registry = CollectorRegistry()
    DeliveryMetrics(registry=registry)
    onto_dlq = {family.name + "_total" for family in registry.collect()
                if family.type == "counter" and "deliveries.dlq" in family.documentation}
    assert len(onto_dlq) >= 2
    assert onto_dlq <= metric_names([alert_expr("CallapiDeliveryDeadLettersGrowing")])


@pytest.fixture
async def ops_metrics_text() -> AsyncIterator[str]:
    runner = web.AppRunner(ops_app(registry=pipeline_registry()), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{bound_port(runner)}/metrics")
        assert response.status_code == 200
        yield response.text
    finally:
        await runner.cleanup()


def test_ops_endpoint_metrics_pass_promtool_check_metrics(ops_metrics_text: str) -> None:
    assert "callapi_delivery_attempts_total" in ops_metrics_text
    result = promtool("check", "metrics", stdin=ops_metrics_text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_metrics_would_catch_a_badly_named_counter() -> None:
    bad = "# HELP callapi_bad_things Things.\n# TYPE callapi_bad_things counter\ncallapi_bad_things 1\n"
    assert promtool("check", "metrics", stdin=bad).returncode != 0
