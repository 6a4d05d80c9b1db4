"""The graders: each exercise's property checks, by notebook.

A check receives the function the student wrote (looked up by name in the notebook's
namespace) and raises ``AssertionError`` with a message a student can act on when the
answer is wrong. The reference solutions in the notebooks pass every check
(``tests/test_course.py`` and the notebook regression test grade the instructor edition).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from causalkit.notebooks import get_spec


@dataclass(frozen=True)
class Check:
    notebook: str
    number: int  # the exercise's number in the notebook
    function: str  # the name the student's cell defines
    title: str
    run: Callable[[Callable], None]
    points: int = 1


_REGISTRY: dict[str, dict[int, Check]] = {}


def check(notebook: str, number: int, function: str, title: str, points: int = 1):
    """Register the decorated callable as the grader of ``notebook``'s exercise ``number``."""
    get_spec(notebook)

    def register(run: Callable[[Callable], None]) -> Callable[[Callable], None]:
        exercises = _REGISTRY.setdefault(notebook, {})
        if number in exercises:
            raise ValueError(f"{notebook} exercise {number} has two graders")
        exercises[number] = Check(notebook, number, function, title, run, points)
        return run

    return register


def checks_for(notebook: str) -> list[Check]:
    """``notebook``'s graders in exercise order (importing its module registers them)."""
    get_spec(notebook)
    importlib.import_module(f"causalkit.course.checks.{notebook}")
    return [c for _, c in sorted(_REGISTRY.get(notebook, {}).items())]


def calls_none_of(function: Callable, *names: str) -> None:
    """Fail when ``function`` calls one of ``names``: an implement-the-core exercise asks for
    the computation itself, not a call to the package's version of it."""
    used: set[str] = set()
    codes = [function.__code__]
    while codes:  # the function, and the functions and comprehensions nested in it
        code = codes.pop()
        used |= set(code.co_names) | set(code.co_freevars)
        codes += [c for c in code.co_consts if hasattr(c, "co_names")]
    found = sorted(used & set(names))
    assert not found, (
        f"{function.__name__} calls {', '.join(found)} from causalkit: "
        "write the computation yourself"
    )
