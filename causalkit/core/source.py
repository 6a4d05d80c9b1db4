"""Showing the package's own code in a notebook, so a lesson never re-implements it."""

from __future__ import annotations

import inspect
import textwrap
from typing import Any

_OWN_PACKAGES = {"causalkit", "widgets"}


def source_markdown(obj: Any) -> str:
    """The source of a causalkit function, class or method as a Markdown code block."""
    module = inspect.getmodule(obj)
    if module is None or module.__name__.split(".")[0] not in _OWN_PACKAGES:
        origin = module.__name__ if module else "an unknown module"
        raise ValueError(f"show_source shows causalkit's own code; {obj!r} comes from {origin}")
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError) as err:
        raise ValueError(f"no source is available for {obj!r}") from err
    where = ".".join(filter(None, [module.__name__, getattr(obj, "__qualname__", "")]))
    return f"`{where}`\n```python\n{source.rstrip()}\n```"


def show_source(obj: Any) -> None:
    """Display the source of a causalkit function or class as highlighted code.

    Notebooks call this to show the algorithm they are about to run, so the code a
    student reads is the code that runs.
    """
    text = source_markdown(obj)
    from IPython import get_ipython
    from IPython.display import Markdown, display

    if get_ipython() is not None:
        display(Markdown(text))
    else:
        print(text)
