"""``python -m widgets bench``: the panels' latency table, outside causalkit's CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from widgets import bench, render


def test_bench_panels_only_writes_the_documented_json(tmp_path, capsys):
    target = tmp_path / "bench.json"
    bench.main(["bench", "--panels-only", "--json", str(target)])
    report = json.loads(target.read_text())
    assert set(report) == {"panels", "notebooks"} and report["notebooks"] == {}
    tour = report["panels"]["tour_seeing_doing"]
    assert set(tour) == {
        "p50_ms",
        "p95_ms",
        "budget_ms",
        "png_ms",
        "jpeg_ms_largest_frame",
        "largest_frame",
    }
    assert 0 < tour["p50_ms"] <= tour["p95_ms"]
    assert 0 < tour["png_ms"] < tour["p95_ms"]  # measured inside the renders
    assert all(size > 100 for size in tour["largest_frame"]) and tour["jpeg_ms_largest_frame"] > 0
    out = capsys.readouterr().out
    assert "tour_seeing_doing" in out and "p95 ms" in out and "JPEG ms, largest" in out


def test_png_encodes_are_counted_and_the_encoder_restored():
    encode, calls = render.rgba_png, []
    with bench.png_encodes(calls):
        render.sheet_png(Image.new("RGB", (30, 20)))
    assert render.rgba_png is encode
    assert len(calls) == 1 and calls[0][0] > 0 and calls[0][1].shape == (20, 30, 3)


def test_bench_refuses_too_few_renders():
    with pytest.raises(SystemExit):
        bench.main(["bench", "--renders", "10"])


def test_widgets_module_entry_point_refuses_too_few_renders():
    done = subprocess.run(
        [sys.executable, "-m", "widgets", "bench", "--renders", "3"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "at least 50" in done.stderr
