"""A "predict, then run" self-check: one question, a choice, and feedback on the choice.

Not graded: it is for the student to test their reading before the cell that answers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import ipywidgets as w


class SelfCheck(w.VBox):
    """``question`` with ``options``; ``answer`` is the index of the right one, ``explanation``
    is shown once the student has chosen, right or wrong."""

    def __init__(
        self, question: str, options: Sequence[str], answer: int, explanation: str
    ) -> None:
        if len(options) < 2:
            raise ValueError(f"a self-check needs at least 2 options, got {len(options)}")
        if isinstance(answer, bool) or not isinstance(answer, int):
            raise ValueError(f"answer must be the index of an option, got {answer!r}")
        if not 0 <= answer < len(options):
            raise ValueError(f"answer must be in 0..{len(options) - 1}, got {answer}")
        self.answer = answer
        self.explanation = explanation
        self.choice = w.RadioButtons(options=list(options), value=None, layout={"width": "auto"})
        self.check = w.Button(description="Check my answer", disabled=True)
        self.feedback = w.HTMLMath()
        self.choice.observe(self._chosen, names="value")
        self.check.on_click(self._checked)
        super().__init__(
            [
                w.HTMLMath(f"<b>Predict, then run.</b> {escape(question)}"),
                self.choice,
                self.check,
                self.feedback,
            ]
        )

    def _chosen(self, _change: dict) -> None:
        self.check.disabled = self.choice.value is None
        self.feedback.value = ""

    def _checked(self, _button: w.Button | None = None) -> None:
        right = self.choice.index == self.answer
        verdict = "Right." if right else "Not quite."
        colour = "#1a7f37" if right else "#b35900"
        self.feedback.value = (
            f'<span style="color:{colour}"><b>{verdict}</b></span> {escape(self.explanation)}'
        )

    @property
    def correct(self) -> bool | None:
        """Whether the chosen option is right; None before a choice."""
        return None if self.choice.index is None else self.choice.index == self.answer
