"""``python -m causalkit``: list the notebooks, run one headless, strip them, score NCC pairs.

The panels' benchmark is ``python -m widgets bench``: causalkit never imports the panels.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from causalkit.notebooks import NOTEBOOKS, notebook_dir
from causalkit.runner import (
    DEFAULT_CELL_TIMEOUT,
    NotebookFailed,
    execute,
    parse_assignments,
    plan_run,
)


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def write_json(path: str, payload: dict) -> None:
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
    plan = plan_run(args.name, args.preset, parse_assignments(args.param))  # before the banner
    output = Path(args.out) / plan.spec.filename if args.out else None
    print(f"running {args.name} (preset {args.preset}) ...", file=sys.stderr, flush=True)
    result = execute(
        plan,
        output=output,
        cell_timeout=args.cell_timeout,
        progress_bar=sys.stderr.isatty(),
    )
    print(format_table(["metric", "value"], [[k, f"{v:.6g}"] for k, v in result.metrics.items()]))
    print(f"\n{len(result.metrics)} metrics in {result.seconds:.1f} s; notebook: {result.output}")
    if args.json:
        write_json(args.json, result.as_json())
        print(f"metrics written to {args.json}")
    return 0


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
    try:
        return args.func(args)
    except NotebookFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
