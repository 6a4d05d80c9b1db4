"""The MNIST CGN (Sauer & Geiger, ICLR 2021, arXiv:2101.06046): the SCM of App. B.

    M := f_shape(Y_1, U_1),   F := f_text,1(Y_2, U_2),   B := f_text,2(Y_3, U_3),
    X_gen := C(M, F, B) = M ⊙ F + (1 − M) ⊙ B                       (Eq. 2)

One learned network per structural assignment and the fixed composer :func:`compose`.
Each mechanism takes its own noise u ~ N(0, I) and class y (Fig. 2), so a counterfactual
(§2.2–2.3) is one call with a different y per mechanism. The texture mechanisms end in the
patch-shuffling layer of §3.1; the class-conditional :class:`Discriminator` supervises the
composite for MNIST (§3.1); :func:`counterfactual_grid` draws Fig. 3's grids. The losses
are in :mod:`~causalkit.cgn.losses`; what the paper leaves open and what this code chose
is in ``docs/cgn-log.md``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from causalkit.cgn.variants import N_CLASSES, SIDE
from causalkit.core.validate import check_int

LATENT_DIM = 32  # released MNIST configs; the paper gives no size
NGF = 32  # generator base width, released MNIST configs
NDF = 32  # discriminator base width
# The paper gives no patch size for MNIST. 8×8 patches (a 4×4 grid) hold a stroke's
# width and a Wildlife stripe period (4–8 px) but no whole digit (~20 px tall).
PATCH_SIZE = 8


def draw_on(generator: torch.Generator | None, device: torch.device) -> torch.device:
    """Where to draw random numbers: on the generator's device when one is given (torch
    refuses a CPU generator for CUDA draws), else on ``device``. A seeded CPU generator so
    gives a CGN on the GPU the same noise as on the CPU."""
    return generator.device if generator is not None else device


# --------------------------------------------------------------------------- validation


def _check_real(name: str, value: object, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not low <= value <= high  # also rejects NaN
    ):
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def _check_tensor(name: str, x: object, ndim: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    return x


def _check_mask(mask: object) -> torch.Tensor:
    mask = _check_tensor("mask", mask, 4)
    if mask.shape[1] != 1:
        raise ValueError(f"mask must have shape (N, 1, H, W), got {tuple(mask.shape)}")
    if mask.numel() and not (mask.min() >= 0 and mask.max() <= 1):  # NaN fails both
        raise ValueError("mask values must lie in [0, 1] (an alpha map, Eq. 2)")
    return mask


def _check_labels(y: object, n: int, n_classes: int) -> torch.Tensor:
    if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"labels must be an integer tensor, got {getattr(y, 'dtype', type(y))}")
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(y.shape)}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        low, high = int(y.min()), int(y.max())
        raise ValueError(f"labels must be classes in 0..{n_classes - 1}, got {low}..{high}")
    return y.long()


def _check_classes(name: str, classes: object, n_classes: int) -> list[int]:
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or not classes:
        raise ValueError(f"{name} must be a non-empty sequence of classes, got {classes!r}")
    return [check_int(f"{name}[{i}]", c, 0, n_classes) for i, c in enumerate(classes)]


# --------------------------------------------------------------------------- Eq. 2


def compose(mask: torch.Tensor, foreground: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """The fixed composer C of Eq. 2: x_gen = m ⊙ f + (1 − m) ⊙ b (alpha blending).

    ``mask`` (N, 1, H, W) with values in [0, 1], broadcast over the channels of
    ``foreground`` and ``background`` (N, 3, H, W). Returns (N, 3, H, W).
    """
    mask = _check_mask(mask)
    for name, image in (("foreground", foreground), ("background", background)):
        image = _check_tensor(name, image, 4)
        if image.shape[1] != 3:
            raise ValueError(f"{name} must have 3 channels (N, 3, H, W), got {tuple(image.shape)}")
        if (image.shape[0], *image.shape[2:]) != (mask.shape[0], *mask.shape[2:]):
            raise ValueError(
                f"{name} {tuple(image.shape)} and mask {tuple(mask.shape)} must share N, H and W"
            )
    return mask * foreground + (1 - mask) * background


# --------------------------------------------------------------------------- μ_mask (Eq. 3, §4.2)


def mask_mean(mask: torch.Tensor) -> torch.Tensor:
    """μ_mask per image, the pixel average (1/N) Σ_i m_i of Eq. 3: (B, 1, H, W) → (B,).

    Its batch average is the μ_mask that §4.2 / Table 1 monitor in training: near
    1 the texture mechanism has taken over the image, near 0 the background has.
    """
    return _check_mask(mask).mean(dim=(1, 2, 3))


# --------------------------------------------------------------------------- §3.1 texture bias


class PatchShuffle(nn.Module):
    """The texture mechanism's shuffling layer (§3.1): cut the image into
    ``patch_size``² patches and permute them at random, per image, "similar to a
    shuffled sliding puzzle".

    The output keeps every patch (the texture) but loses where each patch was
    (the global shape), so f_text gains nothing from drawing a digit. Without a
    ``generator`` the permutations come from torch's global RNG; with one they are
    a function of its state, so a seeded generator reproduces them.

    Training and evaluation behave alike: the shuffle is part of the mechanism
    (its permutation is part of the exogenous noise U of f_text), not a
    regulariser like dropout. Switching it off at evaluation would show output
    the mechanism was never trained to make look real.
    """

    def __init__(self, patch_size: int = PATCH_SIZE) -> None:
        super().__init__()
        self.patch_size = check_int("patch_size", patch_size, 1)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, C, H, W) → (N, C, H, W) with the patches of each image permuted."""
        x = _check_tensor("x", x, 4)
        n, c, h, w = x.shape
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(f"image side {h}×{w} is not a multiple of patch_size {p}")
        rows, cols = h // p, w // p
        patches = x.reshape(n, c, rows, p, cols, p).permute(0, 2, 4, 1, 3, 5)
        patches = patches.reshape(n, rows * cols, c, p, p)
        order = torch.rand(n, rows * cols, generator=generator, device=draw_on(generator, x.device))
        order = order.to(x.device).argsort(dim=1)
        shuffled = patches[torch.arange(n, device=x.device)[:, None], order]
        shuffled = shuffled.reshape(n, rows, cols, c, p, p).permute(0, 3, 1, 4, 2, 5)
        return shuffled.reshape(n, c, h, w)

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}"


