"""The course editions, the graders and the grade command (the notebook runs that grade every
paper's editions are in test_notebooks.py, where they share the regression run)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from causalkit.cli import main
from causalkit.course import checks_for, exercise_namespace, make_edition
from causalkit.course.checks import calls_none_of
from causalkit.course.editions import EXERCISE_TAG, SOLUTION_TAG, without_answers
from causalkit.notebooks import NOTEBOOKS, notebook_path, read_notebook, strip_outputs

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def _solution_lines(name: str) -> tuple[list[str], str]:
    """The reference answers' distinctive lines, and the notebook's text outside them."""
    text = "\n".join(c.source for c in read_notebook(notebook_path(NOTEBOOKS[name])).cells)
    lines = [
        line.strip()
        for body in SOLUTION.findall(text)
        for line in body.splitlines()
        if len(line.strip()) >= 12
    ]
    return lines, SOLUTION.sub("", text)


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_student_edition_has_a_stub_for_every_exercise_and_no_answer(name, tmp_path):
    path, *_ = make_edition("student", tmp_path, [name])
    raw = path.read_text()
    notebook = nbformat.read(path, as_version=4)
    lines, outside = _solution_lines(name)
    assert lines, f"{name} has no reference answers"
    sources = "\n".join(c.source for c in notebook.cells)
    leaked = [line for line in lines if sources.count(line) > outside.count(line)]
    assert not leaked, f"the student edition of {name} shows solution lines: {leaked[:3]}"
    assert "BEGIN SOLUTION" not in raw and "causalkit.solutions" not in raw
    exercises = [c for c in notebook.cells if EXERCISE_TAG in c.metadata.get("tags", [])]
    assert len(exercises) == len(checks_for(name)) >= 3
    assert all("raise NotImplementedError" in c.source for c in exercises)
    assert not [c for c in notebook.cells if SOLUTION_TAG in c.metadata.get("tags", [])]
    assert notebook.metadata["causalkit"] == {"notebook": name, "edition": "student"}
    assert notebook == strip_outputs(notebook)  # only nbval's few checked outputs


def test_instructor_edition_keeps_the_answers(tmp_path):
    path, *_ = make_edition("instructor", tmp_path, ["ncc"])
    sources = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    lines, _ = _solution_lines("ncc")
    assert all(line in sources for line in lines)


def test_every_exercise_has_a_grader_and_defines_its_function():
    for name in NOTEBOOKS:
        namespace = exercise_namespace(name)
        for check in checks_for(name):
            assert callable(namespace.get(check.function)), f"{name}: no {check.function}"


def test_the_package_ships_no_solutions():
    import causalkit

    assert not (Path(causalkit.__file__).parent / "solutions").exists()


def test_an_edition_never_overwrites_without_force(tmp_path):
    path, *_ = make_edition("student", tmp_path, ["tour"])
    path.write_text("a student's work")
    with pytest.raises(ValueError, match="exists; pass --force"):
        make_edition("student", tmp_path, ["tour"])
    assert path.read_text() == "a student's work"
    make_edition("student", tmp_path, ["tour"], force=True)
    assert "NotImplementedError" in path.read_text()


def test_an_unmarked_answer_is_refused_not_shipped():
    def notebook(source, tags):
        return nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(source, metadata={"tags": tags})]
        )

    with pytest.raises(ValueError, match="needs a ### BEGIN SOLUTION"):
        without_answers(notebook("def f():\n    return 42", [EXERCISE_TAG]), "x.ipynb")
    with pytest.raises(ValueError, match="only such cells"):
        without_answers(notebook("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", []), "x.ipynb")
    kept = without_answers(notebook("print('the worked answer')", [SOLUTION_TAG]), "x.ipynb")
    assert kept.cells == []


def test_calls_none_of_catches_the_package_function():
    from causalkit.ncc.model import symmetric_composite

    def lazy(forward, backward):
        return symmetric_composite(forward, backward)

    def honest(forward, backward):
        return [(1 - f + b) / 2 for f, b in zip(forward, backward, strict=True)]

    with pytest.raises(AssertionError, match="symmetric_composite"):
        calls_none_of(lazy, "symmetric_composite")
    calls_none_of(honest, "symmetric_composite")


def test_grade_command_scores_the_tour(tmp_path, capsys):
    make_edition("student", tmp_path / "student", ["tour"])
    make_edition("instructor", tmp_path / "instructor", ["tour"])
    assert main(["grade", str(tmp_path / "student"), "--out", str(tmp_path / "g1")]) == 1
    out = capsys.readouterr().out
    assert "total 0/3" in out and "not answered" in out
    assert main(["grade", str(tmp_path / "instructor"), "--out", str(tmp_path / "g2")]) == 0
    assert "total 3/3" in capsys.readouterr().out


def test_a_wrong_answer_and_a_broken_notebook_score_zero_with_the_reason(tmp_path, capsys):
    path, *_ = make_edition("instructor", tmp_path / "wrong", ["tour"])
    notebook = nbformat.read(path, as_version=4)
    (first, *_) = [c for c in notebook.cells if EXERCISE_TAG in c.metadata.get("tags", [])]
    first.source = first.source.replace('"done": done', '"done": seen')  # doing is not seeing
    nbformat.write(notebook, path)
    assert main(["grade", str(path), "--out", str(tmp_path / "g")]) == 1
    out = capsys.readouterr().out
    assert "total 2/3" in out and "wrong: P(S | do(B = b)) should not depend" in out

    notebook.cells.insert(1, nbformat.v4.new_code_cell("1 / 0"))
    nbformat.write(notebook, path)
    assert main(["grade", str(path), "--out", str(tmp_path / "g"), "--force"]) == 1
    out = capsys.readouterr().out
    assert "total 0/3" in out and "not graded" in out and "ZeroDivisionError" in out


def test_grade_refuses_a_notebook_it_does_not_know(tmp_path, capsys):
    stray = tmp_path / "homework.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), stray)
    assert main(["grade", str(stray)]) == 2
    assert "not one of the suite's notebooks" in capsys.readouterr().err


def test_self_check_gives_feedback_and_validates_its_answer():
    from widgets.selfcheck import SelfCheck

    check = SelfCheck(
        "Does moving the needle change the weather?", ["yes", "no"], 1, "It is an effect."
    )
    assert check.correct is None and check.check.disabled
    check.choice.value = "yes"
    check.check.click()
    assert check.correct is False and "Not quite" in check.feedback.value
    check.choice.value = "no"
    check.check.click()
    assert (
        check.correct is True
        and "Right" in check.feedback.value
        and "effect" in check.feedback.value
    )
    for bad in (True, 2, -1):
        with pytest.raises(ValueError, match="answer"):
            SelfCheck("q", ["a", "b"], bad, "why")
