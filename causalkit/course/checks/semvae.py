"""Graders for the causal-prior VAE's exercises (``notebooks/04_semvae.ipynb``).

Exercises 1-4 read the quick preset's trained models (exercise 4 also trains the
posterior-mean variant); exercise 5 is pure and compares the student's Thm. 2 with the
package's :func:`~causalkit.semvae.sem.linear_sem_moments` on random SEMs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from causalkit.course.checks import calls_none_of, check


@check("semvae", 1, "exercise_1_which_latent_is_which", "Which latent is which? (Fig. 5)")
def which_latent_is_which(answer: Callable) -> None:
    result = answer()
    corr = result["corr"]
    assert tuple(corr.shape) == (12, 6), (
        f"corr should be (12, 6), one row per latent z1..z12 and one column per x1, y1, x2, y2, "
        f"x3, y3; got {tuple(corr.shape)}"
    )
    assert len(set(result["x_slot"])) == 1, (
        f"the same encoder reads every frame, so x should sit in the same slot in frames 1, 2 "
        f"and 3; got x_slot {result['x_slot']}"
    )
    assert len(set(result["y_slot"])) == 1, (
        f"the same encoder reads every frame, so y should sit in the same slot in frames 1, 2 "
        f"and 3; got y_slot {result['y_slot']}"
    )
    assert result["x_slot"] != result["y_slot"], (
        "x and y should be read off two different slots; check that x_slot uses the x columns "
        "(0, 2, 4) and y_slot the y columns (1, 3, 5)"
    )
    for t in range(3):  # each frame's x and y are read off one latent of that frame
        frame = corr[4 * t : 4 * t + 4]
        assert frame[:, 2 * t].max() > 0.8 and frame[:, 2 * t + 1].max() > 0.8, (
            f"in frame {t + 1}, some latent of that frame (rows {4 * t + 1}..{4 * t + 4}) should "
            f"follow x and some y with |r| > 0.8; got {float(frame[:, 2 * t].max()):.2f} and "
            f"{float(frame[:, 2 * t + 1].max()):.2f}: correlate the posterior means of the "
            "held-out clips, as absolute values"
        )


@check("semvae", 2, "exercise_2_the_decoders_parabola", "The decoder's parabola")
def the_decoders_parabola(answer: Callable) -> None:
    result = answer()
    assert len(result["positions"]) == 21, (
        f"an oval should be found at each of the 21 steps of the traversal; got "
        f"{len(result['positions'])} positions: traverse n_0 over ±2σ_0 with the other noises at 0"
    )
    a, _, _ = result["coefficients"]
    assert a > 0.3, (
        f"the decoded path should bend upwards, as the prior's z_1 = z_0² does (a > 0.3); got "
        f"a = {a:.3f}: fit y = a x² + b x + c with the columns x², x, 1 in that order"
    )


@check("semvae", 3, "exercise_3_how_far_ahead", "How far ahead can the SEM see?")
def how_far_ahead(answer: Callable) -> None:
    result = answer()
    error, visible = result["error_px"], result["visible"]
    assert tuple(error.shape) == tuple(visible.shape) == (6,), (
        f"error_px and visible should each have one entry per step ahead, shape (6,); got "
        f"{tuple(error.shape)} and {tuple(visible.shape)}"
    )
    assert error[0] < 0.5, (
        f"one step ahead (frame 3, the step the SEM was trained on) the error should be under "
        f"0.5 px; got {float(error[0]):.2f}"
    )
    assert error[-1] > error[0] + 1.0, (
        f"the error should grow with the horizon, by more than 1 px from step 1 to step 6; got "
        f"{float(error[0]):.2f} and {float(error[-1]):.2f}"
    )
    assert visible[0] > 0.95, (
        f"one step ahead almost every sprite (> 95 %) should still be found; got "
        f"{float(visible[0]):.0%}: count a clip as visible where its predicted position is not NaN"
    )
    assert visible[-1] < visible[0], (
        "fewer sprites should be found six steps ahead than one step ahead, as they leave the frame"
    )


@check("semvae", 4, "exercise_4_close_the_leak", "Close the leak")
def close_the_leak(answer: Callable) -> None:
    result = answer()
    closest, at_mean = result["closest"], result["posterior-mean"]
    # Quick preset, seed 0: 75 % of images under the parabola, loss KL 9.8 against 41 nats to
    # the SEM; expanded at the posterior mean 2 %, 10.08 against 10.14.
    assert closest["below_parabola"] > 0.5, (
        f"with §4.4's closest local Gaussian most images (> 50 %) should sit under the parabola; "
        f"got {closest['below_parabola']:.0%}"
    )
    assert closest["sem_kl"] - closest["loss_kl"] > 20, (
        f"with the closest local Gaussian the KL to the SEM should exceed the loss's KL by more "
        f"than 20 nats; got {closest['sem_kl']:.1f} against {closest['loss_kl']:.1f}"
    )
    assert at_mean["below_parabola"] < 0.2, (
        f"expanded at the posterior mean, fewer than 20 % of images should sit under the "
        f"parabola; got {at_mean['below_parabola']:.0%}: train it with pivot='posterior-mean'"
    )
    assert abs(at_mean["sem_kl"] - at_mean["loss_kl"]) < 0.5, (
        f"expanded at the posterior mean, the loss's KL and the KL to the SEM should agree within "
        f"0.5 nats; got {at_mean['loss_kl']:.2f} and {at_mean['sem_kl']:.2f}"
    )


def _moments(weights: torch.Tensor, bias: torch.Tensor, variances: torch.Tensor):
    """Thm. 2 through an explicit inverse, for diagnosing a wrong answer."""
    lmat = torch.linalg.inv(torch.eye(len(bias), dtype=weights.dtype) - weights)
    return lmat @ bias, lmat @ torch.diag(variances) @ lmat.T


def _close(got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-8) -> bool:
    return got.shape == want.shape and torch.allclose(got, want, rtol=rtol, atol=1e-10)


@check("semvae", 5, "exercise_5_sem_mean_and_covariance", "Thm. 2 by hand")
def sem_mean_and_covariance(answer: Callable) -> None:
    from causalkit.semvae.sem import linear_sem_moments

    calls_none_of(answer, "linear_sem_moments", "propagation_matrix", "local_gaussian_prior")
    generator = torch.Generator().manual_seed(0)
    for d in (1, 2, 3, 5, 8):
        for _ in range(4):
            weights = torch.randn(d, d, generator=generator, dtype=torch.float64).tril(-1)
            bias = torch.randn(d, generator=generator, dtype=torch.float64)
            noise_var = 0.05 + 2 * torch.rand(d, generator=generator, dtype=torch.float64)
            got = answer(weights.clone(), bias.clone(), noise_var.clone())
            assert isinstance(got, tuple) and len(got) == 2, "return a pair (mean, cov) of tensors"
            mean, cov = (torch.as_tensor(x).to(torch.float64) for x in got)
            want_mean, want_cov = linear_sem_moments(weights, bias, noise_var)
            assert tuple(mean.shape) == (d,), (
                f"mean should have shape ({d},) for a {d}-variable SEM, got {tuple(mean.shape)}"
            )
            assert tuple(cov.shape) == (d, d), (
                f"cov should have shape ({d}, {d}) for a {d}-variable SEM, got {tuple(cov.shape)}"
            )
            if _close(mean, want_mean) and _close(cov, want_cov):
                continue
            where = f"on a random {d}-variable SEM"
            if _close(mean, want_mean, 1e-4) and _close(cov, want_cov, 1e-4):
                raise AssertionError(
                    f"right only to about float32 precision {where}: compute in float64, the "
                    "inputs' dtype"
                )
            if d > 1 and _close(mean, _moments(weights.T, bias, noise_var)[0]):
                raise AssertionError(
                    f"the mean {where} treats W[i, j] as the weight of z_i in z_j: here W[j, i] "
                    "is the weight of z_i in the equation of z_j (row j holds z_j's parents)"
                )
            if _close(mean, bias) and not _close(bias, want_mean):
                raise AssertionError(
                    f"the mean {where} is just b: the offsets propagate through the weights "
                    "to every descendant, like the noise"
                )
            assert _close(mean, want_mean), (
                f"the mean differs from Thm. 2's {where} by up to "
                f"{float((mean - want_mean).abs().max()):.3g}"
            )
            if _close(cov, _moments(weights, bias, noise_var.sqrt())[1]):
                raise AssertionError(
                    f"the covariance {where} uses σ instead of σ²: noise_var already holds the "
                    "variances"
                )
            assert torch.allclose(cov, cov.T, rtol=1e-8, atol=1e-10), (
                f"the covariance {where} is not symmetric: Σ = L diag(σ²) Lᵀ needs the "
                "transpose on the right"
            )
            raise AssertionError(
                f"the covariance differs from Thm. 2's {where} by up to "
                f"{float((cov - want_cov).abs().max()):.3g}"
            )
