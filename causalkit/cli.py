"""``python -m causalkit``: list the notebooks, run one headless, strip them, sweep and report,
write the course editions and grade them, score NCC pairs.

The panels' benchmark is ``python -m widgets bench``: causalkit never imports the panels.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from causalkit.core.files import check_output, write_atomically
from causalkit.core.validate import check_int
from causalkit.notebooks import NOTEBOOKS, notebook_dir
from causalkit.runner import (
    DEFAULT_CELL_TIMEOUT,
    NotebookFailed,
    default_output,
    execute,
    output_path,
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


def write_json(path: str | Path, payload: dict) -> None:
    write_atomically(Path(path), json.dumps(payload, indent=2, sort_keys=True) + "\n")


def positive_seconds(text: str) -> int:
    """argparse type for --cell-timeout: a whole number of seconds, at least 1."""
    try:
        return check_int("--cell-timeout", int(text), 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of seconds >= 1, got {text!r}"
        ) from None


def _add_cell_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cell-timeout",
        type=positive_seconds,
        default=DEFAULT_CELL_TIMEOUT,
        help=f"whole seconds one cell may run (default {DEFAULT_CELL_TIMEOUT})",
    )


def comma_list(text: str) -> list[str]:
    """``"a, b,,c"`` as ``["a", "b", "c"]``: the notebook names of --names and sweep."""
    return [n.strip() for n in text.split(",") if n.strip()]


def printable(text: str) -> str:
    """``text`` with control characters escaped, so a file cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
    # Every check before the banner: a typo costs milliseconds, not a run.
    plan = plan_run(args.name, args.preset, parse_assignments(args.param))
    target = None  # runs/, under a name made of every parameter
    if args.out:
        out_dir = Path(args.out)
        if out_dir.exists() and not out_dir.is_dir():
            raise ValueError(f"--out {args.out!r} is a file; give a directory")
        target = out_dir / default_output(plan.spec, plan.parameters).name
    output = output_path(plan, target, force=args.force)
    if args.json:
        check_output(args.json, force=args.force, inputs=(plan.source, output), what="--json")
    print(f"running {args.name} (preset {args.preset}) ...", file=sys.stderr, flush=True)
    result = execute(
        plan,
        output=output,
        cell_timeout=args.cell_timeout,
        progress_bar=sys.stderr.isatty(),
        force=args.force,
    )
    print(format_table(["metric", "value"], [[k, f"{v:.6g}"] for k, v in result.metrics.items()]))
    print(f"\n{len(result.metrics)} metrics in {result.seconds:.1f} s; notebook: {result.output}")
    if args.json:
        write_json(args.json, result.as_json())
        print(f"metrics written to {args.json}")
    return 0


def cmd_strip(args: argparse.Namespace) -> int:
    from causalkit.notebooks import (
        read_notebook,
        refresh_checked_outputs,
        strip_outputs,
        write_notebook,
    )

    paths = [Path(p) for p in args.notebooks] or sorted(notebook_dir().glob("*.ipynb"))
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no notebook at {path}")
        if args.execute:
            refresh_checked_outputs(path)
        else:
            write_notebook(strip_outputs(read_notebook(path)), path)
        print(f"stripped {path}" + (" (checked cells re-executed)" if args.execute else ""))
    return 0


def cmd_ncc_score(args: argparse.Namespace) -> int:
    from causalkit.ncc.score import score_csv

    # The output is checked before scoring: on a cold cache scoring starts with training.
    out = check_output(args.out, force=args.force, inputs=(Path(args.pairs),)) if args.out else None
    table, rejected = score_csv(args.pairs, args.preset, args.seed)
    for sample_id, reason in rejected:
        print(f"skipped {printable(sample_id)}: {reason}", file=sys.stderr)
    if table.empty:
        print(f"error: no row of {args.pairs} could be scored", file=sys.stderr)
        return 1
    if out is not None:
        write_atomically(out, table.to_csv(index=False, float_format="%.6f"))
        print(f"{len(table)} pairs scored, {len(rejected)} skipped; written to {out}")
    else:
        rows = [
            [printable(sid), f"{p:.4f}"]
            for sid, p in zip(table.SampleID, table.p_a_causes_b, strict=True)
        ]
        print(format_table(["SampleID", "p_a_causes_b"], rows))
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from causalkit.core.cache import cache_dir, clear, entries

    if args.cache_command == "clear":
        freed = clear(args.name)
        megabytes = sum(e.size for e in freed) / 2**20
        what = f"entries called {args.name!r}" if args.name else "entries"
        print(f"removed {len(freed)} {what} ({megabytes:.1f} MB) from {cache_dir()}")
        return 0
    found = [e for e in entries() if args.name is None or e.name == args.name]
    sizes: dict[str, list[int]] = {}
    for entry in found:
        sizes.setdefault(entry.name, []).append(entry.size)
    rows = [[name, len(s), f"{sum(s) / 2**20:.1f}"] for name, s in sizes.items()]
    print(format_table(["entry", "files", "MB"], rows))
    total = sum(e.size for e in found) / 2**20
    print(f"\n{len(found)} files, {total:.1f} MB in {cache_dir()}")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from causalkit.lab import serve

    serve(args.host, args.port)  # replaces this process; returns only on error
    return 1


