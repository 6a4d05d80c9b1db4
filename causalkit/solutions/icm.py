"""Reference solutions for the ICM notebook's exercises (``notebooks/03_icm.ipynb``)."""

from __future__ import annotations

import torch

from causalkit import icm
from causalkit.core import child_seed
from causalkit.core.classifier import accuracy
from causalkit.icm.glyphs import glyph_images
from causalkit.icm.mechanisms import MECHANISMS, apply_mechanism, translate
from causalkit.icm.model import Committee
from causalkit.icm.train import judge


def _trained(preset: str, seed: int) -> icm.Result:
    return icm.result(icm.config(preset), seed)


@torch.no_grad()
def _through(committee: Committee, expert: int, images: torch.Tensor) -> torch.Tensor:
    device = next(committee.parameters()).device
    return committee.expert(expert, images.to(device)).cpu()


def _error(images: torch.Tensor, clean: torch.Tensor) -> float:
    return ((images - clean) ** 2).mean().item()


def exercise_1_who_undoes_what(
    preset: str = "quick", seed: int = 0, n: int = 100
) -> dict[str, dict]:
    """Each mechanism's dominant expert (from the final Fig. 5 matrix) applied to that
    mechanism's test digits: a specialised expert brings them much closer to the clean
    digits than they were. Returns, per mechanism, the expert, its share of wins and
    both errors."""
    run = _trained(preset, seed)
    matrix = run.final["matrix"]
    clean = run.data.test[:n]
    generator = torch.Generator().manual_seed(seed)
    answer = {}
    for m, name in enumerate(MECHANISMS):
        expert = int(matrix[m].argmax())
        transformed = apply_mechanism(clean, name, generator)
        answer[name] = {
            "expert": expert,
            "share": matrix[m, expert].item(),
            "error_transformed": _error(transformed, clean),
            "error_expert": _error(_through(run.committee, expert, transformed), clean),
        }
    return answer


def exercise_2_undo_a_known_chain(preset: str = "quick", seed: int = 0) -> dict[str, float]:
    """Symbols through noise, inversion, then up-left translation, undone by the dominant
    experts in two orders. Undoing the last mechanism first inverts the composition
    exactly when each expert inverts its mechanism; the paper's order (denoise first)
    asks the denoiser to work on an inverted, shifted symbol it never saw. Both are
    measured; which wins depends on how well each expert generalises."""
    run = _trained(preset, seed)
    dominant = run.final["matrix"].argmax(dim=1)
    expert_for = {name: int(dominant[m]) for m, name in enumerate(MECHANISMS)}
    clean, _ = glyph_images()
    generator = torch.Generator().manual_seed(seed)
    chain = ("noise", "invert", "up-left")
    transformed = clean
    for name in chain:
        transformed = apply_mechanism(transformed, name, generator)

    def undo(order: tuple[str, ...]) -> torch.Tensor:
        images = transformed
        for name in order:
            images = _through(run.committee, expert_for[name], images)
        return images

    return {
        "error_transformed": _error(transformed, clean),
        "error_reverse_order": _error(undo(chain[::-1]), clean),
        "error_paper_order": _error(undo(chain), clean),
    }


def exercise_3_is_the_judge_right(
    preset: str = "quick", seed: int = 0, n: int = 100
) -> dict[str, dict]:
    """Per mechanism: how often Alg. 1's winner is the mechanism's dominant expert, and the
    error of the winner's output against the dominant expert's output."""
    run = _trained(preset, seed)
    dominant = run.final["matrix"].argmax(dim=1)
    clean = run.data.test[-n:]  # digits the Fig. 5 matrix did not necessarily use
    generator = torch.Generator().manual_seed(child_seed(seed, "exercise-3-judge"))
    answer = {}
    for m, name in enumerate(MECHANISMS):
        transformed = apply_mechanism(clean, name, generator)
        scores, winners_output = judge(run.committee, run.discriminator, transformed)
        answer[name] = {
            "agreement": (scores.argmax(dim=1) == dominant[m]).float().mean().item(),
            "error_winner": _error(winners_output, clean),
            "error_dominant": _error(_through(run.committee, int(dominant[m]), transformed), clean),
        }
    return answer


def exercise_4_half_a_shift(preset: str = "quick", seed: int = 0) -> dict[str, object]:
    """Digits shifted 2 pixels down (training used 4). Returns the experts that win, the
    classifier's accuracy on the shifted digits and on the winners' outputs."""
    run = _trained(preset, seed)
    data, classifier = run.data, run.classifier
    shifted = translate(data.test, 2, 0)
    scores, outputs = judge(run.committee, run.discriminator, shifted)
    winners = scores.argmax(dim=1)
    counts = torch.bincount(winners, minlength=run.committee.n_experts)
    return {
        "winner_shares": (counts / counts.sum()).tolist(),
        "accuracy_shifted": accuracy(classifier, shifted, data.test_labels),
        "accuracy_outputs": accuracy(classifier, outputs, data.test_labels),
        "accuracy_clean": accuracy(classifier, data.test, data.test_labels),
    }
