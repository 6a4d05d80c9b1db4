"""``python -m widgets bench``: every panel's render latency (p50/p95 against its budget), and
the quick notebooks' wall time. Prints a table; exits 1 when a panel is over its budget."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from causalkit.cli import format_table, write_json
from causalkit.core import describe_device
from causalkit.notebooks import NOTEBOOKS
from causalkit.runner import run_notebook
from widgets.panel import load_all_panels

BENCH_WARMUP = 5
BENCH_RENDERS = 60


def time_panel(
    setup: Callable[[], Callable[[int], object]],
    renders: int = BENCH_RENDERS,
    warmup: int = BENCH_WARMUP,
) -> np.ndarray:
    """Render latencies in milliseconds, after ``warmup`` untimed renders."""
    step = setup()
    for i in range(warmup):
        step(i)
    latencies = []
    for i in range(renders):
        start = time.perf_counter()
        step(warmup + i)
        latencies.append((time.perf_counter() - start) * 1000)
    return np.asarray(latencies)


def bench(renders: int, panels_only: bool, json_path: str | None) -> int:
    report: dict[str, dict] = {"panels": {}, "notebooks": {}}
    rows = []
    all_hold = True
    for name, panel in sorted(load_all_panels().items()):
        latencies = time_panel(panel.setup, renders=renders)
        p50, p95 = np.percentile(latencies, [50, 95])
        holds = bool(p95 <= panel.budget_ms)
        all_hold &= holds
        report["panels"][name] = {
            "p50_ms": round(float(p50), 2),
            "p95_ms": round(float(p95), 2),
            "budget_ms": panel.budget_ms,
        }
        verdict = "yes" if holds else "NO"
        rows.append([name, f"{p50:.1f}", f"{p95:.1f}", f"{panel.budget_ms:.0f}", verdict])
    print(f"panel render latency on {describe_device()}, {renders} renders after a warm-up")
    print(format_table(["panel", "p50 ms", "p95 ms", "budget ms", "holds"], rows))
    if not panels_only:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for name in NOTEBOOKS:
                result = run_notebook(name, "quick", output=Path(tmp) / f"{name}.ipynb")
                report["notebooks"][name] = {"quick_seconds": round(result.seconds, 2)}
                rows.append([name, f"{result.seconds:.1f}"])
        print("\nnotebook wall time, quick preset (a warm cache skips training)")
        print(format_table(["notebook", "seconds"], rows))
    if json_path:
        write_json(json_path, report)
        print(f"\nwritten to {json_path}")
    return 0 if all_hold else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m widgets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("bench", help="panel latency and notebook wall time, as a table")
    cmd.add_argument("--json", help="write the table to this JSON file")
    cmd.add_argument("--panels-only", action="store_true", help="skip the notebooks")
    cmd.add_argument(
        "--renders",
        type=int,
        default=BENCH_RENDERS,
        help=f"timed renders per panel (default {BENCH_RENDERS}; at least 50)",
    )
    args = parser.parse_args(argv)
    if args.renders < 50:
        parser.error("--renders must be at least 50 for a meaningful p95")
    return bench(args.renders, args.panels_only, args.json)


if __name__ == "__main__":
    sys.exit(main())
