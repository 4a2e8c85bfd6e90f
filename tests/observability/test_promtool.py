"""The real promtool validates the Prometheus config, the rules and their unit tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability.paths import PROMETHEUS_CONFIG, RULE_TESTS_DIR, RULES_DIR, rule_test_files
from tests.observability.promql import rule_files

Completed = subprocess.CompletedProcess[str]


def run_promtool(promtool: str, *args: str, cwd: Path) -> Completed:
    """Run promtool with ``args`` in ``cwd`` and capture its output."""
    return subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.fixture(scope="session")
def rule_test_runs(promtool: str) -> Iterator[dict[str, Future[Completed]]]:
    """Start every promtool unit test file at once; each test waits for its own."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        yield {
            path.name: pool.submit(
                run_promtool, promtool, "test", "rules", path.name, cwd=path.parent
            )
            for path in rule_test_files()
        }


@pytest.mark.tools
def test_promtool_accepts_the_prometheus_config(promtool: str) -> None:
    result = run_promtool(
        promtool, "check", "config", PROMETHEUS_CONFIG.name, cwd=PROMETHEUS_CONFIG.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # check config also loads the rule files through the rule_files glob.
    for path in rule_files(RULES_DIR):
        assert f"rules/{path.name}" in result.stdout


@pytest.mark.tools
@pytest.mark.parametrize("path", rule_files(RULES_DIR), ids=lambda p: p.name)
def test_promtool_accepts_the_rule_file(promtool: str, path: Path) -> None:
    result = run_promtool(promtool, "check", "rules", path.name, cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_there_are_rule_unit_tests() -> None:
    assert len(rule_test_files()) >= 3


@pytest.mark.tools
@pytest.mark.parametrize("path", rule_test_files(), ids=lambda p: p.name)
def test_promtool_rule_unit_tests_pass(
    path: Path, rule_test_runs: dict[str, Future[Completed]]
) -> None:
    result = rule_test_runs[path.name].result()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.tools
def test_promtool_check_rules_rejects_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: TasksApiBroken\n"
        "        expr: sum(rate(http_requests_total[5m]) > \n",
        encoding="utf-8",
    )
    result = run_promtool(promtool, "check", "rules", broken.name, cwd=tmp_path)
    assert result.returncode != 0


@pytest.mark.tools
def test_promtool_check_config_rejects_a_missing_rule_file(promtool: str, tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text("rule_files:\n  - does-not-exist.yaml\n", encoding="utf-8")
    result = run_promtool(promtool, "check", "config", config.name, cwd=tmp_path)
    assert result.returncode != 0


def _single_group_test(source: Path, group: str, rules_dir: Path, target: Path) -> Path:
    """Write a promtool test file that runs only ``group`` of ``source`` on ``rules_dir``."""
    document: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    tests = [test for test in document["tests"] if test.get("name") == group]
    assert tests, f"{source.name} has no test group named {group!r}"
    document["tests"] = tests
    document["rule_files"] = [str(rules_dir / Path(name).name) for name in document["rule_files"]]
    target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target


@dataclass(frozen=True)
class Mutation:
    """A safeguard removed from a rule file, and the test group that must notice."""

    rule_file: str
    old: str
    new: str
    test_file: str
    group: str
    failing_alert: str


# Each mutation removes one safeguard from a rule; the named test group must
# then fail, which proves that the group really tests that safeguard.
MUTATIONS = {
    "burn-rate-count-guard": Mutation(
        "slo-alerts.yaml",
        'slo:sli_bad_requests:increase1h{job="tasks-api", slo="availability"} >= 10',
        'slo:sli_bad_requests:increase1h{job="tasks-api", slo="availability"} >= 0',
        "slo-drills.test.yaml",
        "one stray error at 1 request per minute never pages",
        "TasksApiAvailabilityBudgetBurnFast",
    ),
    "burn-rate-short-window": Mutation(
        "slo-alerts.yaml",
        'slo:sli_error:ratio_rate5m{job="tasks-api", slo="availability"} > (14.4 * 0.001)',
        'slo:sli_error:ratio_rate5m{job="tasks-api", slo="availability"} >= 0',
        "slo-alerts.test.yaml",
        "availability incident pages, tickets, then resolves",
        "TasksApiAvailabilityBudgetBurnFast",
    ),
    "absent-sli-lookback": Mutation(
        "slo-alerts.yaml",
        "count by (cluster, namespace, job, service) (last_over_time("
        'http_requests_total{job="tasks-api", handler=~"/api/.*"}[1d]))',
        'count by (cluster, namespace, job, service) (up{job="tasks-api"})',
        "slo-drills.test.yaml",
        "no SLI yet, or no scrape, is not a vanished SLI",
        "TasksApiAvailabilitySLIAbsent",
    ),
    "pool-saturation-per-worker": Mutation(
        "operational-alerts.yaml",
        "avg_over_time(tasks_api_db_pool_saturation_ratio",
        "max_over_time(tasks_api_db_pool_saturation_ratio",
        "operational-alerts.test.yaml",
        "database pool with headroom, or no pool at all",
        "TasksApiDatabasePoolSaturated",
    ),
    "error-rate-count-guard": Mutation(
        "operational-alerts.yaml",
        'status=~"5.."}[5m])) >= 5',
        'status=~"5.."}[5m])) >= 0',
        "operational-alerts.test.yaml",
        "5xx below the threshold, one stray error at low traffic, or outside the API",
        "TasksApiHighErrorRate",
    ),
    "error-rate-api-filter": Mutation(
        "operational-alerts.yaml",
        'handler=~"/api/.*", status=~"5.."}[5m]))',
        'status=~"5.."}[5m]))',
        "operational-alerts.test.yaml",
        "5xx below the threshold, one stray error at low traffic, or outside the API",
        "TasksApiHighErrorRate",
    ),
}


@pytest.mark.tools
@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_rule_tests_catch_a_removed_safeguard(
    promtool: str, tmp_path: Path, mutation: Mutation
) -> None:
    mutated_rules = tmp_path / "rules"
    mutated_rules.mkdir()
    for path in rule_files(RULES_DIR):
        text = path.read_text(encoding="utf-8")
        if path.name == mutation.rule_file:
            assert mutation.old in text, f"{path.name} no longer contains {mutation.old!r}"
            text = text.replace(mutation.old, mutation.new)
        (mutated_rules / path.name).write_text(text, encoding="utf-8")
    source = RULE_TESTS_DIR / mutation.test_file
    mutated = _single_group_test(source, mutation.group, mutated_rules, tmp_path / "m.yaml")

    # The unmutated files pass (test_promtool_rule_unit_tests_pass); the mutated
    # rule must make exactly this group report its alert wrongly.
    result = run_promtool(promtool, "test", "rules", mutated.name, cwd=tmp_path)
    assert result.returncode != 0, result.stdout
    assert f"alertname: {mutation.failing_alert}," in result.stdout + result.stderr
