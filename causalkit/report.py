"""``python -m causalkit report``: a sweep's runs as one reproduction table per notebook.

Each row is a headline metric a notebook declares in the registry (``NotebookSpec.paper``):
the paper's value and where it is printed, then ours over the seeds as mean ± sample sd,
min–max and the seeds used. ``reproduction/<name>.json`` keeps the same numbers for the
notebooks, which read their multi-seed tables from it (:func:`reproduction_table`).
"""

from __future__ import annotations

import html
import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from causalkit.core.files import write_atomically
from causalkit.core.settings import get_settings
from causalkit.notebooks import NOTEBOOKS, get_spec


@dataclass(frozen=True)
class Group:
    """The runs of one notebook and preset (with the same other parameters)."""

    name: str
    preset: str
    parameters: dict[str, Any]  # besides preset and seed
    runs: list[dict[str, Any]]  # result.json payloads, by seed

    @property
    def seeds(self) -> list[int]:
        return [run["seed"] for run in self.runs]

    @property
    def versions(self) -> set[str]:
        return {run["version"] for run in self.runs}


def group_results(results: list[dict[str, Any]]) -> list[Group]:
    """Runs grouped by notebook, preset and every parameter but the seed."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for run in results:
        others = {k: v for k, v in run["parameters"].items() if k not in ("preset", "seed")}
        groups[(run["name"], run["preset"], json.dumps(others, sort_keys=True))].append(run)
    return [
        Group(name, preset, json.loads(others), sorted(runs, key=lambda r: r["seed"]))
        for (name, preset, others), runs in sorted(groups.items())
    ]


def metric_rows(group: Group) -> list[dict[str, Any]]:
    """One row per headline metric of the notebook (then any other metric every run recorded)."""
    spec = get_spec(group.name)
    recorded = [set(run["metrics"]) for run in group.runs]
    names = [m for m in spec.paper if any(m in r for r in recorded)]  # n says if a run missed it
    rows = []
    for metric in names:
        values = [run["metrics"][metric] for run in group.runs if metric in run["metrics"]]
        seeds = [run["seed"] for run in group.runs if metric in run["metrics"]]
        claim = spec.paper[metric]
        rows.append(
            {
                "metric": metric,
                "paper": claim.value,
                "where": claim.where,
                "n": len(values),
                "mean": statistics.fmean(values),
                "sd": statistics.stdev(values) if len(values) > 1 else None,
                "min": min(values),
                "max": max(values),
                "values": values,
                "seeds": seeds,
            }
        )
    return rows


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if float(value).is_integer() and abs(value) >= 1 else f"{value:.3g}"


COLUMNS = ("metric", "paper", "where", "ours: mean ± sd", "min – max", "n")


def _cells(row: dict[str, Any]) -> list[str]:
    spread = f" ± {_number(row['sd'])}" if row["sd"] is not None else ""
    return [
        f"`{row['metric']}`",
        _number(row["paper"]),
        row["where"],
        _number(row["mean"]) + spread,
        f"{_number(row['min'])} – {_number(row['max'])}",
        str(row["n"]),
    ]


def _where(run: dict[str, Any]) -> str:
    torch = f", torch {run['torch']}" if "torch" in run else ""  # recorded since 2026-12-04
    return f"{run['machine']}, {run['device']}{torch}"


def _seed_list(seeds: list[int]) -> str:
    return ", ".join(str(s) for s in seeds)


def group_markdown(group: Group) -> str:
    """The reproduction table of one group, as markdown."""
    spec = get_spec(group.name)
    runs = group.runs
    minutes = sum(run["seconds"] for run in runs) / 60
    each = ", ".join(f"seed {run['seed']}: {run['seconds'] / 60:.1f}" for run in runs)
    extra = "".join(f", {k} = {v}" for k, v in group.parameters.items())
    lines = [
        f"## {spec.title} (`{group.name}`, preset `{group.preset}`{extra})",
        "",
        f"Seeds {_seed_list(group.seeds)}; code version {', '.join(sorted(group.versions))}; "
        f"{_where(runs[0])}; {minutes:.1f} min of runs "
        f"({each} min).",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in metric_rows(group)]
    return "\n".join(lines)


def markdown(groups: list[Group]) -> str:
    """REPRODUCTION.md: every group's table, sd being the sample standard deviation."""
    head = [
        "# Reproduction report",
        "",
        "Written by `python -m causalkit report` from the runs of `python -m causalkit sweep`; "
        "do not edit by hand. Each row: the paper's value and where it is printed, then ours "
        "over the seeds listed: mean ± sample standard deviation (n − 1), min – max, n runs.",
        "",
        f"Produced {time.strftime('%Y-%m-%d')}.",
    ]
    missing = [name for name in NOTEBOOKS if name not in {g.name for g in groups}]
    if missing:
        listed = ", ".join(f"`{name}`" for name in missing)
        head += ["", f"Not in this report yet: {listed} (`make reproduce` runs them)."]
    return "\n\n".join(["\n".join(head), *(group_markdown(g) for g in groups)]) + "\n"


