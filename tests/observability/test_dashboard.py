"""The Grafana dashboard: structure, filters, datasource use, and its generator."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.observability.dashboard_checks import (
    DATASOURCE_REF,
    bare_metric_names,
    dashboard_problems,
    datasource_uid_problems,
    exemplar_problems,
    metric_selectors,
    panel_problems,
    ratio_fallback_problems,
    selector_problems,
    variable_problems,
)
from tests.observability.paths import DASHBOARD, DASHBOARD_GENERATOR, DASHBOARDS_DIR, RULES_DIR
from tests.observability.promql import (
    dashboard_queries,
    iter_panels,
    load_dashboard,
    panel_exprs,
    recording_rule_exprs,
    substitute_variables,
)

UID = "tasks-api-service"
REC = 'cluster=~"$cluster", namespace=~"$namespace", job=~"$job"'
RAW = f'{REC}, pod=~"$pod"'
SPAN = 'service=~"$job", k8s_namespace_name=~"$namespace"'


def _panel(**changes: Any) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "id": 2,
        "type": "timeseries",
        "title": "Request rate",
        "description": "Requests per second.",
        "datasource": dict(DATASOURCE_REF),
        "fieldConfig": {"defaults": {"unit": "reqps"}, "overrides": []},
        "targets": [
            {
                "refId": "A",
                "datasource": dict(DATASOURCE_REF),
                "expr": f"sum(rate(http_requests_total{{{RAW}}}[$__rate_interval]))",
            }
        ],
    }
    panel.update(changes)
    return panel


def _dashboard(*panels: dict[str, Any]) -> dict[str, Any]:
    real = load_dashboard(DASHBOARD)
    return {"uid": UID, "title": "t", "templating": real["templating"], "panels": list(panels)}


# The real dashboard ----------------------------------------------------------


def test_dashboard_is_valid_json_with_its_uid() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == UID
    assert DASHBOARD.name == f"{UID}.json"


def test_dashboard_passes_every_check() -> None:
    assert dashboard_problems(load_dashboard(DASHBOARD), UID) == []


def test_every_json_file_in_the_dashboards_folder_is_a_valid_dashboard() -> None:
    for path in DASHBOARDS_DIR.glob("*.json"):
        dashboard = load_dashboard(path)
        assert dashboard_problems(dashboard, str(dashboard.get("uid"))) == [], path.name


def test_dashboard_covers_red_saturation_database_business_and_slo() -> None:
    exprs = "\n".join(panel_exprs(load_dashboard(DASHBOARD)))
    for metric in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_requests_inprogress",
        "tasks_api_db_pool_size",
        "tasks_api_db_pool_checked_out",
        "tasks_api_db_pool_overflow",
        "tasks_api_db_pool_max_overflow",
        "tasks_api_db_pool_saturation_ratio",
        "traces_spanmetrics_latency_bucket",
        "tasks_api_db_pool_wait_seconds_bucket",
        "tasks_api_db_query_duration_seconds_bucket",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "tasks_api_event_loop_lag_seconds",
        "tasks_api_tasks_created_total",
        "tasks_api_logins_failed_total",
        "tasks_api_idempotent_replays_total",
        "tasks_api_readiness",
        "tasks_api_otel_export_failures_total",
        "slo:error_budget_remaining:ratio30d",
    ):
        assert metric in exprs, metric
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}," in exprs
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f"slo:sli_error:ratio_rate{window}{{" in exprs


def test_dashboard_uses_only_recording_rules_that_exist() -> None:
    recorded = {name for name, _ in recording_rule_exprs(RULES_DIR)}
    for expr in panel_exprs(load_dashboard(DASHBOARD)):
        for name, _ in metric_selectors(expr):
            assert ":" not in name or name in recorded, name


def test_generated_dashboard_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(DASHBOARD_GENERATOR), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_generator_reports_a_stale_dashboard(tmp_path: Path) -> None:
    stale = tmp_path / "stale.json"
    stale.write_text(DASHBOARD.read_text(encoding="utf-8").replace("p95", "p96"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(DASHBOARD_GENERATOR), "--check", "--output", str(stale)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "stale" in result.stderr


def test_generator_output_is_exactly_the_committed_file(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.json"
    subprocess.run([sys.executable, str(DASHBOARD_GENERATOR), "--output", str(fresh)], check=True)
    assert fresh.read_bytes() == DASHBOARD.read_bytes()


def test_dashboard_queries_substitute_every_variable() -> None:
    queries = dashboard_queries(DASHBOARD)
    assert len(queries) == len(panel_exprs(load_dashboard(DASHBOARD)))
    assert all("$" not in query for query in queries)
    joined = "\n".join(queries)
    assert 'cluster=~".*", namespace=~"", job=~"tasks-api", pod=~".*"' in joined
    assert "[1m]" in joined
    assert "[5m]" in joined


def test_substitute_variables_handles_both_spellings() -> None:
    expr = 'rate(x{job=~"${job}", pod=~"$pod"}[$__rate_interval]) [$__range] $__interval'
    assert substitute_variables(expr) == 'rate(x{job=~"tasks-api", pod=~".*"}[1m]) [5m] 1m'


def test_substitute_variables_rejects_an_unknown_variable() -> None:
    with pytest.raises(ValueError, match=r"unknown variable \$region"):
        substitute_variables('up{region="$region"}')


def test_dashboard_queries_rejects_a_file_that_is_not_a_dashboard(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(TypeError):
        dashboard_queries(path)


def test_iter_panels_finds_panels_inside_collapsed_rows() -> None:
    nested = {"panels": [{"type": "row", "panels": [_panel(id=5)]}]}
    assert [panel["id"] for panel in iter_panels(nested) if panel["type"] != "row"] == [5]


# The checkers on small bad inputs ----------------------------------------------


def test_selector_check_accepts_raw_metrics_with_both_filters() -> None:
    assert selector_problems(f'sum by (le) (rate(m_bucket{{{RAW}, le="0.25"}}[5m]))') == []


def test_selector_check_accepts_recording_rules_filtered_on_job() -> None:
    assert selector_problems(f'1 - slo:sli_error:ratio_rate30d{{{REC}, slo="latency"}}') == []


def test_selector_check_rejects_a_missing_pod_or_namespace_filter() -> None:
    assert selector_problems(f"rate(m{{{REC}}}[5m])") == ['m: missing pod=~"$pod"']
    assert selector_problems('rate(m{cluster=~"$cluster", job=~"$job", pod=~"$pod"}[5m])') == [
        'm: missing namespace=~"$namespace"'
    ]


def test_selector_check_wants_service_and_namespace_on_span_metrics() -> None:
    good = f"rate(traces_spanmetrics_calls_total{{{SPAN}}}[5m])"
    assert selector_problems(good) == []
    assert selector_problems(f"rate(traces_spanmetrics_calls_total{{{RAW}}}[5m])") == [
        'traces_spanmetrics_calls_total: missing service=~"$job"',
        'traces_spanmetrics_calls_total: missing k8s_namespace_name=~"$namespace"',
    ]


def test_selector_check_rejects_a_recording_rule_without_job_filter() -> None:
    assert selector_problems('slo:a:b{slo="latency"}') == [
        'slo:a:b: missing cluster=~"$cluster"',
        'slo:a:b: missing namespace=~"$namespace"',
        'slo:a:b: missing job=~"$job"',
    ]


def test_selector_check_rejects_a_bare_metric() -> None:
    problems = selector_problems(f"m{{{RAW}}} / on (job) other_metric offset 1d")
    assert problems == ["other_metric: no label matchers"]


def test_selector_check_rejects_an_expression_without_selectors() -> None:
    assert selector_problems("vector(1)") == ["no metric selector in 'vector(1)'"]


def test_bare_metric_names_ignores_functions_keywords_grouping_and_numbers() -> None:
    expr = (
        f"histogram_quantile(0.99, sum by (le, handler) (rate(m{{{RAW}}}[5m]))) > 1e3 "
        f"and on (job) count without (pid) (n{{{RAW}}}) > bool 0"
    )
    assert bare_metric_names(expr) == []


def test_panel_checker_accepts_a_complete_panel() -> None:
    assert panel_problems(_panel()) == []


def test_panel_checker_rejects_missing_unit_description_and_title() -> None:
    panel = _panel(title="", description="", fieldConfig={"defaults": {}})
    assert len(panel_problems(panel)) == 3


def test_panel_checker_rejects_a_panel_datasource_other_than_the_variable() -> None:
    problems = panel_problems(_panel(datasource={"type": "prometheus", "uid": "prometheus"}))
    assert problems == ["panel 'Request rate': datasource must be " + str(dict(DATASOURCE_REF))]


def test_panel_checker_rejects_queries_without_filters_or_datasource() -> None:
    panel = _panel(targets=[{"refId": "A", "expr": "sum(rate(http_requests_total[5m]))"}])
    problems = panel_problems(panel)
    assert len(problems) == 3
    assert "datasource" in problems[0]
    assert "no metric selector" in problems[1]
    assert "http_requests_total: no label matchers" in problems[2]


def test_panel_checker_rejects_a_panel_without_queries() -> None:
    assert panel_problems(_panel(targets=[])) == ["panel 'Request rate': no queries"]


def test_datasource_check_rejects_hard_coded_uids_anywhere() -> None:
    dashboard = _dashboard(_panel())
    assert datasource_uid_problems(dashboard) == []
    bad = copy.deepcopy(dashboard)
    bad["panels"][0]["targets"][0]["datasource"] = {"uid": "P1809F7CD0C75ACF3"}
    bad["links"] = [{"datasourceUid": "tempo"}]
    bad["annotations"] = {"list": [{"datasource": "Prometheus"}]}
    assert len(datasource_uid_problems(bad)) == 3


@pytest.mark.parametrize("name", ["cluster", "namespace", "job", "pod"])
def test_variable_check_requires_cluster_namespace_job_and_pod(name: str) -> None:
    dashboard = _dashboard(_panel())
    assert variable_problems(dashboard) == []
    dashboard["templating"] = {
        "list": [v for v in dashboard["templating"]["list"] if v["name"] != name]
    }
    assert variable_problems(dashboard) == [f"missing template variable {name!r}"]


def test_the_namespace_variable_picks_one_namespace_and_pods_may_be_all() -> None:
    variables = {v["name"]: v for v in load_dashboard(DASHBOARD)["templating"]["list"]}
    assert variables["namespace"]["includeAll"] is False
    assert variables["job"]["includeAll"] is False
    assert variables["pod"]["includeAll"] is True
    assert variables["pod"]["allValue"] == ".*"
    assert "$namespace" in variables["job"]["query"] and "$job" in variables["pod"]["query"]


def test_variable_check_rejects_a_datasource_variable_of_another_type() -> None:
    dashboard = copy.deepcopy(_dashboard(_panel()))
    for variable in dashboard["templating"]["list"]:
        if variable["name"] == "datasource":
            variable["query"] = "loki"
    assert len(variable_problems(dashboard)) == 1


def test_dashboard_checker_rejects_a_wrong_uid_and_duplicate_panel_ids() -> None:
    dashboard = _dashboard(_panel(id=1), _panel(id=1))
    dashboard["uid"] = "other"
    problems = dashboard_problems(dashboard, UID)
    assert "uid is 'other', expected 'tasks-api-service'" in problems
    assert "panel ids are not unique" in problems


def test_dashboard_checker_rejects_a_dashboard_without_panels() -> None:
    assert "dashboard has no panels" in dashboard_problems(_dashboard(), UID)


def test_no_panel_hard_codes_a_rate_window() -> None:
    for expr in panel_exprs(load_dashboard(DASHBOARD)):
        assert re.search(r"\[\d+[smhd]\]", expr) is None, expr


def _exemplar_panel(expr: str, *, exemplar: bool = True) -> dict[str, Any]:
    panel = _panel()
    panel["targets"][0].update(expr=expr, exemplar=exemplar)
    return panel


def test_latency_panels_with_exemplars_read_tempo_span_metrics() -> None:
    dashboard = load_dashboard(DASHBOARD)
    assert exemplar_problems(dashboard) == []
    with_exemplars = [
        str(target["expr"])
        for panel in iter_panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("exemplar")
    ]
    assert len(with_exemplars) >= 3
    assert all("traces_spanmetrics_latency_bucket" in expr for expr in with_exemplars)


def test_exemplar_check_rejects_the_scraped_histograms() -> None:
    scraped = f"sum(rate(http_request_duration_seconds_bucket{{{RAW}}}[5m]))"
    problems = exemplar_problems(_dashboard(_exemplar_panel(scraped)))
    assert problems == [
        "panel 'Request rate': http_request_duration_seconds_bucket carries no exemplars"
    ]
    assert exemplar_problems(_dashboard(_exemplar_panel(scraped, exemplar=False))) == []
    traced = f"sum(rate(traces_spanmetrics_latency_bucket{{{SPAN}}}[5m]))"
    assert exemplar_problems(_dashboard(_exemplar_panel(traced))) == []


def test_error_ratios_fall_back_to_zero_without_errors() -> None:
    assert ratio_fallback_problems(load_dashboard(DASHBOARD)) == []
    bare = f'sum(rate(m{{{RAW}, status=~"5.."}}[5m])) / sum(rate(m{{{RAW}}}[5m]))'
    assert len(ratio_fallback_problems(_dashboard(_exemplar_panel(bare, exemplar=False)))) == 1
    total = f"sum(rate(m{{{RAW}}}[5m]))"
    fixed = f'(sum(rate(m{{{RAW}, status=~"4.."}}[5m])) or 0 * {total}) / {total}'
    assert ratio_fallback_problems(_dashboard(_exemplar_panel(fixed, exemplar=False))) == []


def test_dashboard_slo_row_follows_the_slo_spec() -> None:
    exprs = "\n".join(panel_exprs(load_dashboard(DASHBOARD)))
    # Budgets and windows as slos.yaml defines them.
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f'slo:sli_error:ratio_rate{window}{{{REC}, slo="availability"}} / 0.001' in exprs
        assert f'slo:sli_error:ratio_rate{window}{{{REC}, slo="latency"}} / 0.01' in exprs
