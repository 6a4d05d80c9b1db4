"""The MNIST ON MTURK world of §4.2 and Supplement E, with simulated annotators.

Chalupka, Perona, Eberhardt, "Visual Causal Feature Learning", UAI 2015. The paper asks
people on Amazon Mechanical Turk "Does this image contain the digit '7'?" about each
manipulated digit; here an ensemble of small CNNs, trained on real digits the manipulators
never see, stands in for them. Each member answers a digit, or "?" (:data:`UNSURE`) when
unsure; the label is the digit a majority of all members name (Supp. E), and for the
``d``-vs-all manipulator T = 1 iff that label is ``d``. Also here: the split of the shipped
digits between annotators and manipulators, each manipulator's causal data (Supp. E), and
Fig. 6 (bottom)'s chain of manipulations. Why the annotators are built as they are
(CNNs, "?" answers, junk and soiled training images): ``docs/cfl-log.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from causalkit.cfl.model import Oracle, relaxed_manipulation
from causalkit.cfl.train import ManipulatorRun
from causalkit.core import child_seed, get_device, progress
from causalkit.data import Digits, stratified_split

UNSURE = -1  # the annotators' "?": no recognisable digit (Supp. E, Fig. 2)
SIDE = 28
N_PIXELS = SIDE * SIDE
N_CLASSES = 10


# --------------------------------------------------------------------------- validation


def check_digit(digit: object) -> int:
    if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit < N_CLASSES:
        raise ValueError(f"digit must be an integer in 0..9, got {digit!r}")
    return digit


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence <= 1:
        raise ValueError(f"confidence must be in (0, 1], got {confidence}")


def _as_batch(images: torch.Tensor) -> torch.Tensor:
    """(Q, 784) or (Q, 28, 28) -> (Q, 1, 28, 28) float, for the annotators' convolutions."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a tensor, got {type(images).__name__}")
    if images.ndim == 2 and images.shape[1] == N_PIXELS:
        images = images.reshape(-1, SIDE, SIDE)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(
            f"images must have shape (Q, 784) or (Q, 28, 28), got {tuple(images.shape)}"
        )
    return images.float()[:, None]


# --------------------------------------------------------------------------- annotators


@dataclass(frozen=True)
class AnnotatorConfig:
    """The simulated MTurk annotators (why each setting: ``docs/cfl-log.md``)."""

    n_annotators: int = 5  # Supp. E: five annotators per image
    confidence: float = 0.7  # below this top softmax probability a member answers "?"
    channels: tuple[int, int] = (8, 16)  # the two conv layers' widths
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 5e-3
    bootstrap: bool = True  # each member sees its own resample of the digits
    # Junk images (target: uniform over the digits) per real digit in a batch.
    junk_ratio: float = 0.25
    # Strongest grey background / pixel noise put on real digits (keeping their label).
    soiling: float = 0.3

    def __post_init__(self) -> None:
        _check_confidence(self.confidence)
        if self.n_annotators < 1:
            raise ValueError(f"n_annotators must be positive, got {self.n_annotators}")
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("epochs, batch_size and learning_rate must be positive")
        if self.junk_ratio < 0:
            raise ValueError(f"junk_ratio must be non-negative, got {self.junk_ratio}")
        if not 0 <= self.soiling <= 1:
            raise ValueError(f"soiling must be in [0, 1], got {self.soiling}")


def annotator_cnn(channels: tuple[int, int] = (8, 16)) -> nn.Module:
    """One annotator: two 5x5 conv layers (each ReLU + 2x2 max-pool) and a linear layer."""
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * (SIDE // 4) ** 2, N_CLASSES),
    )