def _figure(group: Group):
    """Per-seed points of each headline metric against the paper's value (plotly)."""
    import plotly.graph_objects as go

    rows = metric_rows(group)
    fig = go.Figure()
    for i, row in enumerate(rows):
        fig.add_scatter(
            x=row["values"],
            y=[row["metric"]] * row["n"],
            mode="markers",
            marker={"size": 10, "color": "#1f77b4"},
            name="ours (one point per seed)",
            legendgroup="ours",
            showlegend=i == 0,
            text=[f"seed {s}" for s in row["seeds"]],
            hovertemplate="%{y}: %{x:.4g} (%{text})<extra></extra>",
        )
        if row["paper"] is not None:
            fig.add_scatter(
                x=[row["paper"]],
                y=[row["metric"]],
                mode="markers",
                marker={"symbol": "diamond-open", "size": 14, "color": "#d62728"},
                name="paper",
                legendgroup="paper",
                showlegend=not any(r["paper"] is not None for r in rows[:i]),
                hovertemplate=f"paper: %{{x:.4g}} ({row['where']})<extra></extra>",
            )
    fig.update_layout(
        title=f"{group.name}, preset {group.preset}: seeds {_seed_list(group.seeds)}",
        height=120 + 40 * len(rows),
        margin={"l": 260},
    )
    return fig


def html_report(groups: list[Group]) -> str:
    """The same tables, each with its interactive figure; plotly.js is inlined (works offline)."""
    parts = []
    for i, group in enumerate(groups):
        spec = get_spec(group.name)
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c.strip('`'))}</td>" for c in _cells(row)) + "</tr>"
            for row in metric_rows(group)
        )
        header = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
        figure = _figure(group).to_html(full_html=False, include_plotlyjs=i == 0)
        parts.append(
            f"<h2>{html.escape(spec.title)} ({group.name}, preset {group.preset})</h2>"
            f"<p>Seeds {_seed_list(group.seeds)}; {html.escape(_where(group.runs[0]))}.</p>"
            f"<table><tr>{header}</tr>{cells}</table>{figure}"
        )
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Reproduction report</title>"
        f"<style>{style}</style></head><body><h1>Reproduction report</h1>"
        "<p>sd is the sample standard deviation over the seeds (n − 1).</p>"
        + "".join(parts)
        + "</body></html>\n"
    )


def summary_json(group: Group) -> dict[str, Any]:
    """What a notebook needs to show a group's table."""
    return {
        "name": group.name,
        "preset": group.preset,
        "parameters": group.parameters,
        "seeds": group.seeds,
        "versions": sorted(group.versions),
        "produced": max(run["started"] for run in group.runs),
        **{k: group.runs[0][k] for k in ("machine", "device", "torch") if k in group.runs[0]},
        "seconds": {str(run["seed"]): run["seconds"] for run in group.runs},
        "rows": metric_rows(group),
        "runs": [{k: run[k] for k in ("seed", "metrics", "version")} for run in group.runs],
    }


def group_from_summary(summary: dict[str, Any]) -> Group:
    """A group back from its committed summary, so a report can keep it (:func:`merged`)."""
    versions = summary["versions"]
    runs = []
    for run in summary["runs"]:
        if "version" not in run and len(versions) != 1:  # summaries before 2026-12-07
            raise ValueError(
                f"the committed {summary['name']} table mixes code versions {versions} and does "
                "not say which run had which; sweep it again instead of keeping it"
            )
        runs.append(
            {
                "name": summary["name"],
                "preset": summary["preset"],
                "parameters": {
                    **summary["parameters"],
                    "preset": summary["preset"],
                    "seed": run["seed"],
                },
                "version": versions[0],
                "started": summary["produced"],  # the latest run's start: keeps "produced"
                "seconds": summary["seconds"][str(run["seed"])],
                **{k: summary[k] for k in ("machine", "device", "torch") if k in summary},
                **run,
            }
        )
    return Group(summary["name"], summary["preset"], summary["parameters"], runs)


