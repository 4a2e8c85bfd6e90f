"""Every checkov finding tasks-api accepts, with its reason: the one place for skips.

A skip names the check, the scan targets it applies to (chart value sets, or
"dockerfile") and a regular expression on checkov's resource id. A skip that no
longer matches any finding fails the tests, so this list cannot go stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Skip:
    """An accepted checkov finding."""

    check_id: str
    targets: frozenset[str]
    resource: str
    reason: str

    def covers(self, check_id: str, target: str, resource: str) -> bool:
        """Whether this skip accepts that finding."""
        return (
            check_id == self.check_id
            and target in self.targets
            and re.search(self.resource, resource) is not None
        )


CHART_SETS = frozenset({"default", "production", "openshift", "cloudnativepg"})
# Value sets that leave the image to the chart's defaults (appVersion tag, no digest).
UNPINNED_SETS = frozenset({"default", "openshift", "cloudnativepg"})

SKIPS: tuple[Skip, ...] = (
    Skip(
        "CKV_K8S_35",
        CHART_SETS,
        r"^(Deployment|Job|CronJob)\.",
        "Secrets as environment variables: the service reads its settings, DATABASE_URL and "
        "JWT_SECRET included, from the environment only (12-factor, pydantic-settings). The "
        "values come from secretKeyRef, never from the pod spec, and are never logged.",
    ),
    Skip(
        "CKV_K8S_8",
        CHART_SETS,
        r"^Pod\..*-test-(api|metrics)$",
        "Liveness probe on the helm test pods: they run one probe command and exit; there is "
        "no server in them to probe. The API's probes are asserted by tests/chart/test_pods.py.",
    ),
    Skip(
        "CKV_K8S_9",
        CHART_SETS,
        r"^Pod\..*-test-(api|metrics)$",
        "Readiness probe on the helm test pods: same reason as CKV_K8S_8; nothing routes to them.",
    ),
    Skip(
        "CKV_K8S_43",
        UNPINNED_SETS,
        r"^(Deployment|Job|CronJob|Pod)\.",
        "Image by digest: the chart in git cannot know the digest of an image built later. The "
        "release workflow writes image.digest into the published chart's values, and the "
        "production value set (which sets a digest) passes this check.",
    ),
    Skip(
        "CKV_K8S_15",
        UNPINNED_SETS,
        r"^(Deployment|Job|CronJob|Pod)\.",
        "imagePullPolicy Always: release images are immutable (version tag, and a digest in the "
        "published chart, where this check passes), so IfNotPresent pulls the same bytes "
        "without making every pod start depend on the registry.",
    ),
    Skip(
        "CKV_K8S_40",
        frozenset({"openshift"}),
        r"^(Deployment|Job|CronJob|Pod)\.",
        "High UID: with openshift.enabled the chart sets no runAsUser, because the restricted-v2 "
        "SCC assigns one from the namespace's range (1000000000 and up), which is a high UID; "
        "every other set runs as 65532 and passes this check.",
    ),
    Skip(
        "CKV_DOCKER_7",
        frozenset({"dockerfile"}),
        r"(^|/)Dockerfile\.FROM$",
        "Base image without a version tag: the runtime base comes from the RUNTIME_IMAGE build "
        "argument, which checkov cannot expand. Its default is pinned by tag and sha256 digest, "
        "as tests/image/test_dockerfile.py asserts for every FROM.",
    ),
)


def unexplained(findings: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(check, target, resource) findings that no skip covers."""
    return [f for f in findings if not any(skip.covers(*f) for skip in SKIPS)]


def unused(findings: list[tuple[str, str, str]], targets: set[str]) -> list[Skip]:
    """Skips for these targets that cover none of the findings."""
    return [
        skip
        for skip in SKIPS
        if skip.targets & targets
        and not any(skip.covers(check, target, resource) for check, target, resource in findings)
    ]
