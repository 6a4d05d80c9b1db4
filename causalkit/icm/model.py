"""Experts, the discriminator, the optimiser that trains only the winners, and the
losses of Eq. 2 and Eq. 3 (§3.2, §4, App. B).

The committee stores its experts' weights *stacked*: each layer is one tensor with
a leading expert dimension. That one storage runs two ways:

* ``"grouped"``: every layer of all experts is a single grouped convolution over
  (batch, experts x channels) -- one kernel per layer, what a GPU wants;
* ``"loop"``: each expert's slice as an ordinary channels-last convolution, which
  oneDNN on a CPU runs faster than its grouped convolution (``python -m
  causalkit.icm.bench`` measures both).

Both give the same outputs (tested); ``"auto"`` picks grouped on CUDA, loop on CPU.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F

from causalkit.icm.mechanisms import SIDE

MODES = ("auto", "grouped", "loop")


class Committee(nn.Module):
    """N' experts, each a CNN of ``depth`` 3x3 conv layers with ``width`` filters (§4).

    Every hidden layer is zero-padded conv -> batch norm -> ELU; the last conv maps back
    to one channel and a sigmoid keeps outputs in the [0, 1] pixel range (the paper
    leaves the output activation open; the data live in [0, 1], so this is the natural
    choice). ``forward`` returns (B, N', 1, 32, 32): every example through every expert.
    """

    def __init__(
        self, n_experts: int = 10, width: int = 32, depth: int = 5, mode: str = "auto"
    ) -> None:
        super().__init__()
        if n_experts < 1 or width < 1 or depth < 2:
            raise ValueError(
                f"need n_experts >= 1, width >= 1, depth >= 2; got {n_experts}, {width}, {depth}"
            )
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.n_experts, self.width, self.depth, self.mode = n_experts, width, depth, mode
        channels = [1] + [width] * (depth - 1) + [1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for c_in, c_out in itertools.pairwise(channels):
            conv = [
                nn.Conv2d(c_in, c_out, 3, padding=1) for _ in range(n_experts)
            ]  # PyTorch's default init
            self.weights.append(nn.Parameter(torch.stack([c.weight.detach() for c in conv])))
            self.biases.append(nn.Parameter(torch.stack([c.bias.detach() for c in conv])))
        hidden = depth - 1
        self.bn_weights = nn.ParameterList(
            [nn.Parameter(torch.ones(n_experts, width)) for _ in range(hidden)]
        )
        self.bn_biases = nn.ParameterList(
            [nn.Parameter(torch.zeros(n_experts, width)) for _ in range(hidden)]
        )
        for i in range(hidden):
            self.register_buffer(f"running_mean{i}", torch.zeros(n_experts, width))
            self.register_buffer(f"running_var{i}", torch.ones(n_experts, width))

    def _running(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return getattr(self, f"running_mean{i}"), getattr(self, f"running_var{i}")

    def resolved_mode(self, device: torch.device) -> str:
        if self.mode != "auto":
            return self.mode
        return "grouped" if device.type == "cuda" else "loop"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1:] != (1, SIDE, SIDE):
            raise ValueError(
                f"experts take (B, 1, {SIDE}, {SIDE}) images, got {tuple(images.shape)}"
            )
        if self.resolved_mode(images.device) == "grouped":
            return self._grouped(images)
        return torch.stack([self.expert(e, images) for e in range(self.n_experts)], dim=1)

    def expert(self, e: int, images: torch.Tensor) -> torch.Tensor:
        """Expert ``e`` alone on (B, 1, 32, 32) images -> (B, 1, 32, 32)."""
        h = images.contiguous(memory_format=torch.channels_last)
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = F.conv2d(h, weight[e], bias[e], padding=1)
            if i < last:
                mean, var = self._running(i)
                h = F.batch_norm(
                    h, mean[e], var[e], self.bn_weights[i][e], self.bn_biases[i][e], self.training
                )
                h = F.elu(h)
        return torch.sigmoid(h).contiguous()

    def _grouped(self, images: torch.Tensor) -> torch.Tensor:
        n, b = self.n_experts, images.shape[0]
        h = images.expand(b, n, SIDE, SIDE)  # expert e reads channel e
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = F.conv2d(h, weight.flatten(0, 1), bias.flatten(), padding=1, groups=n)
            if i < last:
                mean, var = self._running(i)
                # Views of the stacked buffers: batch norm's running update lands in them.
                h = F.batch_norm(
                    h,
                    mean.view(-1),
                    var.view(-1),
                    self.bn_weights[i].flatten(),
                    self.bn_biases[i].flatten(),
                    self.training,
                )
                h = F.elu(h)
        return torch.sigmoid(h)[:, :, None]

    def expert_parameters(self) -> list[nn.Parameter]:
        """Every parameter, each with the expert index as its leading dimension."""
        return [*self.weights, *self.biases, *self.bn_weights, *self.bn_biases]


class Discriminator(nn.Module):
    """App. B, Table 1: pairs of 3x3 convs (16, 32, 64 filters, ELU), 2x2 average pooling
    after every pair, a 1024-unit ELU layer and one output. ``forward`` returns logits;
    the score c(x) = D(x) of Alg. 1 is their sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c_out in (16, 32, 64):
            layers += [
                nn.Conv2d(c_in, c_out, 3, padding=1),
                nn.ELU(),
                nn.Conv2d(c_out, c_out, 3, padding=1),
                nn.ELU(),
            ]
            layers.append(nn.AvgPool2d(2))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * (SIDE // 8) ** 2, 1024), nn.ELU(), nn.Linear(1024, 1)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1:] != (1, SIDE, SIDE):
            raise ValueError(
                f"the discriminator takes (B, 1, {SIDE}, {SIDE}) images, got {tuple(images.shape)}"
            )
        return self.head(self.features(images.contiguous(memory_format=torch.channels_last)))[:, 0]


def eq2_winner_loss(won_logits: torch.Tensor, wins_of_winner: torch.Tensor) -> torch.Tensor:
    """Eq. 2 on a minibatch: each example's winner ascends log c = log D(E_j*(x')).

    ``won_logits`` are D's logits on each example's winning output, ``wins_of_winner`` how
    many examples of the minibatch that example's winner took. Each winner's loss is
    -log c averaged over the examples *it* won, so its step size does not depend on how
    many examples the other experts took. -log sigmoid(l) = softplus(-l).
    """
    return (F.softplus(-won_logits) / wins_of_winner).sum()


def eq3_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 3 negated, for descent: -(mean log D(x) over real digits + mean over experts and
    examples of log(1 - D(E_j(x')))), from logits: -log(1 - sigmoid(l)) = softplus(l)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


class ExpertAdam:
    """Adam (defaults, §4) over stacked expert parameters, stepping only the chosen experts.

    Alg. 1 trains the winning expert on the examples it won and leaves the others
    "untouched". A single ``torch.optim.Adam`` over the stacked tensors would still move
    a loser through its momentum; here each expert has its own moments and step count,
    and :meth:`step` changes the rows of the experts in ``active`` and nothing else.
    """

    def __init__(
        self,
        params: list[nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if not params:
            raise ValueError("no parameters to optimise")
        n = params[0].shape[0]
        if any(p.shape[0] != n for p in params):
            raise ValueError("every parameter must have the expert index as its leading dimension")
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.steps = torch.zeros(n, device=params[0].device)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        """One Adam step for the experts where the boolean (N',) mask ``active`` is True."""
        if active.shape != self.steps.shape or active.dtype != torch.bool:
            raise ValueError(f"active must be a bool mask of shape {tuple(self.steps.shape)}")
        active = active.to(self.steps.device)
        if not active.any():
            return
        beta1, beta2 = self.betas
        self.steps += active.float()
        t = self.steps[active]
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            if p.grad is None:
                continue
            g = p.grad[active]
            m[active] = beta1 * m[active] + (1 - beta1) * g
            v[active] = beta2 * v[active] + (1 - beta2) * g * g
            shape = (-1,) + (1,) * (p.ndim - 1)
            m_hat = m[active] / (1 - beta1 ** t.view(shape))
            v_hat = v[active] / (1 - beta2 ** t.view(shape))
            p[active] -= self.lr * m_hat / (v_hat.sqrt() + self.eps)
