"""Structure of the alerting and recording rules, their promtool tests and the runbook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability.paths import RULES_DIR, RUNBOOK, rule_test_files
from tests.observability.promql import alerting_rules, iter_rules, recording_rule_exprs
from tests.observability.rule_checks import (
    alert_problems,
    alert_test_coverage,
    coverage_problems,
    github_anchor,
    markdown_anchors,
    recorded_names_in_tests,
    recording_rule_problems,
    untested_recording_rules,
)

EXPECTED_ALERTS = {
    "TasksApiAvailabilityBudgetBurnFast",
    "TasksApiAvailabilityBudgetBurnSlow",
    "TasksApiLatencyBudgetBurnFast",
    "TasksApiLatencyBudgetBurnSlow",
    "TasksApiTargetDown",
    "TasksApiAllTargetsDown",
    "TasksApiTargetAbsent",
    "TasksApiNotReady",
    "TasksApiNoReadyInstances",
    "TasksApiRunningOlderThanSchema",
    "TasksApiNoTraffic",
    "TasksApiHighErrorRate",
    "TasksApiHighLatency",
    "TasksApiDatabasePoolSaturated",
    "TasksApiDatabasePoolWaitSlow",
    "TasksApiTelemetryExportFailing",
    "TasksApiAvailabilitySLIAbsent",
    "TasksApiLatencySLIAbsent",
}
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def _test_documents() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text(encoding="utf-8")) for path in rule_test_files()]


def _good_alert(**changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "alert": "TasksApiExample",
        "expr": 'up{job="tasks-api"} == 0',
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "Something is wrong.",
            "description": "{{ $labels.instance }} is at {{ $value }}.",
            "runbook_url": "https://github.com/tasks-api/tasks-api/blob/main/observability/RUNBOOK.md#example",
            "dashboard_url": "http://localhost:3000/d/tasks-api-service/tasks-api-service",
        },
    }
    for key, value in changes.items():
        if key in rule["annotations"]:
            rule["annotations"][key] = value
        elif key == "severity":
            rule["labels"]["severity"] = value
        else:
            rule[key] = value
    return {k: v for k, v in rule.items() if v is not None}


# The real bundle -----------------------------------------------------------


def test_the_bundle_has_the_expected_alerts() -> None:
    names = [str(rule["alert"]) for rule in alerting_rules(RULES_DIR)]
    assert len(names) == len(set(names)), "alert names must be unique"
    assert set(names) == EXPECTED_ALERTS


@pytest.mark.parametrize("rule", alerting_rules(RULES_DIR), ids=lambda rule: str(rule["alert"]))
def test_alert_has_labels_annotations_and_a_runbook_section(rule: dict[str, Any]) -> None:
    anchors = markdown_anchors(RUNBOOK.read_text(encoding="utf-8"))
    assert alert_problems(rule, anchors) == []


def test_recording_rules_follow_level_metric_operation() -> None:
    problems = [
        p
        for rule in iter_rules(RULES_DIR)
        if "record" in rule
        for p in recording_rule_problems(rule)
    ]
    assert problems == []


def test_both_slos_record_every_burn_rate_window_and_the_budget() -> None:
    recorded: dict[str, set[str]] = {}
    for rule in iter_rules(RULES_DIR):
        if "record" in rule:
            recorded.setdefault(str(rule["labels"]["slo"]), set()).add(str(rule["record"]))
    expected = {f"slo:sli_error:ratio_rate{window}" for window in (*WINDOWS, "30d")}
    expected |= {f"slo:sli_bad_requests:increase{window}" for window in ("1h", "6h", "1d", "3d")}
    expected |= {
        "slo:error_budget_remaining:ratio30d",
        "slo:objective:ratio",
        "slo:error_budget:ratio",
    }
    assert set(recorded) == {"availability", "latency"}
    for names in recorded.values():
        assert expected <= names


def test_every_alert_fires_and_stays_silent_in_some_promtool_test() -> None:
    coverage = alert_test_coverage(_test_documents())
    assert coverage_problems(EXPECTED_ALERTS, coverage) == []
    assert coverage.firing <= EXPECTED_ALERTS, "tests name alerts that do not exist"


def test_every_recording_rule_value_is_checked_by_a_promql_expr_test() -> None:
    names = [name for name, _ in recording_rule_exprs(RULES_DIR)]
    assert untested_recording_rules(names, recorded_names_in_tests(_test_documents())) == []


def test_every_rule_file_is_exercised_by_a_test_file() -> None:
    loaded = {Path(name).name for doc in _test_documents() for name in doc["rule_files"]}
    assert {path.name for path in RULES_DIR.glob("*.yaml")} <= loaded


def test_alert_tests_evaluate_recording_rules_before_the_alerts() -> None:
    for path, document in zip(rule_test_files(), _test_documents(), strict=True):
        if "../rules/slo-alerts.yaml" not in document["rule_files"]:
            continue
        order = document.get("group_eval_order", [])
        assert order[-1:] == ["tasks-api-slo-alerts"], path.name
        assert {"tasks-api-slo-availability", "tasks-api-slo-latency"} <= set(order), path.name


def test_runbook_has_an_slo_overview_and_a_section_per_alert() -> None:
    anchors = markdown_anchors(RUNBOOK.read_text(encoding="utf-8"))
    assert "slo-overview" in anchors
    assert "low-traffic" in anchors
    assert {name.lower() for name in EXPECTED_ALERTS} <= anchors


def test_recording_rule_exprs_lists_every_recording_rule_once_per_slo() -> None:
    exprs = recording_rule_exprs(RULES_DIR)
    assert len(exprs) == 34
    assert all(expr and expr == expr.strip() for _, expr in exprs)
    assert sum(name == "slo:sli_error:ratio_rate5m" for name, _ in exprs) == 2


# The checkers on small bad inputs ---------------------------------------------


def test_github_anchor_matches_github_rules() -> None:
    assert github_anchor("TasksApiTargetDown") == "tasksapitargetdown"
    assert github_anchor("SLO overview") == "slo-overview"
    assert github_anchor("What's *new*, really?") == "whats-new-really"
    assert github_anchor("[Link](https://example.org) text") == "link-text"


def test_markdown_anchors_numbers_duplicates_and_ignores_code_blocks() -> None:
    text = "# Title\n## Diagnosis\n## Diagnosis\n```\n# not a heading\n```\n"
    assert markdown_anchors(text) == {"title", "diagnosis", "diagnosis-1"}


def test_markdown_anchors_ignores_text_that_only_looks_like_a_heading() -> None:
    assert markdown_anchors("#hashtag\n    # indented code\ntext # not a heading\n") == set()


def test_alert_checker_accepts_a_complete_alert() -> None:
    assert alert_problems(_good_alert(), {"example"}) == []


def test_alert_checker_rejects_a_runbook_anchor_missing_from_the_runbook() -> None:
    problems = alert_problems(_good_alert(), {"other-section"})
    assert problems == ["TasksApiExample: RUNBOOK.md has no section with anchor #example"]


def test_alert_checker_rejects_a_missing_runbook_url() -> None:
    assert alert_problems(_good_alert(runbook_url=None), {"example"}) == [
        "TasksApiExample: missing runbook_url"
    ]


def test_alert_checker_rejects_a_runbook_url_elsewhere() -> None:
    rule = _good_alert(runbook_url="https://wiki.example.org/runbook#example")
    assert len(alert_problems(rule, {"example"})) == 1


def test_alert_checker_rejects_a_bad_severity_and_a_missing_severity() -> None:
    assert "severity 'page'" in alert_problems(_good_alert(severity="page"), {"example"})[0]
    rule = _good_alert()
    del rule["labels"]["severity"]
    assert "severity None" in alert_problems(rule, {"example"})[0]


def test_alert_checker_rejects_a_name_without_the_prefix_or_not_camel_case() -> None:
    assert len(alert_problems(_good_alert(alert="TargetDown"), {"example"})) == 1
    assert len(alert_problems(_good_alert(alert="TasksApi_target_down"), {"example"})) == 1


def test_alert_checker_rejects_templated_summary_and_static_description() -> None:
    problems = alert_problems(
        _good_alert(summary="{{ $labels.job }} is down", description="It is down."), {"example"}
    )
    assert problems == [
        "TasksApiExample: summary must be a static sentence, not a template",
        "TasksApiExample: description must use $labels or $value",
    ]


def test_alert_checker_rejects_missing_or_foreign_dashboard_url() -> None:
    assert alert_problems(_good_alert(dashboard_url=None), {"example"}) == [
        "TasksApiExample: missing dashboard_url"
    ]
    rule = _good_alert(dashboard_url="https://grafana.example.org/d/tasks-api-service")
    assert len(alert_problems(rule, {"example"})) == 1


def test_recording_rule_checker_rejects_names_without_three_parts() -> None:
    assert recording_rule_problems({"record": "slo:sli_error:ratio_rate5m", "expr": "1"}) == []
    assert len(recording_rule_problems({"record": "sli_error_ratio", "expr": "1"})) == 1
    assert len(recording_rule_problems({"record": "slo:sli_error", "expr": "1"})) == 1
    assert len(recording_rule_problems({"record": "Slo:Error:Rate", "expr": ""})) == 2


def test_coverage_flags_an_alert_tested_only_firing_or_only_silent_or_not_at_all() -> None:
    documents = [
        {
            "tests": [
                {
                    "alert_rule_test": [
                        {"alertname": "A", "exp_alerts": [{"exp_labels": {}}]},
                        {"alertname": "A", "exp_alerts": []},
                        {"alertname": "B", "exp_alerts": [{"exp_labels": {}}]},
                        {"alertname": "C"},
                    ]
                }
            ]
        }
    ]
    assert coverage_problems(["A", "B", "C", "D"], alert_test_coverage(documents)) == [
        "B: no promtool test shows it not firing",
        "C: no promtool test shows it firing",
        "D: no promtool test shows it firing",
        "D: no promtool test shows it not firing",
    ]


def test_recorded_names_in_tests_finds_names_inside_expressions_only() -> None:
    documents = [
        {
            "tests": [
                {
                    "promql_expr_test": [
                        {"expr": 'slo:sli_error:ratio_rate1h{slo="a"} > 14.4 * 0.001'},
                        {"expr": "rate(http_requests_total[5m])"},
                    ]
                }
            ]
        }
    ]
    tested = recorded_names_in_tests(documents)
    assert tested == {"slo:sli_error:ratio_rate1h"}
    assert untested_recording_rules(["slo:sli_error:ratio_rate1h", "slo:x:y"], tested) == [
        "slo:x:y"
    ]


def test_rule_file_loader_rejects_a_file_without_groups(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("rules: []\n", encoding="utf-8")
    with pytest.raises(TypeError, match="no 'groups' list"):
        recording_rule_exprs(tmp_path)


def test_rule_file_loader_rejects_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no rule files"):
        recording_rule_exprs(tmp_path)
