"""The API's NetworkPolicy: the HTTP port is never open to every peer by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.chart.conftest import VALUE_SETS
from tests.chart.tools import RELEASE, find_object, render_with

DATABASE = {"database": {"cidrs": ["10.0.0.0/24"]}}
INGRESS_NAMESPACE = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "nginx"}}}


def _http_rule(helm: Path, **network_policy: Any) -> dict[str, Any]:
    values = {"enabled": True, "egress": DATABASE, **network_policy}
    objects = render_with(
        helm, VALUE_SETS["default"], networkPolicy=values, tests={"enabled": False}
    )
    policy = find_object(objects, "NetworkPolicy", RELEASE)
    rules: list[dict[str, Any]] = [
        rule
        for rule in policy["spec"]["ingress"]
        if {port["port"] for port in rule["ports"]} == {"http"}
    ]
    (rule,) = rules
    return rule


def test_no_listed_peers_allow_the_release_namespace_only(helm: Path) -> None:
    rule = _http_rule(helm)
    # A rule without `from` would admit every peer of the cluster.
    assert rule["from"] == [{"podSelector": {}}]


def test_listed_peers_are_the_only_ones(helm: Path) -> None:
    rule = _http_rule(helm, ingress={"from": [INGRESS_NAMESPACE]})
    assert rule["from"] == [INGRESS_NAMESPACE]


def test_an_explicit_empty_list_is_not_every_peer(helm: Path) -> None:
    rule = _http_rule(helm, ingress={"from": None})
    assert rule["from"] == [{"podSelector": {}}]
