"""gunicorn processes and their Prometheus multiprocess files, as the tests inspect them."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

_FILE_PID = re.compile(r"_(\d+)\.db$")


def files_of(directory: Path, pid: int) -> list[Path]:
    """The multiprocess files one process wrote."""
    return sorted(path for path in directory.glob(f"*_{pid}.db"))


def file_pids(directory: Path, prefix: str) -> set[int]:
    """Pids that own a file with this prefix (e.g. "counter", "gauge_livemin")."""
    pids = set()
    for path in directory.glob(f"{prefix}_*.db"):
        if match := _FILE_PID.search(path.name):
            pids.add(int(match.group(1)))
    return pids


def counter_by_pid(directory: Path, name: str, labels: dict[str, str]) -> dict[int, float]:
    """One counter sample as each process's own file holds it."""
    values: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        match = _FILE_PID.search(path.name)
        assert match is not None
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False):  # type: ignore[no-untyped-call]
            for sample in metric.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    values[int(match.group(1))] = values.get(int(match.group(1)), 0) + sample.value
    return values


def scrape(metrics_url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples of the metrics endpoint by sample name."""
    response = httpx.get(metrics_url, timeout=5)
    response.raise_for_status()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def sample_sum(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(
        value
        for sample_labels, value in samples.get(name, [])
        if all(sample_labels.get(key) == wanted for key, wanted in labels.items())
    )


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until check() is true; the seconds it took (AssertionError after timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")
