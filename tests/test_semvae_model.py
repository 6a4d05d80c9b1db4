"""Models and losses of the causal-prior VAE (paper 002: §4.4-4.5, §5.1-5.2, App. E-F).

Every network is tiny and every random draw seeded, so each test is deterministic and fast.
"""

from __future__ import annotations

import math

import pytest
import torch

from causalkit.semvae import (
    CausalOvalVAE,
    LinearTemporalSEM,
    OvalVAE,
    QuadraticSEM,
    TemporalCausalVAE,
    beta_vae_loss,
    causal_prior_kl,
    causal_vae_loss,
    decode_from_noise,
    extrapolate,
    gaussian_kl,
    intervene,
    mario_clips,
    monte_carlo_prior_kl,
    oval_images,
    posterior_pivot_kl,
    standard_normal_kl,
    temporal_maximal_dag,
    temporal_vae_loss,
)
from causalkit.semvae.temporal import _block_diagonal

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def ovals(n: int = 4) -> torch.Tensor:
    factors = torch.tensor([[0.5 + 0.1 * i, 0.3 * i, -0.9 + 0.5 * i, 0.05 * i] for i in range(n)])
    return oval_images(factors)


def random_posterior(n: int, d: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.randn(n, d, generator=g, dtype=F64)
    tril = torch.randn(n, d, d, generator=g, dtype=F64).tril(-1)
    tril = tril + torch.diag_embed(torch.rand(n, d, generator=g, dtype=F64) + 0.3)
    return mean, tril


def set_linear_sem(linear_sem: LinearTemporalSEM, edges: dict[tuple[int, int], float]) -> None:
    """Make the discrete graph exactly ``edges`` ({(i, j): weight of i -> j}) on dense weights."""
    with torch.no_grad():
        # Dense junk weights: an edge the graph does not keep must not act at all.
        linear_sem.weight.copy_(torch.randn(linear_sem.weight.shape, generator=gen(9)))
        linear_sem.edge_logits.fill_(-20.0)
        linear_sem.bias.zero_()
        for (i, j), w in edges.items():
            linear_sem.weight[j, i] = w
            linear_sem.edge_logits[i, j] = 20.0


@pytest.fixture(scope="module")
def clips():
    return mario_clips(3, seed=0)


# --------------------------------------------------------------------------- shapes


def test_oval_model_shapes():
    x = ovals(4)
    for model, full in ((OvalVAE(), False), (CausalOvalVAE(), True)):
        mean, tril = model.encode(x)
        assert mean.shape == (4, 5) and tril.shape == (4, 5, 5)
        assert torch.equal(tril, tril.tril()) and (tril.diagonal(dim1=-2, dim2=-1) > 0).all()
        # The β-VAE's posterior is diagonal (§3.1's usual choice), the causal one full.
        assert bool((tril.tril(-1) != 0).any()) is full
        assert model.decode(mean).shape == (4, 1, 64, 64)
        images = decode_from_noise(model, torch.zeros(7, 5))
        assert images.shape == (7, 1, 64, 64) and images.min() >= 0 and images.max() <= 1
    for terms in (beta_vae_loss(x, OvalVAE(), 4.0), causal_vae_loss(x, CausalOvalVAE())):
        assert terms.loss.shape == () and terms.reconstruction.shape == terms.kl.shape == (4,)


def test_temporal_model_shapes(clips):
    model = TemporalCausalVAE()
    mean, tril = model.encode(clips.frames)
    assert mean.shape == (3, 3, 4) and tril.shape == (3, 3, 4, 4)
    assert model.encode_background(clips.backgrounds).shape == (3, 8, 20, 20)
    assert model.decode(torch.zeros(3, 5, 4), clips.backgrounds).shape == (3, 5, 3, 20, 20)
    terms = temporal_vae_loss(clips.frames, clips.backgrounds, model, 0.01, generator=gen())
    assert terms.loss.shape == () and terms.graph_size.shape == ()
    for per_clip in (terms.reconstruction, terms.prediction, terms.kl):
        assert per_clip.shape == (3,)
    model.eval()  # §4.5: binary edge masks at evaluation
    assert temporal_vae_loss(clips.frames, clips.backgrounds, model, 0.01).loss.isfinite()
    assert intervene(model, torch.zeros(3, 12), 2, 1.0).shape == (3, 12)
    assert extrapolate(model, mean, 4).shape == (3, 4, 4)


# --------------------------------------------------------------------------- ovals: losses


def test_beta_vae_loss_equals_hand_computed_value():
    model = OvalVAE()
    m = [1.0, -2.0, 0.0, 0.5, 0.0]
    log_var = [0.0, math.log(4.0), -1.0, 0.0, 0.3]
    logit = -1.5
    with torch.no_grad():  # fix q(z|x) and p(x|z): zero last-layer weights, known biases
        model.encoder.net[-1].weight.zero_()
        model.encoder.net[-1].bias.copy_(torch.tensor(m + log_var))
        model.decoder[-1].weight.zero_()
        model.decoder[-1].bias.fill_(logit)
    x = ovals(2)
    on = x.flatten(1).sum(1)  # pixels equal to 1 per image
    kl = 0.5 * sum(mi**2 + math.exp(li) - 1 - li for mi, li in zip(m, log_var, strict=True))
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    bce = on * softplus(-logit) + (4096 - on) * softplus(logit)
    for beta in (1.0, 4.0):
        terms = beta_vae_loss(x, model, beta, generator=gen())
        torch.testing.assert_close(terms.kl, torch.full((2,), kl))
        torch.testing.assert_close(terms.reconstruction, bce)
        torch.testing.assert_close(terms.loss, (bce + beta * kl).mean())
    p = 1 / (1 + math.exp(-logit))
    l2 = on * (1 - p) ** 2 + (4096 - on) * p**2
    terms = beta_vae_loss(x, model, 1.0, reconstruction="l2", generator=gen())
    torch.testing.assert_close(terms.reconstruction, l2)


def test_standard_normal_kl_matches_closed_form_gaussian_kl():
    mean, tril = random_posterior(6, 5, gen(1))
    eye = torch.eye(5, dtype=F64)
    expected = gaussian_kl(mean, tril @ tril.mT, torch.zeros(5, dtype=F64), eye)
    torch.testing.assert_close(standard_normal_kl(mean, tril), expected)


def test_causal_kl_reduces_to_standard_normal_kl_without_edges():
    # §4.1: no edges and unit noise is the N(0, I) prior of a standard VAE.
    mean, tril = random_posterior(6, 5, gen(2))
    edgeless = QuadraticSEM(coefficients=(0.0, 0.0, 0.0)).double()
    cov = tril @ tril.mT
    by_hand = 0.5 * (
        cov.diagonal(dim1=-2, dim2=-1).sum(-1) + mean.square().sum(-1) - 5 - torch.logdet(cov)
    )
    torch.testing.assert_close(causal_prior_kl(edgeless, mean, tril, 16, generator=gen()), by_hand)

    model = CausalOvalVAE(coefficients=(0.0, 0.0, 0.0))
    x = ovals(3)
    terms = causal_vae_loss(x, model, generator=gen())
    torch.testing.assert_close(terms.kl, standard_normal_kl(*model.encode(x)))


def test_causal_kl_is_the_closest_local_gaussian_at_ancestral_pivots():
    # Thm. 3 by hand for z_1 = z_0² + n_1 at pivot x°: a_1 = 2x°, b_1 = -x°², and Thm. 2 gives
    # μ = (0, -x°², 0, ...), var z_0 = σ_0², cov = 2x° σ_0², var z_1 = 4x°² σ_0² + σ_1².
    prior = QuadraticSEM().double()
    with torch.no_grad():
        prior.log_noise_var.copy_(torch.log(torch.tensor([0.5, 0.1, 1.0, 2.0, 1.0])))
    var = prior.noise_var.detach()
    k = 8
    noise = torch.randn(k, 5, generator=gen(3), dtype=F64) * var.sqrt()  # ancestral draws
    x0 = noise[:, 0]
    means = torch.zeros(k, 5, dtype=F64)
    means[:, 1] = -x0.square()
    covs = torch.diag(var).repeat(k, 1, 1)
    covs[:, 0, 1] = covs[:, 1, 0] = 2 * x0 * var[0]
    covs[:, 1, 1] = 4 * x0.square() * var[0] + var[1]
    mean, tril = random_posterior(5, 5, gen(4))
    each = gaussian_kl(mean[:, None], (tril @ tril.mT)[:, None], means, covs)  # (5, k)
    got = causal_prior_kl(prior, mean, tril, k, generator=gen(3))
    torch.testing.assert_close(got, each.min(1).values)


def test_monte_carlo_kl_matches_the_closed_form_without_edges():
    mean, tril = random_posterior(4, 5, gen(6))
    edgeless = QuadraticSEM(coefficients=(0.0, 0.0, 0.0)).double()
    got = monte_carlo_prior_kl(edgeless, mean, tril, 20_000, generator=gen(7))
    torch.testing.assert_close(got, standard_normal_kl(mean, tril), atol=0.05, rtol=0.02)


def test_local_gaussians_agree_on_the_parabola_and_leak_below_it():
    # Each local Gaussian of z_1 = z_0² + n_1 follows a tangent of the parabola, and tangents
    # lie below it: the closest match at a point under the parabola is a tangent through it,
    # so the loss's KL misses what the SEM itself charges there (the ovals' posterior sits
    # there; see analysis.prior_fit).
    prior = QuadraticSEM().double()
    mean = torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0], [0.0, -6.0, 0.0, 0.0, 0.0]], dtype=F64)
    tril = 0.05 * torch.eye(5, dtype=F64).repeat(2, 1, 1)
    loss_kl = causal_prior_kl(prior, mean, tril, 256, generator=gen(8))
    exact = monte_carlo_prior_kl(prior, mean, tril, 20_000, generator=gen(9))
    assert abs(loss_kl[0] - exact[0]) < 0.1  # on the parabola the linearisation is right
    assert exact[1] - loss_kl[1] > 15  # below it: ½ · 6² = 18 nats go unseen


