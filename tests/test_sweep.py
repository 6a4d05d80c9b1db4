"""``sweep`` and ``report``: many runs on Dask, skipped when finished, failures named.

A toy notebook (one kernel start, a seeded metric) stands in for the papers, so a cluster
test costs seconds. Every cluster listens on 127.0.0.1 only and is stopped by the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
import torch
from distributed import Client

from causalkit import cli
from causalkit.notebooks import NOTEBOOKS, NotebookSpec, PaperValue
from causalkit.report import group_from_summary, reproduction_table
from causalkit.sweep import RESULT, parse_seeds, plan_sweep

TOY_BODY = """\
import os, random, time
from causalkit.core import record_metric
rng = random.Random(seed)
if seed == fail_seed:
    raise RuntimeError(f"seed {seed} was told to fail")
time.sleep(float(os.environ.get("TOY_SLOW", 0)) if seed > 0 else 0)
record_metric("x", rng.random())
record_metric("twice_seed", 2 * seed)
record_metric("kernel_threads", int(os.environ["OMP_NUM_THREADS"]))
"""


def register_toy(directory: Path) -> None:
    """Register notebook ``toy``: ``x`` drawn from the seed, ``twice_seed``; it fails on
    ``fail_seed``, and seeds above 0 dawdle for ``$TOY_SLOW`` seconds."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('preset = "quick"\nseed = 0\nfail_seed = -1')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(TOY_BODY)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    directory.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, directory / "toy.ipynb")
    os.environ["CAUSALKIT_NOTEBOOKS"] = str(directory)
    NOTEBOOKS["toy"] = NotebookSpec(
        "toy",
        "toy.ipynb",
        "a toy notebook",
        "causalkit.tour",
        ranges={"fail_seed": (-1, 100)},
        paper={"x": PaperValue(0.5, "Table 1"), "twice_seed": PaperValue(None, "not reported")},
    )


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("CAUSALKIT_NOTEBOOKS", str(tmp_path / "nb"))
    monkeypatch.setitem(NOTEBOOKS, "toy", None)  # restored after the test
    register_toy(tmp_path / "nb")
    return tmp_path


def _results(out: Path) -> dict[int, dict]:
    return {json.loads(p.read_text())["seed"]: json.loads(p.read_text()) for p in out.rglob(RESULT)}


