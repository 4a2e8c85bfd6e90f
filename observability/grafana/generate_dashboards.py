"""Generate the tasks-api Grafana dashboard JSON.

Run from anywhere (PyYAML reads the SLO spec):

    uv run python observability/grafana/generate_dashboards.py          # rewrite the JSON
    uv run python observability/grafana/generate_dashboards.py --check  # exit 1 if stale

The panels are defined in rows_service.py, rows_operations.py, rows_traces.py
and rows_slo.py (built from observability/slo/slos.yaml), with the shared
building blocks in dashboard_model.py.

The committed JSON under dashboards/ is what Grafana and the Helm chart load;
this script is its source. Every query filters on the dashboard variables
``$cluster``, ``$namespace``, ``$job`` and ``$pod`` (SLO recording rules carry
no pod) and every panel reads the ``${datasource}`` variable, so no datasource
uid is baked in.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dashboard_model import Json, Panel, Row, Target
from rows_operations import business_row, database_row, health_row
from rows_service import latency_row, overview_row, saturation_row, traffic_row
from rows_slo import slo_row
from rows_traces import traces_row

DASHBOARD_UID = "tasks-api-service"
OUTPUT = Path(__file__).resolve().parent / "dashboards" / f"{DASHBOARD_UID}.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def target_json(target: Target, ref_id: str) -> Json:
    """Render one query."""
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "exemplar": target.exemplar,
        "expr": target.expr,
        "instant": target.instant,
        "legendFormat": target.legend,
        "range": not target.instant,
        "refId": ref_id,
    }


def thresholds_json(steps: tuple[tuple[float | None, str], ...]) -> Json:
    """Render absolute threshold steps."""
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in steps],
    }


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> Json:
    """Render a panel at a grid position."""
    custom: Json = {}
    options: Json
    extra = dict(panel.extra)
    decimals = extra.pop("decimals", None)
    if panel.kind == "timeseries":
        custom = {
            "drawStyle": "line",
            "fillOpacity": 30 if panel.stack else 10,
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if panel.stack else "none"},
            "thresholdsStyle": {"mode": extra.pop("thresholdsStyle", "off")},
        }
        options = {
            "legend": {"calcs": ["mean", "max"], "displayMode": "table", "placement": "bottom"},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    else:
        options = {
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": extra.pop("textMode", "auto"),
        }
    defaults: Json = {
        "custom": custom,
        "thresholds": thresholds_json(panel.thresholds),
        "unit": panel.unit,
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    if extra:
        msg = f"unknown panel options for {panel.title!r}: {sorted(extra)}"
        raise ValueError(msg)
    return {
        "datasource": DATASOURCE,
        "description": panel.description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "id": panel_id,
        "options": options,
        "targets": [
            target_json(target, chr(ord("A") + index)) for index, target in enumerate(panel.targets)
        ],
        "title": panel.title,
        "type": panel.kind,
    }


def layout(rows: tuple[Row, ...]) -> list[Json]:
    """Place rows and their panels on Grafana's 24-column grid."""
    panels: list[Json] = []
    next_id = 1
    y = 0
    for row in rows:
        panels.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "id": next_id,
                "panels": [],
                "title": row.title,
                "type": "row",
            }
        )
        next_id += 1
        y += 1
        x = 0
        line_height = 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, line_height = 0, y + line_height, 0
            panels.append(panel_json(panel, next_id, x, y))
            next_id += 1
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return panels


def query_variable(name: str, label: str, query: str, *, include_all: bool) -> Json:
    """Render a Prometheus label_values template variable."""
    return {
        "allValue": ".*" if include_all else None,
        "current": {},
        "datasource": DATASOURCE,
        "definition": query,
        "hide": 0,
        "includeAll": include_all,
        "label": label,
        "multi": include_all,
        "name": name,
        "options": [],
        "query": query,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "type": "query",
    }


def dashboard() -> Json:
    """Return the complete tasks-api service dashboard."""
    rows = (
        overview_row(),
        traffic_row(),
        latency_row(),
        traces_row(),
        saturation_row(),
        database_row(),
        business_row(),
        health_row(),
        slo_row(),
    )
    return {
        "annotations": {"list": []},
        "description": "tasks-api: RED metrics per route, latency, saturation, database, "
        "business counters and SLO burn rates.",
        "editable": False,
        "graphTooltip": 1,
        "links": [],
        "panels": layout(rows),
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["tasks-api"],
        "templating": {
            "list": [
                {
                    "current": {},
                    "hide": 0,
                    "includeAll": False,
                    "label": "Data source",
                    "multi": False,
                    "name": "datasource",
                    "options": [],
                    "query": "prometheus",
                    "refresh": 1,
                    "regex": "",
                    "type": "datasource",
                },
                query_variable(
                    "cluster",
                    "Cluster",
                    "label_values(tasks_api_build_info, cluster)",
                    include_all=True,
                ),
                query_variable(
                    "namespace",
                    "Namespace",
                    'label_values(tasks_api_build_info{cluster=~"$cluster"}, namespace)',
                    include_all=False,
                ),
                query_variable(
                    "job",
                    "Job",
                    'label_values(tasks_api_build_info{cluster=~"$cluster", '
                    'namespace=~"$namespace"}, job)',
                    include_all=False,
                ),
                query_variable(
                    "pod",
                    "Pod",
                    'label_values(tasks_api_build_info{cluster=~"$cluster", '
                    'namespace=~"$namespace", job=~"$job"}, pod)',
                    include_all=True,
                ),
            ]
        },
        "time": {"from": "now-3h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": "tasks-api service",
        "uid": DASHBOARD_UID,
        "version": 1,
    }


def render() -> str:
    """Return the dashboard as the exact text committed to the repository."""
    return json.dumps(dashboard(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the dashboard JSON, or with --check report whether it is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the JSON is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="dashboard JSON path")
    args = parser.parse_args(argv)
    output: Path = args.output
    text = render()
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            sys.stderr.write(f"{output} is stale: run {Path(__file__).name}\n")
            return 1
        return 0
    output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
