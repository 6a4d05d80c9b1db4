"""``python -m causalkit sweep``: many notebook runs (name × preset × seed), one Dask task each.

Each run executes its notebook with papermill in a worker process and leaves, under
``DIR/<name>/<preset>/seed-<s>[/<key>=<value>…]/``, the executed notebook and a
``result.json`` (metrics, parameters, code version, machine, device, wall time). A run whose
``result.json`` matches its code version and parameters is skipped, so a sweep stopped by a
crash or Ctrl-C resumes where it stopped. Tasks carry paths, never models.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform
import re
import time
import tokenize
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from causalkit.core import code_version
from causalkit.core.files import write_atomically
from causalkit.notebooks import get_spec, notebook_path, read_notebook
from causalkit.runner import DEFAULT_CELL_TIMEOUT, RunPlan, execute, plan_run

RESULT = "result.json"
PLAN_KEYS = ("preset", "seed")


@dataclass(frozen=True)
class SweepRun:
    """One checked (notebook, preset, seed, parameters) run and where its files go.

    It carries the notebook's path and parameters, so a worker needs no registry lookup.
    """

    plan: RunPlan
    directory: Path
    version: str  # the notebook's and its package's code: a changed one reruns
    threads: int | None = 1  # torch threads of the run's kernel; None: its worker's share
    cell_timeout: int = DEFAULT_CELL_TIMEOUT

    @property
    def name(self) -> str:
        return self.plan.spec.name

    @property
    def preset(self) -> str:
        return self.plan.parameters["preset"]

    @property
    def seed(self) -> int:
        return self.plan.parameters["seed"]

    @property
    def label(self) -> str:
        extra = "".join(
            f" {k}={v}" for k, v in sorted(self.plan.parameters.items()) if k not in PLAN_KEYS
        )
        return f"{self.name} {self.preset} seed {self.seed}{extra}"


@dataclass
class SweepSummary:
    done: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[SweepRun] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # label -> why


def parse_seeds(text: str) -> list[int]:
    """``"0-4"``, ``"0,2,7"`` or ``"0-2,9"`` as a sorted list of distinct seeds."""
    seeds: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise ValueError(f"--seeds: {part!r} is not a seed or a range like 0-4")
        low, high = int(match[1]), int(match[2] or match[1])
        if high < low:
            raise ValueError(f"--seeds: the range {part.strip()!r} runs backwards")
        seeds.update(range(low, high + 1))
    return sorted(seeds)


# Exercises define the student's functions and self-checks ask questions: no recorded number
# depends on them. An executed copy also carries papermill's parameters and grade's cells.
UNVERSIONED_TAGS = {"exercise", "self-check", "injected-parameters", "grading"}


def without_comments(source: str) -> str:
    """``source`` without its comments, blank lines and trailing spaces: what runs."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):  # not Python (a magic): the text itself
        return source
    lines = source.splitlines()
    for token in reversed(tokens):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            lines[row - 1] = lines[row - 1][:col]
    return "\n".join(line.rstrip() for line in lines if line.strip())


def run_version(name: str) -> str:
    """A hash of the notebook's code as it runs, and of the code its package caches under.

    Markdown, comments, exercises and self-checks are left out: rewording a lesson, a comment
    or an exercise changes no number, so it leaves a report current.
    """
    return notebook_version(name, read_notebook(notebook_path(get_spec(name))))


def notebook_version(name: str, notebook: nbformat.NotebookNode) -> str:
    """:func:`run_version` of ``notebook``'s code: an executed copy (a run, a graded edition)
    hashes as its source did, so comparing the two tells whether the copy is current."""
    digest = hashlib.sha256(code_version(get_spec(name).package).encode())
    for cell in notebook.cells:
        if cell.cell_type == "code" and not UNVERSIONED_TAGS & set(cell.metadata.get("tags", [])):
            digest.update(without_comments(cell.source).encode() + b"\0")
    return digest.hexdigest()[:16]


def run_directory(out: Path, name: str, preset: str, seed: int, parameters: dict) -> Path:
    parts = [re.sub(r"[^A-Za-z0-9._=-]", "_", f"{k}={v}") for k, v in sorted(parameters.items())]
    return Path(out, name, preset, f"seed-{seed}", *parts)


def plan_sweep(
    names: Sequence[str],
    preset: str,
    seeds: Iterable[int],
    overrides: dict[str, Any],
    out: Path,
    threads: int | None = 1,
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
) -> list[SweepRun]:
    """Every run of the sweep, each checked as ``run`` would check it, before any worker starts."""
    if "seed" in overrides or "preset" in overrides:
        raise ValueError("give the seeds with --seeds and the preset with --preset, not -p")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file; give a directory")
    runs = []
    for name in names:
        version = run_version(name)
        for seed in seeds:
            plan = plan_run(name, preset, {**overrides, "seed": seed})
            others = {k: v for k, v in plan.parameters.items() if k not in PLAN_KEYS}
            directory = run_directory(out, name, preset, seed, others)
            runs.append(SweepRun(plan, directory, version, threads, cell_timeout))
    return runs