def merged(groups: list[Group], directory: Path) -> list[Group]:
    """``groups`` and every group of ``directory``'s committed tables that they do not redo:
    a sweep of one paper refreshes that paper's section and keeps the others'."""
    fresh = {_key(g) for g in groups}
    kept = [
        group_from_summary(summary)
        for path in sorted(Path(directory).glob("*.json"))
        for summary in json.loads(path.read_text())["groups"]
    ]
    return sorted(groups + [g for g in kept if _key(g) not in fresh], key=_key)


def _key(group: Group) -> tuple[str, str, str]:
    return group.name, group.preset, json.dumps(group.parameters, sort_keys=True)


def reproduction_dir() -> Path:
    """``reproduction/`` beside the notebooks (the checkout's, or a wheel's share folder)."""
    return get_settings().notebooks.parent / "reproduction"


def write_reproduction(groups: list[Group], directory: Path | None = None) -> list[Path]:
    """``<directory>/<name>.json`` per notebook, holding every preset's group."""
    directory = Path(directory or reproduction_dir())
    directory.mkdir(parents=True, exist_ok=True)
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group in groups:
        by_name[group.name].append(summary_json(group))
    written = []
    for name, summaries in by_name.items():
        path = directory / f"{name}.json"
        write_atomically(path, json.dumps({"groups": summaries}, indent=1, sort_keys=True) + "\n")
        written.append(path)
    return written


def reproduction_table(name: str, preset: str = "paper") -> Any:
    """The committed multi-seed table of notebook ``name``, for the notebook to display.

    Says so, instead of showing numbers, when there is no report yet; flags it as stale
    when the notebook or its package changed since the runs were made.
    """
    from IPython.display import Markdown

    from causalkit.sweep import run_version

    path = reproduction_dir() / f"{name}.json"
    command = f"python -m causalkit sweep {name} --preset {preset} --seeds 0-2"
    groups = json.loads(path.read_text())["groups"] if path.is_file() else []
    group = next((g for g in groups if g["preset"] == preset and not g["parameters"]), None)
    if group is None:
        log = reproduction_dir().parent / "docs" / f"{name}-log.md"  # the lab notes, if any
        return Markdown(
            f"*No reproduction report for `{name}` (preset `{preset}`) yet: `make reproduce` "
            f"makes it (or `{command}`, then `python -m causalkit report sweeps --out "
            "REPRODUCTION.md --reproduction reproduction`)."
            + (
                f" Earlier measurements, made by hand, are in `docs/{log.name}`.*"
                if log.is_file()
                else "*"
            )
        )
    note = (
        f"Seeds {_seed_list(group['seeds'])}, produced {group['produced'][:10]} with code "
        f"version {', '.join(group['versions'])} on {_where(group)} "
        "(`REPRODUCTION.md`; sd is the sample standard deviation)."
    )
    if run_version(name) not in group["versions"]:
        note = f"**Stale:** the code changed since these runs; `{command}` refreshes them. {note}"
    return Markdown(note + "\n\n" + _seed_table(group))


MAX_SEED_COLUMNS = 6  # beyond this a notebook's table shows min – max instead


def _seed_table(group: dict[str, Any]) -> str:
    """A notebook's view of a group: each seed's value beside the paper's, then mean ± sd."""
    seeds = group["seeds"]
    by_seed = {run["seed"]: run["metrics"] for run in group["runs"]}
    wide = len(seeds) <= MAX_SEED_COLUMNS
    middle = [f"seed {s}" for s in seeds] if wide else ["min – max"]
    header = ["metric", "paper", "where", *middle, "mean ± sd"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in group["rows"]:
        cells = _cells(row)
        middle = [_number(by_seed[s].get(row["metric"])) for s in seeds] if wide else [cells[4]]
        lines.append("| " + " | ".join([*cells[:3], *middle, cells[3]]) + " |")
    minutes = [_number(round(group["seconds"][str(s)] / 60, 1)) for s in seeds]
    if wide:
        lines.append("| minutes | | | " + " | ".join(minutes) + " | |")
    return "\n".join(lines)
