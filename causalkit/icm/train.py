"""Alg. 1: experts compete for transformed digits, a discriminator judges them (§4, App. B).

One *iteration* (§4): a minibatch of transformed digits goes through every expert;
the discriminator scores every output; each example's highest-scoring expert is
trained on it to fool the discriminator; the discriminator is trained against every
expert's output (so the losers are punished too) and on a minibatch of canonical digits.
Also here: App. B's identity initialisation, and what is measured along the way (who
wins which mechanism, Fig. 5; the scores of Fig. 4; the accuracies of Fig. 6).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from causalkit.core import flush_denormal, get_device, progress, seed_everything
from causalkit.core.classifier import predict
from causalkit.icm.mechanisms import MECHANISMS, IcmData, apply_mechanisms, draw_transformed
from causalkit.icm.model import (
    Committee,
    Discriminator,
    ExpertAdam,
    eq2_winner_loss,
    eq3_discriminator_loss,
)


@dataclass(frozen=True)
class CompetitionConfig:
    n_experts: int = 10
    width: int = 32  # filters per expert layer (§4)
    depth: int = 5  # conv layers per expert (§4)
    iterations: int = 2000  # §4: "each experiment is run for 2000 iterations"
    batch_size: int = 32  # §4
    learning_rate: float = 1e-3  # Adam defaults (§4)
    identity_iterations: int = 500  # App. B: at most 500 iterations ...
    identity_mse: float = 0.002  # ... or until the MSE is below 0.002
    eval_every: int = 50
    probe_digits: int = 30  # test digits per mechanism in the curves of Fig. 4 and Fig. 6

    def __post_init__(self) -> None:
        for name in (
            "n_experts",
            "width",
            "iterations",
            "batch_size",
            "eval_every",
            "probe_digits",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.depth < 2 or self.identity_iterations < 0 or not 0 < self.identity_mse < 1:
            raise ValueError("need depth >= 2, identity_iterations >= 0, identity_mse in (0, 1)")


def approximate_identity(
    committee: Committee,
    hidden: torch.Tensor,
    config: CompetitionConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """App. B's approximate-identity initialisation; returns each expert's iteration count.

    Each expert learns to copy transformed digits (input = target) until its minibatch
    MSE drops below ``identity_mse`` or ``identity_iterations`` pass. Experts that
    reach the threshold stop being updated while the others go on.
    """
    device = next(committee.parameters()).device
    optimiser = ExpertAdam(committee.expert_parameters(), config.learning_rate)
    done = torch.zeros(committee.n_experts, dtype=torch.bool, device=device)
    used = torch.zeros(committee.n_experts, dtype=torch.long)
    for _ in progress(range(config.identity_iterations), desc="identity init"):
        x, _ = draw_transformed(hidden, config.batch_size, generator)
        x = x.to(device)
        mse = ((committee(x) - x[:, None]) ** 2).mean(dim=(0, 2, 3, 4))
        done |= mse.detach() < config.identity_mse
        if done.all():
            break
        optimiser.zero_grad()
        mse.sum().backward()  # experts share no parameters: each gets its own MSE's gradient
        optimiser.step(~done)
        used += (~done).long().cpu()
    return used


def competition_step(
    committee: Committee,
    discriminator: Discriminator,
    expert_optimiser: ExpertAdam,
    disc_optimiser: torch.optim.Optimizer,
    transformed: torch.Tensor,
    real: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """One iteration of Alg. 1 (steps 3-6); returns the winners and both losses.

    Both updates use the scores c_j computed before either network moves, as Alg. 1
    writes them: Eq. 2 for the winners, Eq. 3 for the discriminator.
    """
    outputs = committee(transformed)  # step 4: every example through every expert
    b, n = outputs.shape[:2]
    fake_logits = discriminator(outputs.detach().flatten(0, 1)).view(b, n)
    real_logits = discriminator(real)
    winners = fake_logits.detach().argmax(dim=1)

    won_logits = discriminator(outputs[torch.arange(b), winners])
    counts = torch.bincount(winners, minlength=n)
    expert_loss = eq2_winner_loss(won_logits, counts[winners])
    params = committee.expert_parameters()
    for p, g in zip(params, torch.autograd.grad(expert_loss, params), strict=True):
        p.grad = g

    disc_loss = eq3_discriminator_loss(real_logits, fake_logits)
    if not (torch.isfinite(disc_loss) and torch.isfinite(expert_loss)):
        raise FloatingPointError("the competition diverged: a loss is not finite")
    disc_optimiser.zero_grad()
    disc_loss.backward()
    disc_optimiser.step()
    expert_optimiser.step(counts > 0)  # step 6: only the winners move
    return {
        "winners": winners,
        "disc_loss": disc_loss.detach(),
        "expert_loss": expert_loss.detach(),
    }


@torch.no_grad()
def judge(
    committee: Committee, discriminator: Discriminator, images: torch.Tensor, batch_size: int = 200
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every expert on every image, in eval mode: (scores c_j as (N, N') probabilities,
    the highest-scoring expert's output as (N, 1, 32, 32)). Returned on the CPU."""
    was_training = committee.training, discriminator.training
    committee.eval()
    discriminator.eval()
    device = next(committee.parameters()).device
    scores, best = [], []
    for chunk in images.split(batch_size):
        outputs = committee(chunk.to(device))
        logits = discriminator(outputs.flatten(0, 1)).view(outputs.shape[:2])
        winners = logits.argmax(dim=1)
        scores.append(torch.sigmoid(logits).cpu())
        best.append(outputs[torch.arange(len(chunk)), winners].cpu())
    committee.train(was_training[0])
    discriminator.train(was_training[1])
    return torch.cat(scores), torch.cat(best)


