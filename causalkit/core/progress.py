"""Progress bars for anything a person may wait for."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

PROGRESS_ENV = "CAUSALKIT_PROGRESS"


def progress(iterable: Iterable | None = None, *, desc: str | None = None, **kwargs: Any) -> tqdm:
    """A ``tqdm.auto`` bar: a widget in a notebook, text in a terminal.

    ``CAUSALKIT_PROGRESS=0`` silences every bar (useful in logs of batch runs).
    """
    kwargs.setdefault("disable", os.environ.get(PROGRESS_ENV, "1") == "0")
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(iterable, desc=desc, **kwargs)