def test_posterior_pivot_kl_expands_at_the_posterior_mean():
    # The same hand-made local Gaussian as above, with the pivot x° = μ_0 of each posterior.
    prior = QuadraticSEM().double()
    with torch.no_grad():
        prior.log_noise_var.copy_(torch.log(torch.tensor([0.5, 0.1, 1.0, 2.0, 1.0])))
    var = prior.noise_var.detach()
    mean, tril = random_posterior(6, 5, gen(10))
    x0 = mean[:, 0]
    means = torch.zeros(6, 5, dtype=F64)
    means[:, 1] = -x0.square()
    covs = torch.diag(var).repeat(6, 1, 1)
    covs[:, 0, 1] = covs[:, 1, 0] = 2 * x0 * var[0]
    covs[:, 1, 1] = 4 * x0.square() * var[0] + var[1]
    expected = gaussian_kl(mean, tril @ tril.mT, means, covs)
    torch.testing.assert_close(posterior_pivot_kl(prior, mean, tril), expected)


def test_posterior_pivot_kl_charges_what_the_sem_charges_below_the_parabola():
    prior = QuadraticSEM().double()
    mean = torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0], [0.5, -6.0, 0.0, 0.0, 0.0]], dtype=F64)
    tril = 0.05 * torch.eye(5, dtype=F64).repeat(2, 1, 1)
    at_mean = posterior_pivot_kl(prior, mean, tril)
    closest = causal_prior_kl(prior, mean, tril, 256, generator=gen(8))
    exact = monte_carlo_prior_kl(prior, mean, tril, 20_000, generator=gen(9))
    torch.testing.assert_close(at_mean, exact, atol=0.1, rtol=0.01)
    assert exact[1] - closest[1] > 15  # the tangents' leak, which the posterior's pivot closes


