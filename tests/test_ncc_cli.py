"""``python -m causalkit ncc score``: the shipped Tübingen file, and a file with bad rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from causalkit import cli
from causalkit.data import tuebingen_path
from causalkit.ncc import experiment
from causalkit.ncc.model import TrainConfig

TINY = experiment.NccConfig(
    train=TrainConfig(
        iterations=40,
        pool_pairs=200,
        pool_points=200,
        min_points=50,
        max_points=100,
        val_pairs=50,
        val_points=100,
        eval_every=40,
    ),
    test_points=200,
    test_subsamples=2,
)


@pytest.fixture
def tiny_quick(tmp_cache, monkeypatch):
    """The quick preset swapped for a seconds-long config, trained into a private cache."""
    monkeypatch.setitem(experiment.PRESETS, "quick", TINY)


def _row(sample_id: str, a, b) -> str:
    return f'{sample_id},"{" ".join(map(str, a))}","{" ".join(map(str, b))}"\n'


def test_scores_the_shipped_tuebingen_file(tiny_quick, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert cli.main(["ncc", "score", str(tuebingen_path()), "--out", str(out)]) == 0
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["SampleID", "p_a_causes_b"]
    assert len(scores) == 99 and scores["SampleID"].is_unique
    assert scores["p_a_causes_b"].between(0, 1).all()
    assert scores["p_a_causes_b"].nunique() > 50  # a real score per pair, not a constant
    assert "99 pairs scored, 0 skipped" in capsys.readouterr().out


def test_bad_rows_are_named_and_the_rest_scored(tiny_quick, tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    good = np.round(x, 4), np.round(x**3 + 0.1 * rng.normal(size=40), 4)
    csv = tmp_path / "pairs.csv"
    csv.write_text(
        "SampleID,A,B\n"
        + _row("good1", *good)
        + _row("short", [1, 2, 3], [4, 5, 6])
        + _row("uneven", good[0], good[1][:-1])
        + '"words","1 2 x 4 5 6 7 8 9 10 11","1 2 3 4 5 6 7 8 9 10 11"\n'
        + _row("flat", np.ones(40), good[1])
        + _row("good2", good[1], good[0])
    )
    assert cli.main(["ncc", "score", str(csv)]) == 0
    captured = capsys.readouterr()
    for sample_id, reason in [
        ("short", "at least 10"),
        ("uneven", "A has 40 points but B has 39"),
        ("words", "non-numeric value 'x'"),
        ("flat", "constant"),
    ]:
        assert f"skipped {sample_id}: " in captured.err and reason in captured.err
    assert "good" not in captured.err
    lines = captured.out.splitlines()
    assert lines[0].split() == ["SampleID", "p_a_causes_b"]
    scored = dict(line.split() for line in lines[2:])
    assert set(scored) == {"good1", "good2"}
    # Eq. 5: the two good rows are each other's transpose, so their scores sum to one.
    assert float(scored["good1"]) + float(scored["good2"]) == pytest.approx(1, abs=2e-4)


def test_missing_file_and_bad_preset_fail_clearly(tmp_cache, tmp_path, capsys):
    assert cli.main(["ncc", "score", str(tmp_path / "nope.csv")]) == 2
    assert "no pairs file" in capsys.readouterr().err
    good = tmp_path / "one.csv"
    good.write_text("SampleID,A,B\n" + _row("p", range(12), [v**2 for v in range(12)]))
    assert cli.main(["ncc", "score", str(good), "--preset", "huge"]) == 2
    assert "unknown preset 'huge'" in capsys.readouterr().err


def test_tiny_preset_is_really_tiny():
    # Guards the fixture: a test that trained a real preset would take minutes.
    assert dataclasses.asdict(TINY)["train"]["iterations"] <= 50
