"""One SLO spec generates the SLO rules, the dashboard's SLO row and the runbook's SLO section."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability.paths import DASHBOARD, OBSERVABILITY, RULES_DIR, RUNBOOK
from tests.observability.promql import iter_panels, load_dashboard

SLO_DIR = OBSERVABILITY / "slo"
SPEC = SLO_DIR / "slos.yaml"
GENERATOR = SLO_DIR / "generate_slo.py"


def _spec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return data


def _generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _write_spec(tmp_path: Path, **changes: Any) -> Path:
    spec = _spec()
    spec.update(changes)
    path = tmp_path / "slos.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _alerts() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load((RULES_DIR / "slo-alerts.yaml").read_text(encoding="utf-8"))
    return {str(r["alert"]): r for g in document["groups"] for r in g["rules"]}


def test_rules_dashboard_and_runbook_agree_with_the_spec() -> None:
    result = _generate("--check")
    assert result.returncode == 0, result.stderr


def test_check_names_every_file_a_changed_spec_makes_stale(tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in (RULES_DIR / "slo-alerts.yaml", RUNBOOK)}
    slos = _spec()["slos"]
    slos[0]["objective"] = 0.995
    result = _generate("--check", "--spec", str(_write_spec(tmp_path, slos=slos)))
    assert result.returncode == 1
    for name in ("slo-recording.yaml", "slo-alerts.yaml", "RUNBOOK.md"):
        assert f"{name} is stale" in result.stderr
    # --check reports, it never writes.
    assert {p: p.read_bytes() for p in before} == before


def test_check_sees_a_hand_edited_threshold(tmp_path: Path) -> None:
    pairs = _spec()["burn_rates"]
    pairs[0]["factor"] = 10
    result = _generate("--check", "--spec", str(_write_spec(tmp_path, burn_rates=pairs)))
    assert result.returncode == 1
    assert "slo-alerts.yaml is stale" in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"within": 'm_bucket{le="1"}'}, "exactly one of 'bad' and 'within'"),
        ({"objective": 1.0}, "objective must be between 0 and 1"),
    ],
)
def test_the_generator_refuses_an_inconsistent_slo(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    slos = _spec()["slos"]
    slos[0].update(change)
    result = _generate("--check", "--spec", str(_write_spec(tmp_path, slos=slos)))
    assert result.returncode != 0
    assert message in result.stderr


def test_the_generator_refuses_a_short_window_longer_than_the_long_one(tmp_path: Path) -> None:
    pairs = _spec()["burn_rates"]
    pairs[0]["short"] = "2h"
    result = _generate("--check", "--spec", str(_write_spec(tmp_path, burn_rates=pairs)))
    assert result.returncode != 0
    assert "the short window must be shorter than the long one" in result.stderr


def test_every_burn_rate_pair_of_the_spec_is_in_its_alert() -> None:
    spec, alerts = _spec(), _alerts()
    for slo in spec["slos"]:
        budget = round(1 - slo["objective"], 10)
        for pair in spec["burn_rates"]:
            alert = alerts[f"TasksApi{slo['title']}{pair['alert']}"]
            expr = str(alert["expr"])
            threshold = f"> ({pair['factor']:g} * {budget:g})"
            assert f"ratio_rate{pair['long']}{{" in expr and f"ratio_rate{pair['short']}{{" in expr
            assert expr.count(threshold) >= 2, (alert["alert"], threshold)
            assert f"increase{pair['long']}{{" in expr
            assert f">= {spec['min_bad_requests']}" in expr
            assert alert["for"] == pair["for"]
            assert alert["labels"]["severity"] == pair["severity"]


def test_objective_and_budget_series_are_recorded_per_slo() -> None:
    document = yaml.safe_load((RULES_DIR / "slo-recording.yaml").read_text(encoding="utf-8"))
    recorded = {
        (str(r["record"]), str(r["labels"]["slo"])): str(r["expr"])
        for g in document["groups"]
        for r in g["rules"]
    }
    for slo in _spec()["slos"]:
        objective = recorded[("slo:objective:ratio", slo["name"])]
        budget = recorded[("slo:error_budget:ratio", slo["name"])]
        assert objective.endswith(f"+ {slo['objective']:g}")
        assert budget.endswith(f"+ {round(1 - slo['objective'], 10):g}")


def test_every_slo_has_an_absent_alert() -> None:
    alerts = _alerts()
    for slo in _spec()["slos"]:
        alert = alerts[f"TasksApi{slo['title']}SLIAbsent"]
        metric = slo["total"].split("{")[0]
        assert f"count by (cluster, namespace, job, service) ({metric}{{" in str(alert["expr"])


def test_the_dashboard_burn_rate_thresholds_are_the_spec_factors() -> None:
    factors = sorted({float(p["factor"]) for p in _spec()["burn_rates"]})
    panels = [
        p for p in iter_panels(load_dashboard(DASHBOARD)) if "burn rate" in str(p.get("title"))
    ]
    assert len(panels) == len(_spec()["slos"])
    for panel in panels:
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert sorted(s["value"] for s in steps if s["value"] is not None) == factors


def test_the_runbook_section_states_the_spec() -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    section = text[text.index("<!-- BEGIN SLO section") : text.index("<!-- END SLO section -->")]
    for slo in _spec()["slos"]:
        assert re.search(rf"\| {slo['title']} \|.*\| {slo['objective'] * 100:.4g} % \|", section)
    assert f"at least **{_spec()['min_bad_requests']} bad requests" in section