def finished(run: SweepRun) -> bool:
    """Whether ``run`` already has a result from the same code and parameters."""
    try:
        stored = json.loads((run.directory / RESULT).read_text())
    except (OSError, ValueError):
        return False
    same_code = stored.get("version") == run.version
    return same_code and stored.get("parameters") == dict(run.plan.parameters)


def machine() -> str:
    """Host, processor and cores: what a reader needs to compare wall times and numbers."""
    processor = platform.processor()
    with contextlib.suppress(OSError):  # Linux names the model; platform often does not
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                processor = line.split(":", 1)[1].strip()
                break
    processor = processor or platform.machine()
    return f"{platform.node()} ({processor}, {os.cpu_count()} cores, {platform.machine()})"


def cores_each(workers: int) -> int:
    """Each of ``workers`` processes' share of this host's cores, at least one."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def use_threads(threads: int) -> None:
    """Give torch in this process, and every kernel it starts, ``threads`` threads."""
    os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))


def _share_of_cores() -> int:
    """This worker's share of its host's cores: the cores over the workers now on the host.

    Asked when the run starts, not when the sweep does: workers may join a cluster later.
    """
    from distributed import get_client, get_worker
    from distributed.comm import get_address_host

    here = get_address_host(get_worker().address)
    workers = get_client().scheduler_info(n_workers=-1)["workers"]  # keyed by address
    on_host = sum(get_address_host(address) == here for address in workers)
    return cores_each(on_host)


def execute_run(run: SweepRun, device: str | None = None) -> dict[str, Any]:
    """Run one notebook in this (worker) process's kernel and write its ``result.json``."""
    import torch

    from causalkit.core import describe_device

    threads = run.threads or _share_of_cores()
    use_threads(threads)  # the kernel inherits it: a share of the cores, not all of them
    if device:
        os.environ["CAUSALKIT_DEVICE"] = device
    run.directory.mkdir(parents=True, exist_ok=True)
    output = run.directory / run.plan.spec.filename
    started = time.time()
    result = execute(run.plan, output, run.cell_timeout, force=True)  # retries a kernel start
    payload = {
        "name": run.name,
        "preset": run.preset,
        "seed": run.seed,
        "parameters": dict(result.parameters),
        "version": run.version,
        "metrics": result.metrics,
        "seconds": round(result.seconds, 3),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "machine": machine(),
        "torch": torch.__version__,
        "device": describe_device() if device else f"cpu ({threads} threads)",
        "threads": threads,
        "notebook": output.name,
    }
    write_atomically(run.directory / RESULT, json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return payload


def _client(workers: int | None, scheduler: str | None):
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler, timeout="30s")
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,  # one run at a time per worker process
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # its HTTP server (health, metrics): any free port
    )
    return Client(cluster)


def _gpu_workers(client) -> bool:
    workers = client.scheduler_info()["workers"].values()
    return any(w.get("resources", {}).get("GPU", 0) > 0 for w in workers)


def sweep(
    runs: Sequence[SweepRun],
    workers: int | None = None,
    scheduler: str | None = None,
    report: Callable[[str], None] = print,
) -> SweepSummary:
    """Run every unfinished run on Dask; each failure is retried once, then named."""
    from distributed import as_completed

    summary = SweepSummary(skipped=[run for run in runs if finished(run)])
    todo = [run for run in runs if run not in summary.skipped]
    for run in summary.skipped:
        report(f"skipped {run.label}: finished with this code")
    if not todo:
        return summary
    with _client(workers, scheduler) as client:
        gpu = _gpu_workers(client)
        futures = {
            client.submit(
                execute_run,
                run,
                "cuda" if gpu else None,
                key=f"causalkit-{run.directory}",
                retries=1,
                pure=False,
                resources={"GPU": 1} if gpu else None,
            ): run
            for run in todo
        }
        for count, future in enumerate(as_completed(futures), start=1):
            run = futures[future]
            prefix = f"[{count + len(summary.skipped)}/{len(runs)}]"
            if future.status == "finished":
                payload = future.result()
                summary.done.append(payload)
                report(f"{prefix} done {run.label} in {payload['seconds']:.1f} s")
            else:
                why = str(future.exception()).strip().splitlines()
                summary.failed[run.label] = why[0] if why else "failed"
                report(f"{prefix} FAILED {run.label}: {summary.failed[run.label]}")
    return summary


def read_results(out: Path) -> list[dict[str, Any]]:
    """Every ``result.json`` under a sweep directory, in a stable order."""
    out = Path(out)
    if not out.is_dir():
        raise ValueError(f"{str(out)!r} is not a sweep directory")
    results = [json.loads(p.read_text()) for p in sorted(out.rglob(RESULT))]
    return sorted(results, key=lambda r: (r["name"], r["preset"], r["seed"]))
