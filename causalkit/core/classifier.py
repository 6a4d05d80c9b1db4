"""A small CNN image classifier and its training loop, shared by every paper that needs one.

The papers use a classifier as a *measuring instrument* (ICM's "pretrained MNIST
classifier", CGN's shape and color classifiers): it has to be good, quick to train
on a CPU and identical wherever it is used, so it lives here once.
"""

from __future__ import annotations

import torch
from torch import nn

from causalkit.core.device import get_device
from causalkit.core.progress import progress


def small_cnn(
    in_channels: int = 1, side: int = 32, classes: int = 10, width: int = 32
) -> nn.Sequential:
    """Two conv blocks (conv-ReLU-conv-ReLU-maxpool), then a 128-unit hidden layer."""
    if side % 4:
        raise ValueError(f"side must be divisible by 4 (two 2x2 poolings), got {side}")
    if min(in_channels, classes, width) < 1:
        raise ValueError("in_channels, classes and width must be positive")
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(2 * width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * (side // 4) ** 2, 128),
        nn.ReLU(),
        nn.Linear(128, classes),
    )


def _check_batch(images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
    if images.ndim != 4 or not images.dtype.is_floating_point:
        raise ValueError(
            f"images must be a float (N, C, H, W) tensor, got {images.dtype} {tuple(images.shape)}"
        )
    if images.shape[0] == 0:
        raise ValueError("images is empty: need at least one (C, H, W) image")
    if labels is not None and labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")


def fit_classifier(
    net: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int = 8,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    seed: int = 0,
    desc: str = "classifier",
) -> nn.Module:
    """Train ``net`` with Adam and cross-entropy on (N, C, H, W) images; returns it in eval mode."""
    _check_batch(images, labels)
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be positive, got {epochs}, {batch_size}")
    device = get_device()
    net.to(device).train()
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=learning_rate)
    x, y = images.to(device), labels.to(device)
    for _ in progress(range(epochs), desc=desc):
        for batch in torch.randperm(len(y), generator=generator).split(batch_size):
            loss = nn.functional.cross_entropy(net(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{desc} training diverged (loss is not finite)")
    return net.eval()


@torch.no_grad()
def predict(net: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted class of each image, computed in batches on the model's device (CPU tensor out)."""
    _check_batch(images)
    device = next(net.parameters()).device
    return torch.cat([net(chunk.to(device)).argmax(1).cpu() for chunk in images.split(batch_size)])


def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` that ``net`` classifies as ``labels``."""
    _check_batch(images, labels)
    return (predict(net, images) == labels.cpu()).float().mean().item()