def test_the_models_pivot_rule_picks_its_kl():
    x = ovals(3)
    model = CausalOvalVAE(pivot="posterior-mean")
    terms = causal_vae_loss(x, model, generator=gen())
    torch.testing.assert_close(terms.kl, posterior_pivot_kl(model.sem, *model.encode(x)))
    assert CausalOvalVAE().pivot == "closest"  # §4.4 as written is the default


def test_decode_from_noise_pushes_noise_through_the_sem():
    noise = torch.tensor([[1.5, -0.25, 0.1, 0.2, -0.3], [-2.0, 0.5, 0.0, 0.0, 1.0]])
    causal = CausalOvalVAE()
    z = noise.clone()
    z[:, 1] = noise[:, 0].square() + noise[:, 1]  # z_1 = z_0² + n_1 (§5.1, Fig. 3)
    with torch.no_grad():
        torch.testing.assert_close(decode_from_noise(causal, noise), causal.decode(z).sigmoid())
        baseline = OvalVAE()  # isotropic prior: no edges, z = n
        torch.testing.assert_close(
            decode_from_noise(baseline, noise), baseline.decode(noise).sigmoid()
        )


# --------------------------------------------------------------------------- gradients


def assert_finite_nonzero_grads(model: torch.nn.Module, prefixes: tuple[str, ...]) -> None:
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    for prefix in prefixes:
        assert any(g.abs().sum() > 0 for n, g in grads.items() if n.startswith(prefix)), prefix