def cmd_app(args: argparse.Namespace) -> int:
    from causalkit.app import serve_app

    serve_app(args.name, args.host, args.port)  # replaces this process; returns only on error
    return 1


def cmd_sweep(args: argparse.Namespace) -> int:
    from causalkit.sweep import parse_seeds, plan_sweep, sweep

    names = comma_list(args.names)
    if args.workers is not None:
        check_int("--workers", args.workers, 1)
    if args.scheduler and args.workers:
        raise ValueError("--workers sizes the embedded cluster; a --scheduler has its own")
    workers = args.workers or (1 if args.scheduler else max(1, min(4, os.cpu_count() or 1)))
    if args.threads is not None:
        threads = check_int("--threads", args.threads, 1)
    else:  # a cluster's workers take their host's cores over the workers on that host
        threads = None if args.scheduler else max(1, (os.cpu_count() or 1) // workers)
    runs = plan_sweep(
        names,
        args.preset,
        parse_seeds(args.seeds),
        parse_assignments(args.param),
        Path(args.out),
        threads=threads,
        cell_timeout=args.cell_timeout,
    )
    where = args.scheduler or f"a local cluster of {workers} worker process(es)"
    each = f"{threads} torch thread(s)" if threads else "its host's cores over its workers"
    print(
        f"sweeping {len(runs)} runs on {where}, {each} each, into {args.out}",
        file=sys.stderr,
        flush=True,
    )
    summary = sweep(runs, None if args.scheduler else workers, args.scheduler)
    print(
        f"\n{len(summary.done)} done, {len(summary.skipped)} skipped (finished before), "
        f"{len(summary.failed)} failed"
    )
    for label, why in summary.failed.items():
        print(f"failed: {label}: {printable(why)}", file=sys.stderr)
    return 1 if summary.failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    from causalkit.report import (
        group_results,
        html_report,
        markdown,
        merged,
        write_reproduction,
    )
    from causalkit.sweep import read_results

    groups = group_results(read_results(Path(args.directory)))
    if not groups:
        raise ValueError(f"no finished runs under {args.directory!r} (run a sweep first)")
    if args.keep_others:
        if not args.reproduction:
            raise ValueError("--keep-others reads the committed tables: give --reproduction DIR")
        groups = merged(groups, Path(args.reproduction))
    for target in (args.out, args.html):
        if target:
            check_output(target, force=True, what="report")
    text = markdown(groups)
    if args.out:
        write_atomically(Path(args.out), text)
        print(f"report written to {args.out}")
    else:
        print(text)
    if args.html:
        write_atomically(Path(args.html), html_report(groups))
        print(f"HTML report written to {args.html}")
    if args.reproduction:
        for path in write_reproduction(groups, Path(args.reproduction)):
            print(f"notebook table written to {path}")
    return 0


def cmd_edition(args: argparse.Namespace) -> int:
    from causalkit.course import make_edition

    names = comma_list(args.names) if args.names else None
    written = make_edition(args.kind, args.out, names, force=args.force)
    for path in written:
        print(f"wrote {path}")
    what = "answers replaced by stubs" if args.kind == "student" else "solutions inline"
    print(f"\n{args.kind} edition ({what}): {len(written)} files in {args.out}")
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    import subprocess

    from causalkit.book import build

    names = comma_list(args.names) if args.names else None
    try:
        index = build(names=names, execute=not args.no_execute)
    except subprocess.CalledProcessError as err:
        why = f"Jupyter Book failed (exit {err.returncode}); its log is above"
        print(f"error: {why}", file=sys.stderr)
        return 1
    print(f"\nthe site: {index}")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from causalkit.course import grade

    reports = grade(args.target, args.out, args.preset, args.cell_timeout, force=args.force)
    rows = [
        [r.path.name, f"{s.number}. {s.title}", f"{s.earned}/{s.points}", printable(s.message)]
        for r in reports
        for s in r.scores
    ]
    print(format_table(["notebook", "exercise", "score", "why"], rows))
    earned, points = sum(r.earned for r in reports), sum(r.points for r in reports)
    for report in reports:
        print(f"{report.path.name}: {report.earned}/{report.points}; run: {report.executed}")
    print(f"\ntotal {earned}/{points}")
    return 0 if earned == points else 1


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
    _add_cell_timeout(run)
    run.add_argument(
        "--force", action="store_true", help="replace an existing executed notebook or JSON file"
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

    cache = sub.add_parser("cache", help="show or free the cache of trained models and data")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True)
    for verb, text in (("list", "entries by name, with their size"), ("clear", "delete entries")):
        cmd = cache_sub.add_parser(verb, help=text)
        cmd.add_argument("name", nargs="?", help="only the entries called NAME (e.g. ncc-model)")
        cmd.set_defaults(func=cmd_cache)

    lab = sub.add_parser("lab", help="serve JupyterLab on the notebooks (make lab)")
    lab.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    lab.add_argument("--port", type=int, default=8888, help="port (default 8888; never moved)")
    lab.set_defaults(func=cmd_lab)

    app = sub.add_parser(
        "app", help="serve one notebook's panels through Voilà, without code (make app NB=cgn)"
    )
    app.add_argument("name", help=f"one of: {', '.join(NOTEBOOKS)} (notebooks/apps/)")
    app.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    app.add_argument("--port", type=int, default=8866, help="port (default 8866; never moved)")
    app.set_defaults(func=cmd_app)

    swp = sub.add_parser(
        "sweep", help="run notebooks over many seeds on Dask (a local cluster or --scheduler)"
    )
    swp.add_argument("names", help=f"comma-separated, from: {', '.join(NOTEBOOKS)}")
    swp.add_argument("--preset", default="quick", help="quick (CPU minutes) or paper")
    swp.add_argument("--seeds", default="0", help="e.g. 0-4 or 0,2,5 (default 0)")
    swp.add_argument(
        "-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="as for run"
    )
    swp.add_argument("--workers", type=int, help="worker processes of the embedded cluster")
    swp.add_argument(
        "--threads",
        type=int,
        help="torch threads per run (default: cores over workers on each host)",
    )
    swp.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://host:8786)")
    swp.add_argument("--out", default="sweeps", help="directory for the runs (default sweeps/)")
    _add_cell_timeout(swp)
    swp.set_defaults(func=cmd_sweep)

    rep = sub.add_parser("report", help="the reproduction table of a sweep's runs")
    rep.add_argument("directory", help="the sweep's --out directory")
    rep.add_argument("--out", help="write the markdown here (default: print it)")
    rep.add_argument("--html", help="also write an HTML report with one figure per notebook")
    rep.add_argument(
        "--reproduction", help="also write <dir>/<name>.json, the tables the notebooks read"
    )
    rep.add_argument(
        "--keep-others",
        action="store_true",
        help="keep the --reproduction tables of notebooks and presets this sweep did not run "
        "(rerun one paper, refresh only its section)",
    )
    rep.set_defaults(func=cmd_report)

    edition = sub.add_parser(
        "edition", help="write the student (answers stubbed) or instructor edition of the notebooks"
    )
    edition.add_argument("kind", choices=["student", "instructor"])
    edition.add_argument("--out", required=True, help="directory for the notebooks")
    edition.add_argument(
        "--names", help=f"comma-separated, from: {', '.join(NOTEBOOKS)} (default all)"
    )
    edition.add_argument("--force", action="store_true", help="replace existing notebooks in --out")
    edition.set_defaults(func=cmd_edition)

    grd = sub.add_parser(
        "grade", help="run a student's notebook (or a folder of them) and check each exercise"
    )
    grd.add_argument("target", help="a notebook, or a directory of notebooks")
    grd.add_argument("--preset", default="quick", help="the preset the notebook runs with")
    grd.add_argument(
        "--out",
        default="runs/graded",
        help="directory for the executed copies (default runs/graded)",
    )
    grd.add_argument("--force", action="store_true", help="replace executed copies in --out")
    grd.add_argument(
        "--cell-timeout",
        type=positive_seconds,
        default=3600,
        help="whole seconds one cell may run (default 3600: a check may train on a cold cache)",
    )
    grd.set_defaults(func=cmd_grade)

    book = sub.add_parser(
        "book", help="build the course site (Jupyter Book) from executed notebooks (make book)"
    )
    book.add_argument(
        "--names", help=f"comma-separated, from: {', '.join(NOTEBOOKS)} (default all)"
    )
    book.add_argument(
        "--no-execute",
        action="store_true",
        help="fail instead of running a notebook that has no current executed copy in runs/",
    )
    book.set_defaults(func=cmd_book)

    ncc = sub.add_parser("ncc", help="the Neural Causation Coefficient (Lopez-Paz et al. 2017)")
    ncc_sub = ncc.add_subparsers(dest="ncc_command", required=True)
    score = ncc_sub.add_parser(
        "score", help="P(A causes B) for each row of a SampleID,A,B pairs CSV (Tübingen layout)"
    )
    score.add_argument("pairs", help="CSV with header SampleID,A,B; bad rows are reported, skipped")
    score.add_argument("--preset", default="quick", help="quick (CPU minutes) or paper")
    score.add_argument("--seed", type=int, default=0, help="seed of the trained model (default 0)")
    score.add_argument("--out", help="write SampleID,p_a_causes_b here instead of a table")
    score.add_argument("--force", action="store_true", help="replace an existing --out file")
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
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Finished sweep runs are on disk; the same command resumes after them.
        print("interrupted", file=sys.stderr)
        return 130