# --------------------------------------------------------------------------- mechanisms (App. B)


def _up_block(c_in: int, c_out: int) -> list[nn.Module]:
    # Upsample + conv rather than transposed conv: no checkerboard artefacts.
    return [
        nn.Upsample(scale_factor=2),
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),  # batch norm supplies the bias
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2),
    ]


class _Mechanism(nn.Module):
    """Shared input handling: z = [u, one-hot(y)] for one class-conditional mechanism."""

    def __init__(self, n_classes: int, latent_dim: int) -> None:
        super().__init__()
        self.n_classes = check_int("n_classes", n_classes, 2)
        self.latent_dim = check_int("latent_dim", latent_dim, 1)

    def _input(self, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        u = _check_tensor("u", u, 2)
        if u.shape[1] != self.latent_dim:
            raise ValueError(f"u must have shape (N, {self.latent_dim}), got {tuple(u.shape)}")
        y = _check_labels(y, u.shape[0], self.n_classes)
        return torch.cat([u, F.one_hot(y, self.n_classes).to(u.dtype)], dim=1)


class ShapeMechanism(_Mechanism):
    """f_shape (App. B): (u, y) → mask m, (N, 1, 32, 32) in [0, 1].

    Linear(latent + classes → 2·ngf·8·8) → reshape → BN → [Upsample×2, Conv3×3
    2·ngf → ngf, BN, LeakyReLU] → Upsample×2 → Conv3×3 ngf → 1 → sigmoid. The paper lists
    no layers; these follow the authors' released MNIST code, with the changes listed in
    ``docs/cgn-log.md`` (one-hot label, sigmoid mask, 8×8 patch shuffle).
    """

    def __init__(
        self, n_classes: int = N_CLASSES, latent_dim: int = LATENT_DIM, ngf: int = NGF
    ) -> None:
        super().__init__(n_classes, latent_dim)
        ngf = check_int("ngf", ngf, 1)
        init = SIDE // 4
        self.net = nn.Sequential(
            nn.Linear(latent_dim + n_classes, 2 * ngf * init * init),
            nn.Unflatten(1, (2 * ngf, init, init)),
            nn.BatchNorm2d(2 * ngf),
            *_up_block(2 * ngf, ngf),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(ngf, 1, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mask for noise ``u`` (N, latent_dim) and classes ``y`` (N,)."""
        return self.net(self._input(u, y))


class TextureMechanism(_Mechanism):
    """f_text,1 (foreground) or f_text,2 (background) for MNIST (App. B, §3.1).

    (u, y) → image (N, 3, 32, 32) in [0, 1]: Linear(latent + classes → 2·ngf·8·8)
    → reshape → [Upsample×2, Conv3×3 2·ngf → 2·ngf, BN, LeakyReLU] → [Upsample×2,
    Conv3×3 2·ngf → ngf, BN, LeakyReLU] → Conv3×3 ngf → 3 → sigmoid →
    :class:`PatchShuffle`. The shuffle is the last layer, as in §3.1 ("an
    additional layer before the final output"); after the pointwise sigmoid or
    before it is the same.
    """

    def __init__(
        self,
        n_classes: int = N_CLASSES,
        latent_dim: int = LATENT_DIM,
        ngf: int = NGF,
        patch_size: int = PATCH_SIZE,
    ) -> None:
        super().__init__(n_classes, latent_dim)
        ngf = check_int("ngf", ngf, 1)
        init = SIDE // 4
        self.net = nn.Sequential(
            nn.Linear(latent_dim + n_classes, 2 * ngf * init * init),
            nn.Unflatten(1, (2 * ngf, init, init)),
            *_up_block(2 * ngf, 2 * ngf),
            *_up_block(2 * ngf, ngf),
            nn.Conv2d(ngf, 3, 3, padding=1),
            nn.Sigmoid(),
        )
        self.shuffle = PatchShuffle(patch_size)

    def forward(
        self, u: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Texture for ``u`` (N, latent_dim), ``y`` (N,); ``generator`` drives the shuffle."""
        return self.shuffle(self.net(self._input(u, y)), generator)


# --------------------------------------------------------------------------- the CGN


class CGN(nn.Module):
    """The MNIST CGN: f_shape, f_text,1, f_text,2 and the composer (App. B, Fig. 2).

    Images (mask, foreground, background, composite) are 32×32 and lie in [0, 1].
    """

    def __init__(
        self,
        n_classes: int = N_CLASSES,
        latent_dim: int = LATENT_DIM,
        ngf: int = NGF,
        patch_size: int = PATCH_SIZE,
    ) -> None:
        super().__init__()
        self.n_classes = check_int("n_classes", n_classes, 2)
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        self.f_shape = ShapeMechanism(n_classes, latent_dim, ngf)
        self.f_text1 = TextureMechanism(n_classes, latent_dim, ngf, patch_size)
        self.f_text2 = TextureMechanism(n_classes, latent_dim, ngf, patch_size)

    def forward(
        self,
        u_shape: torch.Tensor,
        y_shape: torch.Tensor,
        u_fg: torch.Tensor,
        y_fg: torch.Tensor,
        u_bg: torch.Tensor,
        y_bg: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Run each mechanism on its own (u, y) and compose (App. B, Eq. 2).

        Every u is (N, latent_dim) and every y (N,). Giving the mechanisms
        different y's is an intervention on each (§2.2–2.3). ``generator`` drives
        the texture mechanisms' patch shuffles. Returns ``mask`` (N, 1, 32, 32),
        ``foreground``, ``background`` and ``composite`` (N, 3, 32, 32).
        """
        noise = {"u_shape": u_shape, "u_fg": u_fg, "u_bg": u_bg}
        sizes = {name: _check_tensor(name, u, 2).shape[0] for name, u in noise.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"the three mechanisms need one batch size, got {sizes}")
        mask = self.f_shape(u_shape, y_shape)
        foreground = self.f_text1(u_fg, y_fg, generator)
        background = self.f_text2(u_bg, y_bg, generator)
        return {
            "mask": mask,
            "foreground": foreground,
            "background": background,
            "composite": compose(mask, foreground, background),
        }

    def sample_inputs(
        self,
        n: int,
        generator: torch.Generator | None = None,
        counterfactual: bool | float = False,
    ) -> dict[str, torch.Tensor]:
        """Draw (u, y) for each mechanism: u ~ N(0, I), y uniform (Fig. 2).

        ``counterfactual`` is the fraction of the batch whose three mechanisms get
        independent draws (``True`` = 1.0, ``False`` = 0.0): exactly
        round(fraction · n) images, at random positions, flagged in the returned
        ``counterfactual`` (n,) bool tensor. The other images share one (u, y)
        across the mechanisms, as in CGN training (§3.1: "we utilize the same
        noise u and label y"). Independent classes can still coincide, with
        chance 1/n_classes. This fraction is not the paper's "ratio" (real to
        counterfactual images in a classifier batch, §3.2; counterfactuals per
        noise, App. A.3), which are choices of the classifier's training loop.
        """
        n = check_int("n", n, 1)
        if isinstance(counterfactual, bool):
            counterfactual = float(counterfactual)
        ratio = _check_real("counterfactual", counterfactual, 0.0, 1.0)
        device = next(self.parameters()).device
        home = draw_on(generator, device)
        draws = {}
        for part in ("shape", "fg", "bg"):
            u = torch.randn(n, self.latent_dim, generator=generator, device=home)
            y = torch.randint(self.n_classes, (n,), generator=generator, device=home)
            draws[f"u_{part}"], draws[f"y_{part}"] = u.to(device), y.to(device)
        chosen = torch.randperm(n, generator=generator, device=home)[: round(ratio * n)]
        chosen = chosen.to(device)
        is_cf = torch.zeros(n, dtype=torch.bool, device=device)
        is_cf[chosen] = True
        for part in ("fg", "bg"):
            for var in ("u", "y"):
                shared = draws[f"{var}_shape"]
                keep = is_cf if var == "y" else is_cf[:, None]
                draws[f"{var}_{part}"] = torch.where(keep, draws[f"{var}_{part}"], shared)
        draws["counterfactual"] = is_cf
        return draws

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        counterfactual: bool | float = False,
    ) -> dict[str, torch.Tensor]:
        """:meth:`sample_inputs` then :meth:`forward`: inputs and outputs in one dict.

        Differentiable (no ``no_grad``), so it serves the generator step of
        training as well as drawing counterfactual data for a classifier (§3.2).
        """
        inputs = self.sample_inputs(n, generator, counterfactual)
        args = {k: v for k, v in inputs.items() if k != "counterfactual"}
        return {**inputs, **self(**args, generator=generator)}


@torch.no_grad()
def swap_roles(cgn: CGN) -> None:
    """Turn a CGN into the other representative of its SCM, in place.

    Negates the mask's last logit layer (σ(−z) = 1 − σ(z)) and swaps the two texture
    mechanisms: by the composer's symmetry C(m, f, b) = C(1 − m, b, f) (Eq. 2) every
    composite stays the same, while the mask now covers the other region.
    """
    if not isinstance(cgn, CGN):
        raise ValueError(f"cgn must be a CGN, got {type(cgn).__name__}")
    logit = cgn.f_shape.net[-2]
    logit.weight.neg_()
    logit.bias.neg_()
    cgn.f_text1, cgn.f_text2 = cgn.f_text2, cgn.f_text1


@torch.no_grad()
def orient_roles(cgn: CGN, n: int = 512, generator: torch.Generator | None = None) -> bool:
    """Make the mask the *object*: swap the roles if the mask covers most of the image.

    The composer is symmetric: C(m, f, b) = C(1 − m, b, f) (Eq. 2). A CGN whose
    mask covers the surroundings, with f_text,1 painting the background and
    f_text,2 the digit through a hole, generates exactly the same images as one
    with the intended roles, and no loss of the paper tells them apart (L_mask's
    interval [τ, 1 − τ] is symmetric too). Training on the MNIST variants ends
    in either. This picks the representative in which the shape is the smaller
    region (μ_mask < 0.5 on ``n`` samples): if it is not, it calls
    :func:`swap_roles`, which leaves every composite unchanged. Returns whether it
    swapped.
    """
    if not isinstance(cgn, CGN):
        raise ValueError(f"cgn must be a CGN, got {type(cgn).__name__}")
    was_training = cgn.training
    cgn.eval()
    mu = mask_mean(cgn.sample(check_int("n", n, 1), generator)["mask"]).mean().item()
    cgn.train(was_training)
    if mu <= 0.5:
        return False
    swap_roles(cgn)
    return True


# --------------------------------------------------------------------------- discriminator


class Discriminator(nn.Module):
    """Conditional DCGAN discriminator for the MNIST adversarial loss (§3.1).

    The paper says only that MNIST uses "an adversarial loss between real and
    composite images"; it must be class-conditional, or nothing ties a
    mechanism's output to its y. The label enters as n_classes constant one-hot
    channels next to RGB (conditional DCGAN); then Conv4×4/2 (→ ndf, LeakyReLU),
    Conv4×4/2 (→ 2·ndf, BN, LeakyReLU), Conv4×4/2 (→ 4·ndf, BN, LeakyReLU),
    Conv4×4 (→ 1): 32 → 16 → 8 → 4 → 1. (The authors' release uses an MLP
    discriminator for colored MNISTs and a small conv one for Wildlife.)
    Returns one logit per image, (N,).
    """

    def __init__(self, n_classes: int = N_CLASSES, ndf: int = NDF) -> None:
        super().__init__()
        self.n_classes = check_int("n_classes", n_classes, 2)
        ndf = check_int("ndf", ndf, 1)
        self.net = nn.Sequential(
            nn.Conv2d(3 + n_classes, ndf, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, 2 * ndf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * ndf),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * ndf, 4 * ndf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(4 * ndf),
            nn.LeakyReLU(0.2),
            nn.Conv2d(4 * ndf, 1, 4),
            nn.Flatten(0),
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Logits for images ``x`` (N, 3, 32, 32) of classes ``y`` (N,)."""
        x = _check_tensor("x", x, 4)
        if x.shape[1:] != (3, SIDE, SIDE):
            raise ValueError(f"x must have shape (N, 3, {SIDE}, {SIDE}), got {tuple(x.shape)}")
        y = _check_labels(y, x.shape[0], self.n_classes)
        onehot = F.one_hot(y, self.n_classes).to(x.dtype)[:, :, None, None]
        return self.net(torch.cat([x, onehot.expand(-1, -1, SIDE, SIDE)], dim=1))


# --------------------------------------------------------------------------- Fig. 3 grids


@contextmanager
def one_cpu_thread() -> Iterator[None]:
    # A grid is a few dozen 32×32 images: torch's intra-op threads cost far more than they
    # save, and on a loaded CPU a render waits for a descheduled worker (docs/cgn-log.md).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@torch.no_grad()
def counterfactual_grid(
    cgn: CGN,
    shape_classes: Sequence[int],
    texture_classes: Sequence[int],
    background: int | Literal["shape", "texture"] = "texture",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Counterfactual composites for Fig. 3-style figures: (rows, cols, 3, 32, 32).

    Row i has shape class ``shape_classes[i]``, column j foreground class
    ``texture_classes[j]``; the background class is ``background`` if an int, or
    follows the row (``"shape"``) or column (``"texture"``). As a counterfactual
    fixes the exogenous noise and changes only the labels (§2.2), every cell
    shares one u per mechanism. Each mechanism runs once, batched over the
    distinct classes it is asked for, so all cells of a column show the very
    same foreground, all cells of a row the same mask, and a repeated class the
    same image; a texture's patch shuffle is drawn once per distinct class. The
    CGN runs in evaluation mode (batch-norm running statistics), without
    gradients, and its mode is restored afterwards.
    """
    if not isinstance(cgn, CGN):
        raise ValueError(f"cgn must be a CGN, got {type(cgn).__name__}")
    rows = _check_classes("shape_classes", shape_classes, cgn.n_classes)
    cols = _check_classes("texture_classes", texture_classes, cgn.n_classes)
    if isinstance(background, str):
        if background not in ("shape", "texture"):
            raise ValueError(
                f"background must be a class, 'shape' or 'texture', got {background!r}"
            )
        bg = rows if background == "shape" else cols
    else:
        bg = [check_int("background", background, 0, cgn.n_classes)]

    device = next(cgn.parameters()).device
    u = torch.randn(3, 1, cgn.latent_dim, generator=generator, device=draw_on(generator, device))
    u = u.to(device)

    def render(
        mechanism: nn.Module, u: torch.Tensor, classes: list[int], *shuffle: torch.Generator | None
    ) -> torch.Tensor:
        # Once per distinct class, so that a repeated class repeats the very same image.
        distinct, where = torch.tensor(classes, device=device).unique(return_inverse=True)
        return mechanism(u.expand(len(distinct), -1), distinct, *shuffle)[where]

    r, c = len(rows), len(cols)
    was_training = cgn.training
    cgn.eval()
    try:
        with one_cpu_thread():
            mask = render(cgn.f_shape, u[0], rows)
            fg = render(cgn.f_text1, u[1], cols, generator)
            bgs = render(cgn.f_text2, u[2], bg, generator)
            bgs = bgs[:, None] if background == "shape" else bgs[None]
            cells = [
                t.expand(r, c, -1, SIDE, SIDE).flatten(0, 1) for t in (mask[:, None], fg[None], bgs)
            ]
            composite = compose(*cells)
    finally:
        cgn.train(was_training)
    return composite.reshape(r, c, 3, SIDE, SIDE)
