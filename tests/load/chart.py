"""The benchmark's PNG: requests/s and p50/p99 latency per scenario, every target side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.load.report import TARGETS

COLORS = {
    "service": "#3b6ea5",
    "service_sampled": "#7fa7d4",
    "instrumented": "#d08c3c",
    "bare": "#b0b0b0",
}
PANELS = (("rps", "requests/s (higher is better)"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"))


def write_chart(report: dict[str, Any], path: Path) -> None:
    """Write the PNG of a report to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["scenarios"]
    names = [row["scenario"] for row in rows]
    present = [t for t in TARGETS if any(t in row["targets"] for row in rows)]
    width = 0.8 / max(len(present), 1)
    figure, axes = plt.subplots(1, len(PANELS), figsize=(16, 5))
    for axis, (key, title) in zip(axes, PANELS, strict=True):
        for index, target in enumerate(present):
            offset = (index - (len(present) - 1) / 2) * width
            positions = [p + offset for p, row in enumerate(rows) if target in row["targets"]]
            values = [row["targets"][target][key] for row in rows if target in row["targets"]]
            bars = axis.bar(positions, values, width, label=target, color=COLORS[target])
            axis.bar_label(bars, fmt="%.0f" if key == "rps" else "%.1f", fontsize=7)
        axis.set_xticks(list(range(len(names))), names)
        axis.set_title(title)
        axis.grid(axis="y", alpha=0.3)
    axes[0].legend()
    settings = report["settings"]
    service = report["targets"].get("service", {})
    figure.suptitle(
        f"tasks-api vs instrumented and bare baselines: {settings['workers']} workers, "
        f"{settings['connections']} connections, {settings['duration']} s x "
        f"{settings['rounds']} rounds; service cold start "
        f"{service.get('cold_start_seconds', 0):.2f} s"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