def specialisation_matrix(
    scores: torch.Tensor, mechanisms: torch.Tensor, n_mechanisms: int = len(MECHANISMS)
) -> torch.Tensor:
    """Fig. 5: entry (m, j) is the share of mechanism m's examples that expert j wins."""
    winners = scores.argmax(dim=1)
    counts = torch.zeros(n_mechanisms, scores.shape[1])
    counts.index_put_((mechanisms, winners), torch.ones(len(winners)), accumulate=True)
    return counts / counts.sum(dim=1, keepdim=True).clamp(min=1)


def mechanisms_specialised(matrix: torch.Tensor, threshold: float = 0.9) -> int:
    """How many mechanisms have a *distinct* dominant expert.

    Mechanism m counts when one expert wins at least ``threshold`` of its examples and
    that expert dominates no other mechanism: an expert that took two mechanisms
    (§5's "one expert specialized on two tasks") counts for neither.
    """
    if not 0.5 < threshold <= 1:
        raise ValueError(f"threshold must be in (0.5, 1], got {threshold}")
    share, expert = matrix.max(dim=1)
    dominant = expert[share >= threshold]
    return int(sum((dominant == j).sum() == 1 for j in dominant.unique()))


@dataclass(frozen=True)
class Probe:
    """A fixed set of transformed test digits, measured every ``eval_every`` iterations."""

    images: torch.Tensor
    clean: torch.Tensor
    labels: torch.Tensor
    mechanisms: torch.Tensor


def make_probe(data: IcmData, per_mechanism: int, generator: torch.Generator) -> Probe:
    """``per_mechanism`` test digits under each mechanism (the same digits for all ten)."""
    pick = torch.randperm(len(data.test), generator=generator)[:per_mechanism]
    clean = data.test[pick].repeat(len(MECHANISMS), 1, 1, 1)
    mechanisms = torch.arange(len(MECHANISMS)).repeat_interleave(per_mechanism)
    return Probe(
        apply_mechanisms(clean, mechanisms, generator),
        clean,
        data.test_labels[pick].repeat(len(MECHANISMS)),
        mechanisms,
    )


def measure(
    committee: Committee, discriminator: Discriminator, probe: Probe, classifier: nn.Module
) -> dict[str, torch.Tensor]:
    """Fig. 4, 5 and 6 at one moment: mean score of each expert on each mechanism,
    who wins what, and the classifier's accuracy on transformed and inverted digits."""
    scores, inverted = judge(committee, discriminator, probe.images)
    per_mechanism = torch.stack(
        [scores[probe.mechanisms == m].mean(0) for m in range(len(MECHANISMS))]
    )
    return {
        "scores": per_mechanism,
        "wins": specialisation_matrix(scores, probe.mechanisms),
        "accuracy_transformed": (predict(classifier, probe.images) == probe.labels).float().mean(),
        "accuracy_inverted": (predict(classifier, inverted) == probe.labels).float().mean(),
    }


