"""What one iteration of Alg. 1 costs, and what the batched committee buys.

``python -m causalkit.icm.bench [--experts 10] [--width 32] [--repeats 5]`` prints a
table: a forward pass of every expert on a minibatch of 32 (both execution modes of
:class:`~causalkit.icm.model.Committee`), one expert alone, and a whole
:func:`~causalkit.icm.train.competition_step` (forward, discriminator on every
output, winner-only backward, both updates). §3.2 asks that an iteration cost about
one forward pass of all experts, not one per expert.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from causalkit.core import describe_device, flush_denormal, get_device
from causalkit.icm.model import Committee, Discriminator, ExpertAdam
from causalkit.icm.train import competition_step


def _median_seconds(action: Callable[[], object], repeats: int) -> float:
    action()  # warm-up: first calls pay for allocation and kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def benchmark(
    n_experts: int = 10, width: int = 32, batch: int = 32, repeats: int = 5
) -> list[tuple[str, float]]:
    """(what, milliseconds) rows for the table; median of ``repeats`` runs each."""
    device = get_device()
    x = torch.rand(batch, 1, 32, 32, device=device)
    real = torch.rand(batch, 1, 32, 32, device=device)
    rows = []
    with flush_denormal():
        for mode in ("loop", "grouped"):
            committee = Committee(n_experts, width, mode=mode).to(device)

            def forward_backward(committee: Committee = committee) -> None:
                committee(x).sum().backward()

            with torch.no_grad():
                rows.append(
                    (
                        f"forward, all experts ({mode})",
                        _median_seconds(lambda c=committee: c(x), repeats),
                    )
                )
            rows.append(
                (
                    f"forward + backward, all experts ({mode})",
                    _median_seconds(forward_backward, repeats),
                )
            )
        committee = Committee(n_experts, width).to(device)
        with torch.no_grad():
            rows.append(
                ("forward, one expert", _median_seconds(lambda: committee.expert(0, x), repeats))
            )
        disc = Discriminator().to(device)
        experts, d_opt = (
            ExpertAdam(committee.expert_parameters()),
            torch.optim.Adam(disc.parameters()),
        )
        rows.append(
            (
                f"one iteration of Alg. 1 ({committee.resolved_mode(device)})",
                _median_seconds(
                    lambda: competition_step(committee, disc, experts, d_opt, x, real), repeats
                ),
            )
        )
    return [(what, seconds * 1000) for what, seconds in rows]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", type=int, default=10)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{args.experts} experts of {args.width} filters, minibatch 32, on {describe_device()}")
    print(f"{'what':<46} {'ms':>8}")
    for what, ms in benchmark(args.experts, args.width, repeats=args.repeats):
        print(f"{what:<46} {ms:8.1f}")


if __name__ == "__main__":
    main()
