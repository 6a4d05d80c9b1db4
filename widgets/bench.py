"""``python -m widgets bench``: every panel's render latency (p50/p95 against its budget), the
share of it that PNG encoding takes (beside JPEG on the same frame), and the quick notebooks'
wall time. Prints tables; exits 1 when a panel is over its budget."""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from causalkit.cli import format_table, write_json
from causalkit.core import describe_device
from causalkit.notebooks import NOTEBOOKS
from causalkit.runner import run_notebook
from widgets import render
from widgets.panel import load_all_panels

BENCH_WARMUP = 5
BENCH_RENDERS = 60


def time_panel(
    setup: Callable[[], Callable[[int], object]],
    renders: int = BENCH_RENDERS,
    warmup: int = BENCH_WARMUP,
    around: Callable[[], AbstractContextManager] = nullcontext,
) -> np.ndarray:
    """Render latencies in milliseconds, after ``warmup`` untimed renders; ``around()`` is
    entered for the timed renders only."""
    step = setup()
    for i in range(warmup):
        step(i)
    latencies = []
    with around():
        for i in range(renders):
            start = time.perf_counter()
            step(warmup + i)
            latencies.append((time.perf_counter() - start) * 1000)
    return np.asarray(latencies)


@contextmanager
def png_encodes(calls: list[tuple[float, np.ndarray]]) -> Iterator[None]:
    """Append every PNG encoding inside the block to ``calls`` (all panels encode through
    ``render.rgba_png``): its milliseconds and the pixels it encoded."""
    encode = render.rgba_png

    def timed(pixels: np.ndarray, compress_level: int = 1) -> bytes:
        start = time.perf_counter()
        out = encode(pixels, compress_level)
        calls.append(((time.perf_counter() - start) * 1000, pixels))
        return out

    render.rgba_png = timed
    try:
        yield
    finally:
        render.rgba_png = encode


def encode_ms(pixels: np.ndarray, fmt: str, repeats: int = 15) -> float:
    """Median milliseconds to encode ``pixels`` as the panels do (PNG) or as JPEG (quality 90)."""
    image = Image.fromarray(np.ascontiguousarray(pixels[..., :3]))
    options = {"compress_level": 1} if fmt == "png" else {"quality": 90}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        image.save(io.BytesIO(), format=fmt, **options)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def bench(renders: int, panels_only: bool, json_path: str | None) -> int:
    report: dict[str, dict] = {"panels": {}, "notebooks": {}}
    rows = []
    all_hold = True
    encoding = []
    for name, panel in sorted(load_all_panels().items()):
        calls: list[tuple[float, np.ndarray]] = []
        latencies = time_panel(panel.setup, renders, around=partial(png_encodes, calls))
        p50, p95 = np.percentile(latencies, [50, 95])
        holds = bool(p95 <= panel.budget_ms)
        all_hold &= holds
        png = sum(ms for ms, _ in calls) / renders
        largest = max((pixels for _, pixels in calls), key=lambda p: p.shape[0] * p.shape[1])
        jpeg = encode_ms(largest, "jpeg")
        report["panels"][name] = {
            "p50_ms": round(float(p50), 2),
            "p95_ms": round(float(p95), 2),
            "budget_ms": panel.budget_ms,
            "png_ms": round(png, 2),
            "jpeg_ms_largest_frame": round(jpeg, 2),
            "largest_frame": [int(largest.shape[1]), int(largest.shape[0])],
        }
        verdict = "yes" if holds else "NO"
        rows.append([name, f"{p50:.1f}", f"{p95:.1f}", f"{panel.budget_ms:.0f}", verdict])
        size = f"{largest.shape[1]} × {largest.shape[0]}"
        png_largest = encode_ms(largest, "png")
        encoding.append(
            [name, size, f"{png:.1f}", f"{png / p50:.0%}", f"{png_largest:.1f}", f"{jpeg:.1f}"]
        )
    print(f"panel render latency on {describe_device()}, {renders} renders after a warm-up")
    print(format_table(["panel", "p50 ms", "p95 ms", "budget ms", "holds"], rows))
    print("\nPNG encoding inside those renders, and JPEG (quality 90) on the largest frame")
    header = ["panel", "largest frame", "PNG ms", "of p50", "PNG ms, largest", "JPEG ms, largest"]
    print(format_table(header, encoding))
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