def train_committee(
    config: CompetitionConfig,
    data: IcmData,
    classifier: nn.Module,
    seed: int,
    *,
    experts: dict[str, object] | None = None,
) -> dict[str, object]:
    """Alg. 1 end to end: identity init, ``iterations`` of competition, curves along the way.

    ``experts`` starts the competition from experts initialised elsewhere (the
    ``identity_state``, ``identity_iterations`` and ``identity_seconds`` of another
    run, or of :func:`identity_experts`, for ``config.n_experts`` experts) instead of
    running App. B's initialisation here.

    Returns tensors and numbers only (cacheable): the committee's and discriminator's
    weights, the experts as they were after the identity init (``identity_state``),
    ``identity_iterations`` per expert, and the history -- ``iterations`` (T,),
    ``scores`` and ``wins`` (T, 10, N'), ``accuracy_transformed`` and
    ``accuracy_inverted`` (T,) -- plus ``train_seconds`` (init and competition, without
    the measurements) and ``seconds_per_iteration``.
    """
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    device = get_device()
    committee = Committee(config.n_experts, config.width, config.depth).to(device)
    discriminator = Discriminator().to(device)
    probe = make_probe(data, config.probe_digits, generator)
    history: list[dict[str, torch.Tensor]] = []
    marks: list[int] = []
    with flush_denormal():
        if experts is None:
            start = time.perf_counter()
            identity = approximate_identity(committee, data.hidden, config, generator)
            init_seconds = time.perf_counter() - start
        else:
            committee.load_state_dict(experts["identity_state"])
            identity, init_seconds = experts["identity_iterations"], experts["identity_seconds"]
        identity_state = {k: v.detach().cpu().clone() for k, v in committee.state_dict().items()}
        expert_optimiser = ExpertAdam(committee.expert_parameters(), config.learning_rate)
        disc_optimiser = torch.optim.Adam(discriminator.parameters(), config.learning_rate)
        history.append(measure(committee, discriminator, probe, classifier))
        marks.append(0)
        loop_seconds = 0.0
        for it in progress(
            range(1, config.iterations + 1), desc=f"competition ({config.n_experts} experts)"
        ):
            tick = time.perf_counter()
            transformed, _ = draw_transformed(data.hidden, config.batch_size, generator)
            real = data.canonical[
                torch.randint(len(data.canonical), (config.batch_size,), generator=generator)
            ]
            competition_step(
                committee,
                discriminator,
                expert_optimiser,
                disc_optimiser,
                transformed.to(device),
                real.to(device),
            )
            loop_seconds += time.perf_counter() - tick
            if it % config.eval_every == 0 or it == config.iterations:
                history.append(measure(committee, discriminator, probe, classifier))
                marks.append(it)
    return {
        "committee": {k: v.cpu() for k, v in committee.state_dict().items()},
        "discriminator": {k: v.cpu() for k, v in discriminator.state_dict().items()},
        "identity_state": identity_state,
        "identity_iterations": identity,
        "identity_seconds": init_seconds,
        "iterations": torch.tensor(marks),
        **{key: torch.stack([h[key] for h in history]) for key in history[0]},
        "train_seconds": init_seconds + loop_seconds,
        "seconds_per_iteration": loop_seconds / config.iterations,
    }


def identity_experts(
    config: CompetitionConfig, data: IcmData, n_experts: int, seed: int
) -> dict[str, object]:
    """``n_experts`` freshly built experts through App. B's identity init, on their own.

    Returns what :func:`train_committee` takes as ``experts``: their weights
    (``identity_state``), ``identity_iterations`` and ``identity_seconds``.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    committee = Committee(n_experts, config.width, config.depth).to(get_device())
    with flush_denormal():
        start = time.perf_counter()
        used = approximate_identity(committee, data.hidden, config, generator)
        seconds = time.perf_counter() - start
    return {
        "identity_state": {k: v.cpu() for k, v in committee.state_dict().items()},
        "identity_iterations": used,
        "identity_seconds": seconds,
    }


def join_experts(*parts: tuple[dict[str, object], int]) -> dict[str, object]:
    """Experts taken from several identity-initialised committees, as one committee's start.

    Each part is (``experts`` as :func:`identity_experts` returns them, how many of its
    first experts to take). Every committee tensor has the expert as its leading
    dimension, so taking and joining experts is slicing and concatenating.
    ``identity_seconds`` is the parts' whole init time, shared inits counted in full.
    """
    if not parts:
        raise ValueError("join_experts needs at least one part")
    for experts, count in parts:
        available = len(experts["identity_iterations"])
        if not 0 < count <= available:
            raise ValueError(f"cannot take {count} experts from a committee of {available}")
    keys = parts[0][0]["identity_state"].keys()
    return {
        "identity_state": {
            key: torch.cat([experts["identity_state"][key][:count] for experts, count in parts])
            for key in keys
        },
        "identity_iterations": torch.cat(
            [experts["identity_iterations"][:count] for experts, count in parts]
        ),
        "identity_seconds": sum(experts["identity_seconds"] for experts, _ in parts),
    }


def load_committee(
    state: dict[str, object], config: CompetitionConfig
) -> tuple[Committee, Discriminator]:
    """Rebuild the trained committee and discriminator from :func:`train_committee`'s result."""
    device = get_device()
    committee = Committee(config.n_experts, config.width, config.depth)
    committee.load_state_dict(state["committee"])
    discriminator = Discriminator()
    discriminator.load_state_dict(state["discriminator"])
    return committee.to(device).eval(), discriminator.to(device).eval()
