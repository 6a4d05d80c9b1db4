"""``make gpu-check``: the suite's GPU path end to end, as one table.

On the device ``CAUSALKIT_DEVICE`` names (default ``cuda``; ``CAUSALKIT_DEVICE=cpu make
gpu-check`` runs the same steps on the CPU), it runs:

1. the unit and widget tests (no notebook regression, no browser);
2. every panel's render latency (``python -m widgets bench --panels-only``);
3. the CGN composer in a real kernel (``notebooks/apps/cgn.ipynb``);
4. one quick notebook (``--notebook``, default the tour).

Each step's wall time and outcome go into one table; the exit status is 1 if any failed.
Sized for one GPU in at most 8 minutes; on a 2-core CPU with a warm cache it takes longer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(command: list[str], env: dict[str, str], timeout: float) -> tuple[bool, str]:
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    tail = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode == 0, tail[-1] if tail else ""


def unit_and_widget_tests(env: dict[str, str], workers: int) -> tuple[bool, str]:
    return _run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider",
         "-n", str(workers), "-m", "not notebook and not browser and not site"],
        env,
        timeout=3600,
    )  # fmt: skip


def panel_latency(env: dict[str, str], _workers: int) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        ok, last = _run(
            [sys.executable, "-m", "widgets", "bench", "--panels-only", "--json", str(out)],
            env,
            timeout=1800,
        )
        if not out.is_file():
            return False, last
        panels = json.loads(out.read_text())["panels"]
    worst = max(panels, key=lambda name: panels[name]["p95_ms"] / panels[name]["budget_ms"])
    over = [name for name, p in panels.items() if p["p95_ms"] > p["budget_ms"]]
    summary = ", ".join(f"{name} {p['p95_ms']:.0f}" for name, p in sorted(panels.items()))
    verdict = f"over budget: {', '.join(over)}" if over else f"all within budget (tightest {worst})"
    png = max(panels, key=lambda name: panels[name]["png_ms"] / panels[name]["p50_ms"])
    share = panels[png]["png_ms"] / panels[png]["p50_ms"]  # JPEG pays where this dominates
    encoding = f"PNG encoding at most {share:.0%} of a p50 ({png})"
    return ok and not over, f"p95 ms: {summary}; {verdict}; {encoding}"


def cgn_composer_in_a_kernel(env: dict[str, str], _workers: int) -> tuple[bool, str]:
    import nbformat
    from nbclient import NotebookClient

    path = ROOT / "notebooks" / "apps" / "cgn.ipynb"
    notebook = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        NotebookClient(
            notebook, timeout=1800, resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    outputs = notebook.cells[-1].outputs
    shown = any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    return shown, "the composer panel is shown" if shown else "no widget in the last cell"


def quick_notebook(name: str) -> Callable[[dict[str, str], int], tuple[bool, str]]:
    def step(env: dict[str, str], _workers: int) -> tuple[bool, str]:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "metrics.json"
            ok, last = _run(
                [sys.executable, "-m", "causalkit", "run", name, "--out", tmp, "--json", str(out)],
                env,
                timeout=1800,
            )
            if not ok:
                return False, last
            metrics = json.loads(out.read_text())["metrics"]
        return True, f"{len(metrics)} metrics recorded"

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.gpu_check", description=__doc__)
    parser.add_argument("--notebook", default="tour", help="the quick notebook to run")
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 8))
    args = parser.parse_args(argv)
    device = os.environ.get("CAUSALKIT_DEVICE", "cuda")
    env = {**os.environ, "CAUSALKIT_DEVICE": device, "CAUSALKIT_PROGRESS": "0"}
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("error: no CUDA device; CAUSALKIT_DEVICE=cpu runs the check on the CPU")
            return 2
        where = f"{device} ({torch.cuda.get_device_name(0)})"
    else:
        where = f"{device} ({os.cpu_count()} cores)"
    steps = [
        ("unit and widget tests", unit_and_widget_tests),
        ("panel render latency", panel_latency),
        ("CGN composer in a kernel", cgn_composer_in_a_kernel),
        (f"quick notebook: {args.notebook}", quick_notebook(args.notebook)),
    ]
    rows, failed = [], False
    for title, step in steps:
        start = time.perf_counter()
        try:
            ok, note = step(env, args.workers)
        except Exception as err:  # a step that cannot run is a failed row, not a lost table
            ok, note = False, f"{type(err).__name__}: {err}"
        seconds = time.perf_counter() - start
        failed |= not ok
        rows.append((title, "ok" if ok else "FAILED", f"{seconds:.0f}", note))
        print(f"{title}: {'ok' if ok else 'FAILED'} in {seconds:.0f} s", file=sys.stderr)
    print(f"\ngpu-check on {where}")
    print("| step | result | seconds | notes |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
