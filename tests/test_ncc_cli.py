"""``python -m causalkit ncc score``: the shipped Tübingen file, and a file with bad rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from causalkit import cli
from causalkit.data import tuebingen_path
from causalkit.ncc import experiment
from causalkit.ncc.train import TrainConfig

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


def _one_good_row(path, sample_id: str = "p") -> None:
    path.write_text("SampleID,A,B\n" + _row(sample_id, range(12), [v**2 for v in range(12)]))


def test_out_may_not_be_the_input(tiny_quick, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    _one_good_row(pairs)
    before = pairs.read_text()
    assert cli.main(["ncc", "score", str(pairs), "--out", str(pairs), "--force"]) == 2
    assert "is the input" in capsys.readouterr().err
    assert pairs.read_text() == before


@pytest.mark.parametrize("kind", ["existing", "directory", "under_a_file"])
def test_out_is_checked_before_any_training(tmp_cache, tmp_path, capsys, monkeypatch, kind):
    from causalkit.ncc import score

    def no_training(*args, **kwargs):
        raise AssertionError("scored before the output path was checked")

    monkeypatch.setattr(score, "score_csv", no_training)
    pairs = tmp_path / "pairs.csv"
    _one_good_row(pairs)
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "old.csv").write_text("earlier scores")
    target = {
        "existing": tmp_path / "old.csv",
        "directory": tmp_path,
        "under_a_file": tmp_path / "a_file" / "s.csv",
    }[kind]
    assert cli.main(["ncc", "score", str(pairs), "--out", str(target)]) == 2
    assert f"output {str(target)!r}" in capsys.readouterr().err
    assert (tmp_path / "old.csv").read_text() == "earlier scores"
    assert not list(tmp_path.glob(".*.tmp"))


def test_no_scorable_row_exits_non_zero(tmp_cache, tmp_path, capsys):
    pairs = tmp_path / "bad.csv"
    pairs.write_text("SampleID,A,B\n" + _row("short", [1, 2, 3], [4, 5, 6]))
    assert cli.main(["ncc", "score", str(pairs), "--out", str(tmp_path / "s.csv")]) == 1
    assert "no row of" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


def test_sample_ids_cannot_drive_the_terminal(tiny_quick, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    _one_good_row(pairs, sample_id="\x1b[2Jevil")
    with pairs.open("a") as f:
        f.write(_row("\x1b[31mshort", [1, 2, 3], [4, 5, 6]))
    assert cli.main(["ncc", "score", str(pairs)]) == 0
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out and "\x1b" not in captured.err
    assert "\\x1b[2Jevil" in captured.out and "\\x1b[31mshort" in captured.err


def test_a_seed_too_large_for_the_ensemble_is_reported_as_typed(tmp_cache, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    _one_good_row(pairs)
    argv = ["ncc", "score", str(pairs), "--preset", "paper", "--seed", "2000000000"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "2000000000" in err and "6000000000" not in err