def test_gradients_reach_encoder_decoder_and_sem():
    x = ovals(4)
    causal = CausalOvalVAE(learn_mechanism=True)
    causal_vae_loss(x, causal, generator=gen()).loss.backward()
    assert_finite_nonzero_grads(
        causal, ("encoder", "decoder", "sem.coefficients", "sem.log_noise_var")
    )
    baseline = OvalVAE()
    beta_vae_loss(x, baseline, 4.0, generator=gen()).loss.backward()
    assert_finite_nonzero_grads(baseline, ("encoder", "decoder"))


def test_temporal_gradients_reach_every_part(clips):
    model = TemporalCausalVAE()
    temporal_vae_loss(clips.frames, clips.backgrounds, model, 0.01, generator=gen()).loss.backward()
    assert_finite_nonzero_grads(
        model,
        (
            "encoder",
            "background_encoder",
            "decoder",
            "sem.weight",
            "sem.bias",
            "sem.log_noise_var",
            "sem.edge_logits",
        ),
    )


# --------------------------------------------------------------------------- Mario: SEM


def test_temporal_sem_never_points_backward_in_time_or_within_a_step():
    linear_sem = LinearTemporalSEM(3, 4)
    with torch.no_grad():
        linear_sem.weight.fill_(1.0)
        linear_sem.edge_logits.fill_(10.0)  # every entry "wants" an edge, allowed or not
    step = torch.arange(12) // 4
    forward = step[:, None] > step[None, :]  # [j, i] (weights' layout): i's step before j's
    assert torch.equal(linear_sem.graph(), temporal_maximal_dag(3, 4))
    masks = (None, linear_sem.sample_mask(0.5, hard=False, generator=gen()))
    for mask in (*masks, linear_sem.sample_mask(0.5, hard=True, generator=gen(1))):
        weights = linear_sem.weights(mask)
        assert not weights[~forward].any() and weights[forward].all()


def test_temporal_kl_uses_the_block_diagonal_posterior():
    blocks = torch.randn(2, 3, 4, 4, generator=gen(5))
    expected = torch.stack([torch.block_diag(*b) for b in blocks])
    assert torch.equal(_block_diagonal(blocks), expected)


@pytest.mark.parametrize("training", [True, False])
def test_predicted_third_frame_decodes_the_sem_prediction_from_frames_one_and_two(clips, training):
    model = TemporalCausalVAE().train(training)
    terms = temporal_vae_loss(clips.frames, clips.backgrounds, model, 0.0, generator=gen(6))
    g = gen(6)  # replay the draws: z first, then the edge mask (binary at evaluation, §4.5)
    mean, tril = model.encode(clips.frames)
    z = mean + (tril @ torch.randn(mean.shape, generator=g).unsqueeze(-1)).squeeze(-1)
    mask = model.sem.sample_mask(1.0, hard=not training, generator=g)
    w = model.sem.weight * mask.mT
    z3 = z[:, 0] @ w[8:, 0:4].mT + z[:, 1] @ w[8:, 4:8].mT + model.sem.bias[8:]
    x3 = model.decode(z3[:, None], clips.backgrounds)[:, 0]
    expected = (x3 - clips.frames[:, 2]).square().sum((1, 2, 3))
    torch.testing.assert_close(terms.prediction, expected)