def test_seeds_are_parsed_and_bad_ones_refused():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,2,7") == [0, 2, 7] and parse_seeds("3-4,0,3") == [0, 3, 4]
    for bad in ("4-2", "a", "-1", "1-"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_every_run_is_checked_before_any_worker_starts(toy):
    with pytest.raises(ValueError, match="unknown notebook"):
        plan_sweep(["toy", "nope"], "quick", [0], {}, toy / "out")
    with pytest.raises(ValueError, match="--seeds"):
        plan_sweep(["toy"], "quick", [0], {"seed": 3}, toy / "out")
    with pytest.raises(ValueError, match="fail_seed"):
        plan_sweep(["toy"], "quick", [0], {"fail_seed": 10_000}, toy / "out")
    (toy / "a_file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        plan_sweep(["toy"], "quick", [0], {}, toy / "a_file")
    runs = plan_sweep(["toy"], "quick", [0, 1], {"fail_seed": 5}, toy / "out")
    assert [r.directory for r in runs] == [
        toy / "out" / "toy" / "quick" / "seed-0" / "fail_seed=5",
        toy / "out" / "toy" / "quick" / "seed-1" / "fail_seed=5",
    ]


def test_a_sweep_runs_every_seed_and_the_report_tables_them(toy, capsys):
    out = toy / "out"
    argv = ["sweep", "toy", "--seeds", "0-3", "--workers", "2", "--out", str(out)]
    assert cli.main(argv) == 0
    results = _results(out)
    assert sorted(results) == [0, 1, 2, 3]
    assert [results[s]["metrics"]["twice_seed"] for s in range(4)] == [0, 2, 4, 6]
    assert all(r["threads"] == 1 and r["seconds"] > 0 for r in results.values())
    assert {r["torch"] for r in results.values()} == {torch.__version__}
    assert all(f"{os.cpu_count()} cores" in r["machine"] for r in results.values())
    assert (out / "toy" / "quick" / "seed-2" / "toy.ipynb").is_file()
    report, page, tables = toy / "r.md", toy / "r.html", toy / "reproduction"
    argv = ["report", str(out), "--out", str(report), "--html", str(page)]
    assert cli.main([*argv, "--reproduction", str(tables)]) == 0
    text = report.read_text()
    xs = [results[s]["metrics"]["x"] for s in range(4)]
    row = next(line for line in text.splitlines() if line.startswith("| `x`"))
    assert "| 0.5 | Table 1 |" in row and row.endswith("| 4 |")
    assert f"{sum(xs) / 4:.3g} ± " in row and f"{min(xs):.3g} – {max(xs):.3g}" in row
    assert "| `twice_seed` | – | not reported | 3 ± 2.58 | 0 – 6 | 4 |" in text
    assert "Seeds 0, 1, 2, 3" in text and "sample standard deviation" in text
    assert f"torch {torch.__version__}" in text and "Not in this report yet: `tour`" in text
    assert "plotly" in page.read_text() and "Table 1" in page.read_text()
    assert json.loads((tables / "toy.json").read_text())["groups"][0]["seeds"] == [0, 1, 2, 3]

    # The notebook's table comes from reproduction/toy.json, and says when it is stale.
    shown = reproduction_table("toy", preset="quick").data
    assert "| metric | paper | where | seed 0 | seed 1 | seed 2 | seed 3 | mean ± sd |" in shown
    each = " | ".join(f"{x:.3g}" for x in xs)
    assert "| `twice_seed` | – | not reported | 0 | 2 | 4 | 6 | 3 ± 2.58 |" in shown
    assert f"| `x` | 0.5 | Table 1 | {each} | {sum(xs) / 4:.3g} ± " in shown
    assert "Seeds 0, 1, 2, 3" in shown and "| minutes |" in shown
    assert "Stale" not in shown
    missing = reproduction_table("toy", preset="paper").data
    assert "No reproduction report" in missing and "docs/" not in missing
    (toy / "docs").mkdir()
    (toy / "docs" / "toy-log.md").write_text("# earlier runs\n")
    assert "made by hand, are in `docs/toy-log.md`" in reproduction_table("toy", "paper").data

    # A second sweep finds every run finished and starts nothing.
    capsys.readouterr()
    assert cli.main(["sweep", "toy", "--seeds", "0-3", "--workers", "2", "--out", str(out)]) == 0
    assert "0 done, 4 skipped" in capsys.readouterr().out

    # Reworded markdown leaves it current; once a code cell changes, it says it is stale.
    notebook = toy / "nb" / "toy.ipynb"
    cells = json.loads(notebook.read_text())
    cells["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": ["# Toy"]})
    notebook.write_text(json.dumps(cells))
    assert "Stale" not in reproduction_table("toy", preset="quick").data
    notebook.write_text(notebook.read_text().replace("twice_seed", "double_seed"))
    assert reproduction_table("toy", preset="quick").data.startswith("**Stale:**")


def test_a_failing_run_is_named_and_the_others_finish(toy, capsys):
    out = toy / "out"
    argv = ["sweep", "toy", "--seeds", "0-2", "-p", "fail_seed=1", "--workers", "2"]
    assert cli.main([*argv, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "failed: toy quick seed 1 fail_seed=1" in captured.err
    assert "seed 1 was told to fail" in captured.err
    assert (
        sorted(_results(out)) == [0, 2]
        and "2 done, 0 skipped (finished before), 1 failed" in captured.out
    )


def _sweep_in_a_subprocess(toy: Path, args: list[str], env: dict) -> subprocess.Popen:
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_sweep import register_toy
        register_toy(Path({str(toy / "nb")!r}))
        from causalkit import cli
        sys.exit(cli.main({args!r}))
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its workers and kernels die with it
        env={**os.environ, **env},
    )


@pytest.mark.parametrize("how", ["ctrl-c", "crash"])
def test_a_stopped_sweep_redoes_only_the_unfinished_runs(toy, capsys, how):
    out = toy / "out"
    args = ["sweep", "toy", "--seeds", "0-1", "--workers", "1", "--out", str(out)]
    proc = _sweep_in_a_subprocess(toy, args, {"TOY_SLOW": "300"})
    try:
        deadline = time.monotonic() + 120
        while not _results(out) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.5)
        assert sorted(_results(out)) == [0]  # seed 1 is sleeping in its kernel
        if how == "ctrl-c":  # what a terminal sends to the whole foreground group
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(60) == 130 and "interrupted" in proc.stdout.read()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a crash: no clean-up at all
        proc.wait(30)
    first = (out / "toy/quick/seed-0" / RESULT).stat().st_mtime_ns
    capsys.readouterr()
    assert cli.main(args) == 0  # the same sweep again: seed 0 is skipped, seed 1 is run
    assert "1 done, 1 skipped" in capsys.readouterr().out
    assert (out / "toy/quick/seed-0" / RESULT).stat().st_mtime_ns == first
    assert sorted(_results(out)) == [0, 1]


def test_an_existing_scheduler_gives_the_same_metrics(toy, capsys):
    scheduler_file = toy / "scheduler.json"
    common = ["--no-dashboard", "--host", "127.0.0.1"]
    scheduler = ["-m", "distributed.cli.dask_scheduler", "--port", "0", *common]
    worker = ["-m", "distributed.cli.dask_worker", "--nthreads", "1", *common]
    started = [
        subprocess.Popen(
            [sys.executable, *scheduler, "--scheduler-file", str(scheduler_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for _ in range(2):
            started.append(
                subprocess.Popen(
                    [sys.executable, *worker, address],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        with Client(address, timeout="30s") as client:  # both workers, before any run starts
            client.wait_for_workers(2, timeout=60)
        remote, local = toy / "remote", toy / "local"
        seeds = ["toy", "--seeds", "0-3"]
        assert cli.main(["sweep", *seeds, "--scheduler", address, "--out", str(remote)]) == 0
        assert f"sweeping 4 runs on {address}" in capsys.readouterr().err
        assert cli.main(["sweep", *seeds, "--workers", "2", "--out", str(local)]) == 0
        metrics = {s: r["metrics"] for s, r in _results(remote).items()}
        assert metrics == {s: r["metrics"] for s, r in _results(local).items()}
        assert len(metrics) == 4
        # Each kernel got its worker's share of this host: its cores over the two workers.
        share = max(1, (os.cpu_count() or 1) // 2)
        assert {m["kernel_threads"] for m in metrics.values()} == {share}
    finally:
        for proc in reversed(started):
            proc.terminate()
        for proc in started:
            proc.wait(30)


@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if n != "toy"])
def test_every_notebook_declares_the_paper_values_its_report_lists(name):
    spec = NOTEBOOKS[name]
    assert spec.paper, f"{name} declares no headline metric for the report"
    for metric, claim in spec.paper.items():
        assert claim.where, metric
        assert claim.value is None or isinstance(claim.value, (int, float)), metric
    # That the notebook records each one is checked where it runs: tests/test_notebooks.py.


COMMITTED = sorted((Path(__file__).parents[1] / "reproduction").glob("*.json"))


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_the_committed_report_is_whole(path):
    """reproduction/<name>.json: the paper preset's runs, as REPRODUCTION.md lists them."""
    name = path.stem
    (group,) = [g for g in json.loads(path.read_text())["groups"] if g["preset"] == "paper"]
    assert group["seeds"] and group["parameters"] == {}
    assert [row["metric"] for row in group["rows"]] == list(NOTEBOOKS[name].paper)
    for row in group["rows"]:
        assert row["n"] == len(group["seeds"]), row["metric"]  # every run recorded it
        assert row["min"] - 1e-12 <= row["mean"] <= row["max"] + 1e-12  # fmean of equal values
    assert f"`{name}`, preset `paper`" in (path.parents[1] / "REPRODUCTION.md").read_text()


def test_the_embedded_cluster_listens_on_loopback_only():
    import psutil

    from causalkit.sweep import _client

    with _client(1, None):
        listening = [
            c.laddr.ip for c in psutil.Process().net_connections("tcp") if c.status == "LISTEN"
        ]
    assert listening and set(listening) == {"127.0.0.1"}, listening


def test_run_version_follows_the_code_that_runs_not_comments_or_exercises(tmp_path, monkeypatch):
    from causalkit.notebooks import get_spec
    from causalkit.sweep import run_version

    path = tmp_path / get_spec("tour").filename
    monkeypatch.setattr("causalkit.sweep.notebook_path", lambda spec: path)

    def version(*cells):
        nbformat.write(nbformat.v4.new_notebook(cells=list(cells)), path)
        return run_version("tour")

    code = nbformat.v4.new_code_cell
    base = version(code("x = 1\ny = x + 1"))
    assert version(code("x = 1  # one\n\n# then\ny = x + 1   ")) == base
    assert version(code("x = 1\ny = x + 1"), nbformat.v4.new_markdown_cell("words")) == base
    tagged = [
        code("def f():\n    raise NotImplementedError", metadata={"tags": [t]})
        for t in ("exercise", "self-check")
    ]
    assert version(code("x = 1\ny = x + 1"), *tagged) == base
    assert version(code("x = 1\ny = x + 2")) != base
    assert version(code("x = 1\ny = '# x + 1'")) != version(code("x = 1\ny = ''"))


def _fake_result(name: str, seed: int, version: str, metrics: dict[str, float]) -> dict:
    return {
        "name": name,
        "preset": "paper",
        "seed": seed,
        "parameters": {"preset": "paper", "seed": seed},
        "version": version,
        "metrics": metrics,
        "seconds": 60.0 * (seed + 1),
        "started": f"2026-12-0{seed + 1}T10:00:00+0000",
        "machine": "box (2 cores)",
        "torch": "2.13.0+cpu",
        "device": "cpu (1 threads)",
    }


def _write_results(out: Path, results: list[dict]) -> None:
    for r in results:
        path = out / r["name"] / "paper" / f"seed-{r['seed']}" / RESULT
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(r))


def test_a_report_can_refresh_one_paper_and_keep_the_others(tmp_path, capsys):
    """report --keep-others: the paper swept again gets its new section and tables; every
    other committed table is carried over unchanged, as the full report wrote it."""
    tour_metrics = [dict.fromkeys(NOTEBOOKS["tour"].paper, 0.25 * s + 0.1) for s in range(3)]
    ncc_metrics = [dict.fromkeys(NOTEBOOKS["ncc"].paper, 0.7 + 0.01 * s) for s in range(2)]
    first = tmp_path / "first"
    _write_results(first, [_fake_result("tour", s, "v1", m) for s, m in enumerate(tour_metrics)])
    _write_results(first, [_fake_result("ncc", s, "n1", m) for s, m in enumerate(ncc_metrics)])
    tables, full = tmp_path / "reproduction", tmp_path / "full.md"
    argv = ["report", str(first), "--out", str(full), "--reproduction", str(tables)]
    assert cli.main(argv) == 0

    again = tmp_path / "again"  # tour swept again on new code; ncc not
    _write_results(again, [_fake_result("tour", s, "v2", m) for s, m in enumerate(tour_metrics)])
    refreshed = tmp_path / "refreshed.md"
    argv = ["report", str(again), "--out", str(refreshed), "--reproduction", str(tables)]
    assert cli.main([*argv[:4], "--keep-others"]) == 2  # nothing to keep them from
    assert "give --reproduction" in capsys.readouterr().err
    assert cli.main([*argv, "--keep-others"]) == 0

    before, after = _sections(full.read_text()), _sections(refreshed.read_text())
    assert before.keys() == after.keys() and len(after) == 2
    ncc = next(k for k in after if "`ncc`" in k)
    tour = next(k for k in after if "`tour`" in k)
    assert after[ncc] == before[ncc]  # kept, word for word
    assert "code version v2" in after[tour] and "code version v1" in before[tour]
    assert json.loads((tables / "ncc.json").read_text())["groups"][0]["versions"] == ["n1"]
    assert json.loads((tables / "tour.json").read_text())["groups"][0]["versions"] == ["v2"]

    # Kept twice over, it is still the same table.
    assert cli.main([*argv, "--keep-others"]) == 0
    assert _sections(refreshed.read_text())[ncc] == before[ncc]

    # A table of runs on several code versions that does not say which run had which is
    # refused, not guessed.
    summary = json.loads((tables / "ncc.json").read_text())["groups"][0]
    summary["versions"] = ["n1", "n2"]
    for run in summary["runs"]:
        del run["version"]
    with pytest.raises(ValueError, match="mixes code versions"):
        group_from_summary(summary)


def _sections(report: str) -> dict[str, str]:
    """A report's sections by their heading line."""
    return {part.split("\n", 1)[0]: part for part in report.split("\n## ")[1:]}
