"""Per-worker runtime metrics: garbage collections and event-loop lag.

Each worker measures itself and writes to the multiprocess files; the master's
/metrics merges them. The GC counters keep prometheus_client's standard names
(`python_gc_*{generation}`), summed over the pod's workers including exited ones,
so they never drop on a recycle. The lag gauge is the worst live worker's:
one blocked event loop is an outage of that worker, whatever the others do.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections import deque
from typing import Any

from prometheus_client import Counter

from service.telemetry import metrics

GENERATIONS = ("0", "1", "2")
# Defined outside the default registry: in a single process (no multiprocess
# directory) prometheus_client's own GC collector already has these names there.
GC_COLLECTIONS = Counter(
    "python_gc_collections",
    "Garbage collections, by generation, summed over the pod's workers.",
    ("generation",),
    registry=None,
)
GC_COLLECTED = Counter(
    "python_gc_objects_collected",
    "Objects collected during garbage collection, by generation.",
    ("generation",),
    registry=None,
)
GC_UNCOLLECTABLE = Counter(
    "python_gc_objects_uncollectable",
    "Uncollectable objects found during garbage collection, by generation.",
    ("generation",),
    registry=None,
)
# How often the loop is sampled, and over how long the gauge keeps the worst lag:
# longer than the usual scrape intervals (15 s, 30 s), so no stall between two
# scrapes goes unseen.
LAG_INTERVAL_SECONDS = 0.25
LAG_WINDOW_SECONDS = 30.0

_gc_pid: int | None = None


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase != "stop":
        return
    generation = str(info.get("generation", ""))
    if generation not in GENERATIONS:
        return
    GC_COLLECTIONS.labels(generation=generation).inc()
    if collected := info.get("collected", 0):
        GC_COLLECTED.labels(generation=generation).inc(collected)
    if uncollectable := info.get("uncollectable", 0):
        GC_UNCOLLECTABLE.labels(generation=generation).inc(uncollectable)


def count_garbage_collections() -> None:
    """Count this process's garbage collections from now on (once per process)."""
    global _gc_pid  # noqa: PLW0603 - one callback per process
    if _gc_pid == os.getpid():
        return
    for generation in GENERATIONS:
        for counter in (GC_COLLECTIONS, GC_COLLECTED, GC_UNCOLLECTABLE):
            counter.labels(generation=generation)
    gc.callbacks.append(_on_gc)
    _gc_pid = os.getpid()


class LagWindow:
    """The largest lag of the last samples (a sliding window)."""

    def __init__(self, size: int) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, lag: float) -> float:
        """Record one sample; the window's maximum."""
        self._samples.append(max(lag, 0.0))
        return max(self._samples)


async def watch_event_loop(
    interval: float = LAG_INTERVAL_SECONDS, window: float = LAG_WINDOW_SECONDS
) -> None:
    """Measure how late the loop wakes a sleeping task, forever; set the lag gauge."""
    loop = asyncio.get_running_loop()
    lags = LagWindow(max(1, round(window / interval)))
    metrics.EVENT_LOOP_LAG.set(0)
    while True:
        expected = loop.time() + interval
        await asyncio.sleep(interval)
        metrics.EVENT_LOOP_LAG.set(lags.add(loop.time() - expected))


_watcher: asyncio.Task[None] | None = None


def start_event_loop_watch() -> None:
    """Start the lag measurement on the running loop (the app's lifespan)."""
    global _watcher  # noqa: PLW0603 - one watcher per serving loop
    if _watcher is not None and not _watcher.done():
        return
    _watcher = asyncio.get_running_loop().create_task(
        watch_event_loop(), name="tasks-api-event-loop-lag"
    )


def stop_event_loop_watch() -> None:
    """Stop the lag measurement (the app is shutting down)."""
    global _watcher  # noqa: PLW0603
    if _watcher is not None:
        _watcher.cancel()
        _watcher = None