def test_intervene_changes_only_descendants():
    linear_sem = LinearTemporalSEM(3, 4)
    # 1 -> 5 -> 9 (a chain over time), 0 -> 8 and 4 -> 8 (x3 = 2 x2 - x1).
    set_linear_sem(linear_sem, {(1, 5): 0.5, (5, 9): 1.5, (0, 8): -1.0, (4, 8): 2.0})
    z = torch.randn(4, 12, generator=gen(7))
    cases = {1: {5: 0.5, 9: 0.75}, 5: {9: 1.5}, 0: {8: -1.0}, 4: {8: 2.0}, 8: {}, 2: {}}
    for index, effects in cases.items():
        z_new = intervene(linear_sem, z, index, 3.0)
        shift = 3.0 - z[:, index]
        assert torch.equal(z_new[:, index], torch.full((4,), 3.0))
        for j in range(12):
            if j in effects:
                torch.testing.assert_close(z_new[:, j], z[:, j] + effects[j] * shift)
            elif j != index:
                assert torch.equal(z_new[:, j], z[:, j]), (index, j)
    model = TemporalCausalVAE()
    model.sem = linear_sem
    values = torch.tensor([0.0, 1.0, 2.0, 3.0])  # one value per clip, as in Fig. 6's rows
    torch.testing.assert_close(intervene(model, z, 1, values)[:, 1], values)


def test_extrapolate_continues_a_straight_line_exactly():
    linear_sem = LinearTemporalSEM(3, 4)
    edges = {(i, 8 + i): -1.0 for i in range(4)} | {(4 + i, 8 + i): 2.0 for i in range(4)}
    edges[(0, 4)] = 5.0  # a t=1 -> t=2 edge: not part of the t -> t+1 rule used to roll on
    set_linear_sem(linear_sem, edges)
    start = torch.tensor([[3.0, -2.0, 0.0, 7.0], [1.0, 1.0, -4.0, 2.0]])
    velocity = torch.tensor([[1.0, 2.0, -3.0, 0.5], [-1.0, 0.0, 0.25, 4.0]])
    line = start[:, None] + torch.arange(8.0)[None, :, None] * velocity[:, None]  # (2, 8, 4)
    assert torch.equal(extrapolate(linear_sem, line[:, :2], 6), line[:, 2:])
    assert torch.equal(extrapolate(linear_sem, line[:, :3], 5), line[:, 3:])


# --------------------------------------------------------------------------- smoke training


def seeded_loss(which: str, clips) -> tuple[torch.nn.Module, object]:
    """A model and its loss on a fixed tiny batch, as a function of the noise generator."""
    x = ovals(4)
    if which == "beta":
        model = OvalVAE()
        return model, lambda g: beta_vae_loss(x, model, 4.0, generator=g).loss
    if which == "causal":
        model = CausalOvalVAE()
        return model, lambda g: causal_vae_loss(x, model, generator=g).loss
    model = TemporalCausalVAE()
    frames, backgrounds = clips.frames, clips.backgrounds
    return model, lambda g: temporal_vae_loss(frames, backgrounds, model, 0.01, generator=g).loss