def junk_images(real: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` images with no digit in them, for the annotators to learn to answer "?".

    Four kinds in equal shares: blank or flat grey, pixel noise (dense or sparse),
    smooth blobs (upsampled coarse noise: ink without strokes), and real digits with
    their pixels shuffled (a digit's ink without its shape). ``real`` is (N, 28, 28).
    """
    kind = torch.randint(4, (n,), generator=generator)
    level = torch.rand(n, 1, 1, generator=generator)
    flat = level.expand(n, SIDE, SIDE) * 0.5
    density = torch.rand(n, 1, 1, generator=generator)
    noise = torch.rand(n, SIDE, SIDE, generator=generator)
    noise = torch.where(
        torch.rand(n, 1, 1, generator=generator) < 0.5, noise, 1.0 * (noise < density)
    )
    coarse = torch.rand(n, 1, 7, 7, generator=generator)
    blobs = nn.functional.interpolate(coarse, size=(SIDE, SIDE), mode="bilinear")[:, 0]
    blobs = (blobs > 0.3 + 0.5 * level).float() * blobs
    source = real[torch.randint(len(real), (n,), generator=generator)].reshape(n, -1)
    order = torch.argsort(torch.rand(n, N_PIXELS, generator=generator), dim=1)
    shuffled = torch.gather(source, 1, order).reshape(n, SIDE, SIDE)
    out = torch.stack([flat, noise, blobs, shuffled])  # (4, n, 28, 28)
    return out[kind, torch.arange(n)].clamp(0, 1)


def soiled_digits(
    images: torch.Tensor, strength: float, generator: torch.Generator
) -> torch.Tensor:
    """Half of ``images`` (N, 28, 28) with a grey background and pixel noise added.

    Each soiled digit gets a background level and a noise amplitude drawn uniformly
    from [0, ``strength``], and keeps its label: a person still reads a '1' on a grey,
    speckled page as a '1'. Annotators trained on clean digits only (and on junk that
    says flat grey means "?") misread digits on a grey page, and the manipulators learned
    to "remove" a digit by shading the page, a removal no person would accept
    (measured: ``docs/cfl-log.md``).
    """
    if strength == 0:
        return images
    n = len(images)
    chosen = (torch.rand(n, 1, 1, generator=generator) < 0.5).float()
    background = torch.rand(n, 1, 1, generator=generator) * strength
    amplitude = torch.rand(n, 1, 1, generator=generator) * strength
    noise = torch.rand(images.shape, generator=generator) * amplitude
    return (images + chosen * (background + noise)).clamp(0, 1)


def _train_member(
    images: torch.Tensor, labels: torch.Tensor, config: AnnotatorConfig, seed: int
) -> nn.Module:
    device = get_device()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    if config.bootstrap:
        pick = torch.randint(len(images), (len(images),), generator=generator)
        images, labels = images[pick], labels[pick]
    net = annotator_cnn(config.channels).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    y = labels.to(device)
    n_junk = round(config.batch_size * config.junk_ratio)
    uniform = torch.full((n_junk, N_CLASSES), 1.0 / N_CLASSES, device=device)
    for _ in range(config.epochs):
        batches = torch.randperm(len(y), generator=generator).split(config.batch_size)
        # One draw of junk per epoch: drawing it batch by batch doubled the training time.
        junk_pool = junk_images(images, n_junk * len(batches), generator)[:, None].to(device)
        soiled = soiled_digits(images, config.soiling, generator)[:, None].to(device)
        for b, batch in enumerate(batches):
            loss = nn.functional.cross_entropy(net(soiled[batch]), y[batch])
            if n_junk:
                junk = junk_pool[b * n_junk : (b + 1) * n_junk]
                # Cross-entropy to the uniform distribution: no digit in particular.
                loss = loss + config.junk_ratio * nn.functional.cross_entropy(net(junk), uniform)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    if not torch.isfinite(loss):
        raise FloatingPointError("annotator training diverged (loss is not finite)")
    return net.eval()


def majority_vote(votes: torch.Tensor) -> torch.Tensor:
    """Supp. E's final label: the digit named by more than half of the members, else "?".

    ``votes`` is (M, Q) with entries in 0..9 or :data:`UNSURE`; "?" votes count
    towards the total, so a digit with 2 of 5 votes is no majority even if the
    other three are all "?".
    """
    if votes.ndim != 2:
        raise ValueError(f"votes must have shape (members, Q), got {tuple(votes.shape)}")
    n_members = votes.shape[0]
    counts = torch.stack([(votes == d).sum(dim=0) for d in range(N_CLASSES)])  # (10, Q)
    best_count, best_digit = counts.max(dim=0)
    return torch.where(2 * best_count > n_members, best_digit, torch.full_like(best_digit, UNSURE))


@dataclass
class Annotators:
    """An ensemble of simulated annotators: each answers a digit or "?" (:data:`UNSURE`)."""

    members: list[nn.Module]
    confidence: float = 0.7

    def __post_init__(self) -> None:
        _check_confidence(self.confidence)
        if not self.members:
            raise ValueError("an ensemble needs at least one annotator")

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(M, Q, 10): every member's softmax over the ten digits."""
        batch = _as_batch(images)
        device = next(self.members[0].parameters()).device
        out = []
        for member in self.members:
            parts = [member(chunk.to(device)).softmax(-1).cpu() for chunk in batch.split(1024)]
            out.append(torch.cat(parts) if parts else torch.empty(0, N_CLASSES))
        return torch.stack(out)

    def votes(self, images: torch.Tensor) -> torch.Tensor:
        """(M, Q): each member's digit, or "?" where its top probability is below confidence."""
        top, digit = self.probabilities(images).max(dim=-1)
        return torch.where(top >= self.confidence, digit, torch.full_like(digit, UNSURE))

    def answer(self, images: torch.Tensor) -> torch.Tensor:
        """(Q,) the majority label of the members (:func:`majority_vote`), a LongTensor."""
        return majority_vote(self.votes(images)).long()

    def score(self, digits: Digits) -> dict[str, float | list[float]]:
        """How the annotators do on real digits: accuracy ("?" counts as wrong), "?" rate."""
        answers = self.answer(digits.images)
        member_votes = self.votes(digits.images)
        return {
            "accuracy": float((answers == digits.labels).float().mean()),
            "unsure": float((answers == UNSURE).float().mean()),
            "member_accuracy": (member_votes == digits.labels).float().mean(dim=1).tolist(),
        }


def train_annotators(digits: Digits, config: AnnotatorConfig, seed: int) -> Annotators:
    """Train ``config.n_annotators`` CNNs, each from its own seed and bootstrap resample."""
    if len(digits) < N_CLASSES:
        raise ValueError(f"need at least {N_CLASSES} digits to train annotators, got {len(digits)}")
    members = [
        _train_member(digits.images, digits.labels, config, child_seed(seed, "annotator", k))
        for k in progress(range(config.n_annotators), desc="annotators")
    ]
    return Annotators(members, config.confidence)


def one_vs_all_oracle(annotators: Annotators, digit: int) -> Oracle:
    """§4.2: T = 1 iff the annotators say ``digit`` ("Does this image contain the digit '7'?").

    "?" and every other digit are T = 0.
    """
    digit = check_digit(digit)

    def oracle(images: torch.Tensor) -> torch.Tensor:
        return (annotators.answer(images) == digit).long()

    return oracle


# --------------------------------------------------------------------------- data


def split_digits(
    labels: torch.Tensor, annotator_share: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint, stratified (annotator, manipulator) index sets into ``labels``."""
    if not 0 < annotator_share < 1:
        raise ValueError(f"annotator_share must be in (0, 1), got {annotator_share}")
    annotator, manipulator = stratified_split(labels, (annotator_share, 1 - annotator_share), seed)
    return annotator, manipulator


def digit_training_set(
    labels: torch.Tensor, pool: torch.Tensor, digit: int, size: int, seed: int
) -> torch.Tensor:
    """Supp. E's training set for the ``digit``-vs-all manipulator, as indices into ``labels``.

    Half (``size // 2``) are ``digit``s, the rest random other digits, all drawn from
    ``pool`` (the manipulators' indices).
    """
    digit = check_digit(digit)
    generator = torch.Generator().manual_seed(seed)
    own = pool[labels[pool] == digit]
    other = pool[labels[pool] != digit]
    n_own = size // 2
    if n_own > len(own) or size - n_own > len(other):
        raise ValueError(
            f"per_digit={size} needs {n_own} '{digit}'s but the pool has only {len(own)}"
        )
    chosen = torch.cat(
        [
            own[torch.randperm(len(own), generator=generator)[:n_own]],
            other[torch.randperm(len(other), generator=generator)[: size - n_own]],
        ]
    )
    return chosen[torch.randperm(len(chosen), generator=generator)]


def manipulator_chain(
    run: ManipulatorRun,
    image: torch.Tensor,
    target: int,
    alpha: float,
    steps: int = 150,
    learning_rate: float = 0.1,
) -> torch.Tensor:
    """Fig. 6 (bottom): one digit pushed through the manipulators of successive iterations.

    Each C of Alg. 2 (``run.iterations[k].net`` for k = 0..K-1, then the final
    ``run.net``) manipulates the *original* image towards causal class ``target``
    (Alg. 2 step 6). Returns (K + 2, 784): the original, then one row per C.
    """
    if isinstance(target, bool) or target not in (0, 1):
        raise ValueError(f"target must be the causal class 0 or 1, got {target!r}")
    if not isinstance(image, torch.Tensor) or tuple(image.shape) not in ((N_PIXELS,), (SIDE, SIDE)):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must have shape (784,) or (28, 28), got {shape}")
    original = image.float().reshape(1, N_PIXELS)
    goal = torch.tensor([target])
    nets: Sequence[nn.Module] = [it.net for it in run.iterations] + [run.net]
    rows = [original]
    for net in nets:
        rows.append(relaxed_manipulation(net, original, goal, alpha, steps, learning_rate))
    return torch.cat(rows)
