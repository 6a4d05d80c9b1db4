"""``python -m widgets bench``: the panels' latency table, outside causalkit's CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from widgets import bench


def test_bench_panels_only_writes_the_documented_json(tmp_path, capsys):
    target = tmp_path / "bench.json"
    bench.main(["bench", "--panels-only", "--json", str(target)])
    report = json.loads(target.read_text())
    assert set(report) == {"panels", "notebooks"} and report["notebooks"] == {}
    tour = report["panels"]["tour_seeing_doing"]
    assert set(tour) == {"p50_ms", "p95_ms", "budget_ms"}
    assert 0 < tour["p50_ms"] <= tour["p95_ms"]
    out = capsys.readouterr().out
    assert "tour_seeing_doing" in out and "p95 ms" in out


def test_bench_refuses_too_few_renders():
    with pytest.raises(SystemExit):
        bench.main(["bench", "--renders", "10"])


def test_widgets_module_entry_point_refuses_too_few_renders():
    done = subprocess.run(
        [sys.executable, "-m", "widgets", "bench", "--renders", "3"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "at least 50" in done.stderr