@pytest.mark.parametrize("which", ["beta", "causal", "temporal"])
def test_five_steps_lower_the_loss_on_a_fixed_batch(which, clips):
    torch.manual_seed(0)
    model, loss = seeded_loss(which, clips)
    before = loss(gen(11)).item()  # the same draws before and after: only the weights move
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    for i in range(5):
        optimiser.zero_grad()
        loss(gen(i)).backward()
        optimiser.step()
    assert loss(gen(11)).item() < before


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs_raise_helpful_errors(clips):
    x, baseline, causal = ovals(2), OvalVAE(), CausalOvalVAE()
    temporal, z = TemporalCausalVAE(), torch.zeros(2, 12)
    frames, backgrounds = clips.frames, clips.backgrounds
    cases = [
        (lambda: beta_vae_loss(x, baseline, -1.0), "beta"),
        (lambda: beta_vae_loss(x, baseline, float("nan")), "beta"),
        (lambda: beta_vae_loss(x[:, 0], baseline, 1.0), r"shape \(N, 1, 64, 64\)"),
        (lambda: beta_vae_loss(2 * x, baseline, 1.0), r"in \[0, 1\]"),
        (lambda: beta_vae_loss(x, causal, 1.0), "needs a model of type OvalVAE"),
        (lambda: beta_vae_loss(x, baseline, 1.0, reconstruction="mse"), "reconstruction"),
        (lambda: causal_vae_loss(x, baseline), "needs a model of type CausalOvalVAE"),
        (
            lambda: causal_prior_kl(causal.sem, torch.zeros(2, 4), torch.eye(4).repeat(2, 1, 1), 4),
            r"\(N, 5\)",
        ),
        (lambda: CausalOvalVAE(num_pivots=0), "num_pivots"),
        (lambda: CausalOvalVAE(pivot="nearest"), "pivot must be one of closest, posterior-mean"),
        (
            lambda: posterior_pivot_kl(causal.sem, torch.zeros(2, 5), torch.eye(4).repeat(2, 1, 1)),
            r"\(N, 5, 5\)",
        ),
        (lambda: QuadraticSEM(num_latents=1), "num_latents"),
        (lambda: decode_from_noise(causal, torch.zeros(3, 4)), r"shape \(N, 5\)"),
        (lambda: decode_from_noise(temporal, torch.zeros(3, 4)), "OvalVAE or CausalOvalVAE"),
        (
            lambda: temporal_vae_loss(frames[:, :2], backgrounds, temporal, 0.0),
            r"\(N, 3, 3, 20, 20\)",
        ),
        (lambda: temporal_vae_loss(frames, backgrounds[:2], temporal, 0.0), "same number of clips"),
        (lambda: temporal_vae_loss(frames, backgrounds, temporal, -0.1), "sparsity_weight"),
        (lambda: intervene(temporal, z, 12, 1.0), r"index must be an int in \[0, 11\]"),
        (lambda: intervene(temporal, z, -1, 1.0), r"index must be an int in \[0, 11\]"),
        (lambda: intervene(temporal, z, 1.5, 1.0), "index must be an int"),
        (lambda: intervene(temporal, z[:, :11], 0, 1.0), r"shape \(\.\.\., 12\)"),
        (lambda: intervene(temporal, z, 0, float("inf")), "finite"),
        (lambda: intervene(causal, z, 0, 1.0), "TemporalCausalVAE or a LinearTemporalSEM"),
        (lambda: extrapolate(temporal, torch.zeros(2, 2, 4), 0), "k"),
        (lambda: extrapolate(temporal, torch.zeros(2, 1, 4), 3), "at least F = 2 frames"),
        (lambda: extrapolate(temporal, torch.zeros(2, 2, 3), 3), r"\(N, F, 4\)"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_quadratic_sem_rejects_bad_coefficients():
    with pytest.raises(ValueError, match="three finite numbers"):
        QuadraticSEM(coefficients=(1.0, 0.0))


def test_temporal_loss_weights_its_terms_as_documented(clips):
    model = TemporalCausalVAE().eval()
    terms = temporal_vae_loss(
        clips.frames,
        clips.backgrounds,
        model,
        0.3,
        reconstruction_weight=10.0,
        kl_weight=0.25,
        generator=gen(),
    )
    expected = (10.0 * (terms.reconstruction + terms.prediction) + 0.25 * terms.kl).mean()
    torch.testing.assert_close(terms.loss, expected + 0.3 * terms.graph_size)
    with pytest.raises(ValueError, match="kl_weight"):
        temporal_vae_loss(clips.frames, clips.backgrounds, model, 0.3, kl_weight=-1.0)
