"""``python -m causalkit``: list the notebooks, run one headless, benchmark the suite."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from causalkit.notebooks import NOTEBOOKS, get_spec, notebook_dir
from causalkit.runner import (
    DEFAULT_CELL_TIMEOUT,
    NotebookFailed,
    check_parameters,
    parse_assignments,
    run_notebook,
)

BENCH_WARMUP = 5
BENCH_RENDERS = 60


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _write_json(path: str, payload: dict) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, target)


def cmd_list(_args: argparse.Namespace) -> int:
    from causalkit.runner import notebook_parameters

    rows = []
    for spec in NOTEBOOKS.values():
        path = notebook_dir() / spec.filename
        params = ", ".join(notebook_parameters(spec)) if path.is_file() else "(missing)"
        rows.append([spec.name, spec.filename, "/".join(spec.presets), params, spec.title])
    print(format_table(["name", "notebook", "presets", "parameters", "what it teaches"], rows))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    parameters = parse_assignments(args.param)
    spec = get_spec(args.name)
    check_parameters(spec, args.preset, dict(parameters))  # refuse typos before the banner
    output = Path(args.out) / spec.filename if args.out else None
    print(f"running {args.name} (preset {args.preset}) ...", file=sys.stderr, flush=True)
    result = run_notebook(
        args.name,
        args.preset,
        parameters,
        output=output,
        cell_timeout=args.cell_timeout,
        progress_bar=sys.stderr.isatty(),
    )
    print(format_table(["metric", "value"], [[k, f"{v:.6g}"] for k, v in result.metrics.items()]))
    print(f"\n{len(result.metrics)} metrics in {result.seconds:.1f} s; notebook: {result.output}")
    if args.json:
        _write_json(args.json, result.as_json())
        print(f"metrics written to {args.json}")
    return 0


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


def cmd_bench(args: argparse.Namespace) -> int:
    from widgets.panel import load_all_panels

    report: dict[str, dict] = {"panels": {}, "notebooks": {}}
    rows = []
    all_hold = True
    for name, panel in sorted(load_all_panels().items()):
        latencies = time_panel(panel.setup, renders=args.renders)
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
    print(f"panel render latency on {_device_name()}, {args.renders} renders after a warm-up")
    print(format_table(["panel", "p50 ms", "p95 ms", "budget ms", "holds"], rows))
    if not args.panels_only:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for name in NOTEBOOKS:
                result = run_notebook(name, "quick", output=Path(tmp) / f"{name}.ipynb")
                report["notebooks"][name] = {"quick_seconds": round(result.seconds, 2)}
                rows.append([name, f"{result.seconds:.1f}"])
        print("\nnotebook wall time, quick preset (a warm cache skips training)")
        print(format_table(["notebook", "seconds"], rows))
    if args.json:
        _write_json(args.json, report)
        print(f"\nwritten to {args.json}")
    return 0 if all_hold else 1


def cmd_strip(args: argparse.Namespace) -> int:
    import nbformat

    from causalkit.notebooks import refresh_checked_outputs, strip_outputs

    paths = [Path(p) for p in args.notebooks] or sorted(notebook_dir().glob("*.ipynb"))
    for path in paths:
        if args.execute:
            refresh_checked_outputs(path)
        else:
            nbformat.write(strip_outputs(nbformat.read(path, as_version=4)), path)
        print(f"stripped {path}" + (" (checked cells re-executed)" if args.execute else ""))
    return 0


def cmd_ncc_score(args: argparse.Namespace) -> int:
    from causalkit.ncc.score import score_csv

    table, rejected = score_csv(args.pairs, args.preset, args.seed)
    for sample_id, reason in rejected:
        print(f"skipped {sample_id}: {reason}", file=sys.stderr)
    if args.out:
        table.to_csv(args.out, index=False, float_format="%.6f")
        print(f"{len(table)} pairs scored, {len(rejected)} skipped; written to {args.out}")
    else:
        rows = [
            [sid, f"{p:.4f}"] for sid, p in zip(table.SampleID, table.p_a_causes_b, strict=True)
        ]
        print(format_table(["SampleID", "p_a_causes_b"], rows))
    return 0


def _device_name() -> str:
    from causalkit.core import describe_device

    return describe_device()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m causalkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="the notebooks, their presets and parameters").set_defaults(
        func=cmd_list
    )

    run = sub.add_parser("run", help="execute a notebook headless and print its metrics")
    run.add_argument("name", help=f"one of: {', '.join(NOTEBOOKS)}")
    run.add_argument("--preset", default="quick", help="quick (CPU minutes) or paper")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter of the notebook's parameters cell (repeatable)",
    )
    run.add_argument("--out", help="directory for the executed notebook (default: runs/)")
    run.add_argument("--json", help="write the recorded metrics to this JSON file")
    run.add_argument(
        "--cell-timeout",
        type=float,
        default=DEFAULT_CELL_TIMEOUT,
        help=f"seconds one cell may run (default {DEFAULT_CELL_TIMEOUT})",
    )
    run.set_defaults(func=cmd_run)

    bench = sub.add_parser("bench", help="panel latency and notebook wall time, as a table")
    bench.add_argument("--json", help="write the table to this JSON file")
    bench.add_argument("--panels-only", action="store_true", help="skip the notebooks")
    bench.add_argument(
        "--renders",
        type=int,
        default=BENCH_RENDERS,
        help=f"timed renders per panel (default {BENCH_RENDERS}; at least 50)",
    )
    bench.set_defaults(func=cmd_bench)

    strip = sub.add_parser(
        "strip", help="strip notebook outputs, keeping the cells nbval checks (for committing)"
    )
    strip.add_argument("notebooks", nargs="*", help="default: every notebook in notebooks/")
    strip.add_argument(
        "--execute", action="store_true", help="re-run first, to refresh the checked outputs"
    )
    strip.set_defaults(func=cmd_strip)

    ncc = sub.add_parser("ncc", help="the Neural Causation Coefficient (Lopez-Paz et al. 2017)")
    ncc_sub = ncc.add_subparsers(dest="ncc_command", required=True)
    score = ncc_sub.add_parser(
        "score", help="P(A causes B) for each row of a SampleID,A,B pairs CSV (Tübingen layout)"
    )
    score.add_argument("pairs", help="CSV with header SampleID,A,B; bad rows are reported, skipped")
    score.add_argument("--preset", default="quick", help="quick (CPU minutes) or paper")
    score.add_argument("--seed", type=int, default=0, help="seed of the trained model (default 0)")
    score.add_argument("--out", help="write SampleID,p_a_causes_b here instead of a table")
    score.set_defaults(func=cmd_ncc_score)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "renders", 50) < 50:
        parser.error("--renders must be at least 50 for a meaningful p95")
    try:
        return args.func(args)
    except NotebookFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
