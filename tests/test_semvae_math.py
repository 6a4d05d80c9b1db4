"""The SEM-prior maths of the causal-prior VAE (paper 002: Thm. 2-3, Prop. 1, §4.5, App. C, D, G).

Monte-Carlo checks allow 5 standard errors per entry: with ~20 entries compared per test the
chance of a false failure is ~1e-5, and every test is seeded, so it is deterministic anyway.
"""

from __future__ import annotations

import math

import pytest
import torch

from causalkit.semvae import (
    ancestral_sample,
    anm_log_prob,
    edge_probabilities,
    expected_graph_size,
    extract_graph,
    gaussian_kl,
    linear_sem_moments,
    linearise_sem,
    local_gaussian_prior,
    maximal_dag,
    propagation_matrix,
    sample_edge_mask,
    sparsity_penalty,
    structural_hamming_distance,
    temporal_maximal_dag,
    temporal_structural_hamming_distance,
)

F64 = torch.float64
N_MC = 200_000
# z0 -> z1, z0 -> z2, z1 -> z3, z2 -> z3 (a diamond), row j = a_j^T of Thm. 2.
W = torch.tensor(
    [[0.0, 0.0, 0.0, 0.0], [0.8, 0.0, 0.0, 0.0], [-0.5, 0.0, 0.0, 0.0], [0.0, 1.2, 0.7, 0.0]],
    dtype=F64,
)
B = torch.tensor([1.0, -0.5, 0.3, 2.0], dtype=F64)
VAR = torch.tensor([0.5, 0.2, 1.0, 0.3], dtype=F64)


def spd(d: int, generator: torch.Generator, batch: tuple[int, ...] = ()) -> torch.Tensor:
    a = torch.randn(*batch, d, d, generator=generator, dtype=F64)
    return a @ a.mT + 0.5 * torch.eye(d, dtype=F64)


def sample_linear_sem(n: int, generator: torch.Generator) -> torch.Tensor:
    """Ancestral sampling written out by hand, independent of the library."""
    noise = torch.randn(n, 4, generator=generator, dtype=F64) * VAR.sqrt()
    z = torch.zeros(n, 4, dtype=F64)
    for j in range(4):
        z[:, j] = z[:, :j] @ W[j, :j] + B[j] + noise[:, j]
    return z


def assert_moments_match(samples, mean, cov):
    n = samples.shape[0]
    var = cov.diagonal()
    mc_mean, mc_cov = samples.mean(0), torch.cov(samples.T)
    # SE of a sample mean is sqrt(Σ_ii / n); of a Gaussian sample covariance sqrt((Σ_ii Σ_jj + Σ_ij²) / n).
    se_mean = (var / n).sqrt()
    se_cov = ((var[:, None] * var[None, :] + cov**2) / n).sqrt()
    assert ((mc_mean - mean).abs() <= 5 * se_mean).all(), (mc_mean, mean)
    assert ((mc_cov - cov).abs() <= 5 * se_cov).all(), (mc_cov, cov)


# --------------------------------------------------------------------------- Thm. 2


def test_propagation_matrix_is_the_product_of_the_A_i_of_theorem_2():
    d = W.shape[0]
    product = torch.eye(d, dtype=F64)
    for i in range(1, d):  # the paper's A_2 .. A_d, applied first to last
        a_i = torch.eye(d, dtype=F64)
        a_i[i, :i] = W[i, :i]
        product = a_i @ product
    assert torch.allclose(propagation_matrix(W), product, atol=1e-12)
    assert torch.allclose(propagation_matrix(W), torch.linalg.inv(torch.eye(d, dtype=F64) - W))


def test_linear_sem_moments_match_monte_carlo():
    mean, cov = linear_sem_moments(W, B, VAR)
    samples = sample_linear_sem(N_MC, torch.Generator().manual_seed(0))
    assert_moments_match(samples, mean, cov)
    # By hand: μ_3 = 1.2 μ_1 + 0.7 μ_2 + 2 with μ_1 = 0.8 - 0.5 = 0.3, μ_2 = -0.5 + 0.3 = -0.2.
    assert mean[3].item() == pytest.approx(1.2 * 0.3 + 0.7 * -0.2 + 2.0)
    assert torch.equal(cov, cov.mT)


def test_linear_sem_moments_broadcast_over_a_batch():
    weights = torch.stack([W, 0.5 * W])
    mean, cov = linear_sem_moments(weights, B, VAR)
    assert mean.shape == (2, 4) and cov.shape == (2, 4, 4)
    for k in range(2):
        mean_k, cov_k = linear_sem_moments(weights[k], B, VAR)
        assert torch.allclose(mean[k], mean_k) and torch.allclose(cov[k], cov_k)


@pytest.mark.parametrize(
    ("weights", "bias", "var", "match"),
    [
        (W.T, B, VAR, r"strictly lower-triangular.*entry \[0, 1\].*causal \(topological\) order"),
        (W + torch.eye(4, dtype=F64), B, VAR, r"entry \[0, 0\]"),
        (W[:3], B, VAR, r"shape \(\.\.\., d, d\)"),
        (W, B[:3], VAR, "bias must have 4 entries"),
        (W, B, VAR[:2], "noise_var must have 4 entries"),
        (W, B, -VAR, "cannot be negative"),
        (W, torch.full((3, 4), float("nan")), VAR, "must be finite"),
        (torch.stack([W] * 2), torch.zeros(3, 4), VAR, "do not broadcast"),
    ],
)
def test_linear_sem_moments_reject_bad_input(weights, bias, var, match):
    with pytest.raises(ValueError, match=match):
        linear_sem_moments(weights, bias, var)


# --------------------------------------------------------------------------- Thm. 3


def per_node_linear():
    return [lambda x, j=j: x @ W[j, :j] + B[j] for j in range(4)]


@pytest.mark.parametrize("form", ["joint", "per_node"])
def test_linearisation_is_exact_for_a_linear_sem(form):
    f = (lambda z: z @ W.mT + B) if form == "joint" else per_node_linear()
    pivot = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    weights, bias = linearise_sem(f, pivot)
    assert torch.allclose(weights, W.expand(3, 4, 4), atol=1e-12)
    assert torch.allclose(bias, B.expand(3, 4), atol=1e-12)
    mean, cov = local_gaussian_prior(f, pivot, VAR)
    exact_mean, exact_cov = linear_sem_moments(W, B, VAR)
    assert torch.allclose(mean, exact_mean.expand(3, 4)) and torch.allclose(cov, exact_cov)


def test_linearisation_of_a_quadratic_sem_is_accurate_near_the_pivot():
    # x = c + n_x, y = x² + n_y (the parabola of §5.1), linearised at z° = (c, c²): a = 2c,
    # b_y = c² - 2c·c, so μ = (c, c²), Σ = [[s_x², 2c s_x²], [2c s_x², 4c² s_x² + s_y²]].
    c, sd_x, sd_y = 1.5, 0.05, 0.1
    f = [lambda x: torch.tensor(c, dtype=F64), lambda x: x[..., 0] ** 2]
    var = torch.tensor([sd_x**2, sd_y**2], dtype=F64)
    weights, bias = linearise_sem(f, torch.tensor([c, c**2], dtype=F64))
    assert weights[1, 0].item() == pytest.approx(2 * c) and bias[1].item() == pytest.approx(-(c**2))
    mean, cov = local_gaussian_prior(f, torch.tensor([c, c**2], dtype=F64), var)

    g = torch.Generator().manual_seed(2)
    x = c + sd_x * torch.randn(N_MC, generator=g, dtype=F64)
    y = x**2 + sd_y * torch.randn(N_MC, generator=g, dtype=F64)
    samples = torch.stack([x, y], dim=1)
    # Second-order Taylor: E[y] = c² + s_x² exactly and Var[y] = 4c² s_x² + 2 s_x⁴ + s_y², so
    # the linearisation misses the mean by s_x² (subtract it before the Monte-Carlo check);
    # the covariance error 2 s_x⁴ ≈ 1e-5 is far below one standard error.
    assert_moments_match(samples, mean + torch.tensor([0.0, sd_x**2], dtype=F64), cov)
    assert (samples[:, 1].mean() - mean[1]).item() == pytest.approx(sd_x**2, abs=5e-4)


def test_ancestral_sample_draws_from_the_sem():
    samples = ancestral_sample(
        per_node_linear(), VAR, N_MC, generator=torch.Generator().manual_seed(3)
    )
    assert samples.shape == (N_MC, 4)
    assert_moments_match(samples, *linear_sem_moments(W, B, VAR))
    # A noiseless chain z_j = z_(j-1) + 1 needs all d passes to reach its last variable.
    chain = [lambda x: torch.tensor(1.0)] + [lambda x: x[..., -1] + 1] * 3
    assert ancestral_sample(chain, torch.zeros(4), 2).tolist() == [[1.0, 2.0, 3.0, 4.0]] * 2


def test_edge_mask_multiplies_the_inputs_of_each_f_j():
    # f_2(m_02 z_0, m_12 z_1) = (m_02 z_0)² + (m_12 z_1)², so ∂f_2/∂z_i = 2 m_i2² z_i.
    f = [lambda x: torch.tensor(0.0, dtype=F64)] + [lambda x: x.square().sum(-1)] * 2
    mask = torch.zeros(3, 3, dtype=F64)
    mask[0, 2], mask[1, 2], mask[0, 1] = 0.5, 1.0, 0.0
    pivot = torch.tensor([2.0, 3.0, 0.0], dtype=F64)
    weights, bias = linearise_sem(f, pivot, edge_mask=mask)
    assert weights[2].tolist() == [2 * 0.25 * 2.0, 2 * 1.0 * 3.0, 0.0]
    assert weights[1].tolist() == [0.0, 0.0, 0.0]  # the masked edge 0 -> 1 is gone
    assert bias[2].item() == pytest.approx(0.25 * 4 + 9 - (1.0 * 2 + 6.0 * 3))


def test_local_prior_is_differentiable_in_the_sem_parameters():
    # §4.4: the KL to the linearised prior must back-propagate into f through the Jacobian.
    theta = torch.tensor(0.7, dtype=F64, requires_grad=True)
    pivot = torch.tensor([0.4, 0.2], dtype=F64)
    var = torch.tensor([0.3, 0.2], dtype=F64)
    mean_q = torch.tensor([0.1, 0.3], dtype=F64)
    cov_q = torch.tensor([[0.2, 0.05], [0.05, 0.3]], dtype=F64)

    def kl(t):
        f = [lambda x: x.sum(-1), lambda x: t * torch.sin(3 * x[..., 0])]
        return gaussian_kl(mean_q, cov_q, *local_gaussian_prior(f, pivot, var))

    assert torch.autograd.gradcheck(kl, (theta,))
    with torch.no_grad():
        assert not kl(theta).requires_grad


def test_linearisation_rejects_bad_input():
    with pytest.raises(ValueError, match=r"causal order.*output 0 depends on input 1"):
        linearise_sem(lambda z: z @ W, torch.ones(4, dtype=F64))
    with pytest.raises(ValueError, match="3 per-variable functions but the SEM has 4 variables"):
        linearise_sem(per_node_linear()[:3], torch.ones(4, dtype=F64))
    with pytest.raises(ValueError, match="sequence of d per-variable callables"):
        linearise_sem(lambda z: z, torch.ones(4), edge_mask=torch.ones(4, 4))
    with pytest.raises(ValueError, match="edge_mask must have shape"):
        linearise_sem(per_node_linear(), torch.ones(4, dtype=F64), edge_mask=torch.ones(3, 3))
    with pytest.raises(ValueError, match=r"f\[1\] must map its parents"):
        linearise_sem([lambda x: x.sum(-1), lambda x: torch.ones(3)], torch.ones(5, 2))
    with pytest.raises(ValueError, match="f must map shape"):
        linearise_sem(lambda z: z.sum(-1), torch.ones(4))
    with pytest.raises(ValueError, match="noise_var must have 4 entries"):
        local_gaussian_prior(per_node_linear(), torch.ones(4, dtype=F64), VAR[:3])
    with pytest.raises(ValueError, match="num_samples must be a positive int"):
        ancestral_sample(per_node_linear(), VAR, 0)


# --------------------------------------------------------------------------- KL (eq. 3)


def test_kl_is_zero_for_identical_gaussians():
    g = torch.Generator().manual_seed(4)
    mean, cov = torch.randn(5, 3, generator=g, dtype=F64), spd(3, g, (5,))
    assert torch.allclose(gaussian_kl(mean, cov, mean, cov), torch.zeros(5, dtype=F64), atol=1e-12)


def test_kl_matches_torch_and_a_sampled_estimate():
    g = torch.Generator().manual_seed(5)
    mean_q, cov_q = torch.randn(3, generator=g, dtype=F64), spd(3, g)
    mean_p, cov_p = linear_sem_moments(W[:3, :3], B[:3], VAR[:3])
    kl = gaussian_kl(mean_q, cov_q, mean_p, cov_p)
    q = torch.distributions.MultivariateNormal(mean_q, cov_q)
    p = torch.distributions.MultivariateNormal(mean_p, cov_p)
    assert kl.item() == pytest.approx(torch.distributions.kl_divergence(q, p).item(), rel=1e-10)
    # KL = E_q[ln q(z) - ln p(z)]; the estimate's standard error is the ratio's sd / sqrt(n).
    z = mean_q + torch.randn(N_MC, 3, generator=g, dtype=F64) @ torch.linalg.cholesky(cov_q).mT
    log_ratio = q.log_prob(z) - p.log_prob(z)
    assert abs(log_ratio.mean() - kl).item() <= 5 * (log_ratio.std() / math.sqrt(N_MC)).item()


def test_kl_broadcasts_a_shared_prior_over_a_batch_of_posteriors():
    g = torch.Generator().manual_seed(6)
    mean_q, cov_q = torch.randn(4, 3, generator=g, dtype=F64), spd(3, g, (4,))
    mean_p, cov_p = torch.zeros(3, dtype=F64), spd(3, g)
    kl = gaussian_kl(mean_q, cov_q, mean_p, cov_p)
    assert kl.shape == (4,)
    for k in range(4):
        assert kl[k].item() == pytest.approx(gaussian_kl(mean_q[k], cov_q[k], mean_p, cov_p).item())


def test_kl_rejects_bad_input():
    eye = torch.eye(3, dtype=F64)
    zero = torch.zeros(3, dtype=F64)
    singular = torch.diag(torch.tensor([1.0, 0.0, 1.0], dtype=F64))  # a zero noise variance
    with pytest.raises(ValueError, match="cov_p is not positive definite"):
        gaussian_kl(zero, eye, zero, singular)
    with pytest.raises(ValueError, match=r"cov_q is not positive definite.*batch index \(1,\)"):
        gaussian_kl(zero, torch.stack([eye, -eye]), zero, eye)
    with pytest.raises(ValueError, match="cov_q must be symmetric"):
        gaussian_kl(zero, eye + torch.triu(torch.ones(3, 3, dtype=F64), 1), zero, eye)
    with pytest.raises(ValueError, match="mean_p must have 3 entries"):
        gaussian_kl(zero, eye, torch.zeros(2), eye)
    with pytest.raises(ValueError, match=r"cov_p must have shape \(\.\.\., d, d\)"):
        gaussian_kl(zero, eye, zero, torch.ones(3, 2))
    with pytest.raises(ValueError, match="do not broadcast"):
        gaussian_kl(torch.zeros(2, 3), eye, torch.zeros(5, 3), eye)


# --------------------------------------------------------------------------- Prop. 1, App. F


def test_maximal_dag_for_the_identity_order_and_a_given_order():
    assert torch.equal(maximal_dag(3), torch.tensor([[0, 1, 1], [0, 0, 1], [0, 0, 0]]).bool())
    # order 2, 0, 1: edges 2 -> 0, 2 -> 1, 0 -> 1.
    expected = torch.zeros(3, 3, dtype=torch.bool)
    expected[2, 0] = expected[2, 1] = expected[0, 1] = True
    assert torch.equal(maximal_dag(3, order=[2, 0, 1]), expected)
    with pytest.raises(ValueError, match=r"permutation of 0\.\.2"):
        maximal_dag(3, order=[0, 0, 1])
    with pytest.raises(ValueError, match="positive int"):
        maximal_dag(0)


def test_temporal_maximal_dag_only_points_forward_in_time():
    graph = temporal_maximal_dag(num_steps=3, per_step=2)
    step = torch.tensor([0, 0, 1, 1, 2, 2])
    assert torch.equal(graph, step[:, None] < step[None, :])
    assert int(graph.sum()) == 2 * 2 * 3  # k² edges per pair of steps, 3 pairs
    assert not graph[0, 1] and graph[1, 2] and graph[0, 5] and not graph[5, 0]
    assert not (graph & ~maximal_dag(6)).any()  # a subgraph of G_Ω (Prop. 1)
    with pytest.raises(ValueError, match="per_step must be a positive int"):
        temporal_maximal_dag(3, 0)


# --------------------------------------------------------------------------- §4.5


def test_edge_probabilities_live_on_the_maximal_dag():
    logits = torch.randn(4, 4, generator=torch.Generator().manual_seed(7))
    probs = edge_probabilities(logits)
    assert ((probs >= 0) & (probs <= 1)).all()
    assert torch.equal(probs, torch.sigmoid(logits) * maximal_dag(4))
    with pytest.raises(ValueError, match="allowed must be a DAG"):
        edge_probabilities(logits, allowed=torch.ones(4, 4))


def test_gumbel_masks_relaxed_hard_and_their_means():
    logits = torch.tensor([[0.0, -1.5, 0.3], [0.0, 0.0, 2.0], [9.0, 9.0, 0.0]], dtype=F64)
    batch = logits.expand(20_000, 3, 3)
    target = torch.sigmoid(logits)[maximal_dag(3)]
    # The hard mask is 1 exactly when l + L > 0, probability sigmoid(l), at any temperature.
    hard = sample_edge_mask(
        batch, temperature=2.0, hard=True, generator=torch.Generator().manual_seed(8)
    )
    assert set(hard.unique().tolist()) <= {0.0, 1.0}
    assert not hard[:, ~maximal_dag(3)].any()  # the 9.0 logits below the diagonal never fire
    se = (target * (1 - target) / batch.shape[0]).sqrt()
    assert ((hard.mean(0)[maximal_dag(3)] - target).abs() <= 5 * se).all()
    # The relaxed sample's mean is sigmoid(l) only as τ -> 0: |E σ((l+L)/τ) - σ(l)| is at most
    # the logistic density's peak 1/4 times ∫|σ(x/τ) - 1[x > 0]| dx = 2τ ln 2, i.e. τ ln 2 / 2.
    tau = 0.05
    soft = sample_edge_mask(batch, temperature=tau, generator=torch.Generator().manual_seed(9))
    assert ((soft >= 0) & (soft <= 1)).all()
    bound = tau * math.log(2) / 2 + 5 * se
    assert ((soft.mean(0)[maximal_dag(3)] - target).abs() <= bound).all()


def test_hard_mask_is_straight_through():
    logits = torch.tensor([[0.0, 0.4], [0.0, 0.0]], requires_grad=True)
    hard = sample_edge_mask(
        logits, temperature=0.5, hard=True, generator=torch.Generator().manual_seed(10)
    )
    hard.sum().backward()
    soft_logits = logits.detach().clone().requires_grad_(True)
    soft = sample_edge_mask(
        soft_logits, temperature=0.5, generator=torch.Generator().manual_seed(10)
    )
    soft.sum().backward()
    assert hard[0, 1].item() in (0.0, 1.0)
    assert logits.grad[0, 1] != 0 and torch.equal(logits.grad, soft_logits.grad)


def test_graph_size_and_sparsity_penalty_on_a_hand_computed_case():
    probs = torch.tensor([[0.0, 0.2, 0.5], [0.9, 0.0, 0.3], [0.9, 0.9, 0.0]])  # lower: ignored
    assert expected_graph_size(probs).item() == pytest.approx(1.0)
    # -|G| ln s with s = 100 samples: -(0.2 + 0.5 + 0.3) ln 100.
    assert sparsity_penalty(probs, 100).item() == pytest.approx(-math.log(100))
    assert sparsity_penalty(probs, 1).item() == 0.0
    assert sparsity_penalty(
        torch.stack([probs, 2 * probs.triu(1)]), math.e
    ).tolist() == pytest.approx([-1.0, -2.0])


def test_sparsity_inputs_are_validated():
    logits = torch.zeros(3, 3)
    with pytest.raises(ValueError, match="temperature must be a positive"):
        sample_edge_mask(logits, temperature=0.0)
    with pytest.raises(ValueError, match="s < 1 would make ln s < 0"):
        sparsity_penalty(torch.zeros(3, 3), 0.5)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        expected_graph_size(torch.full((3, 3), 1.5))
    with pytest.raises(ValueError, match=r"allowed must have shape \(3, 3\)"):
        expected_graph_size(torch.zeros(3, 3), allowed=maximal_dag(4))


def test_extract_graph_thresholds_within_the_maximal_dag():
    probs = torch.tensor([[0.0, 0.7, 0.4], [0.8, 0.0, 0.5], [0.9, 0.9, 0.0]])
    assert extract_graph(probs).tolist() == [[False, True, False], [False] * 3, [False] * 3]
    assert extract_graph(probs, threshold=0.3).tolist() == [
        [False, True, True],
        [False, False, True],
        [False] * 3,
    ]
    with pytest.raises(ValueError, match="threshold must be a probability"):
        extract_graph(probs, threshold=1.5)


# --------------------------------------------------------------------------- App. G


def test_structural_hamming_distance_on_hand_made_graphs():
    chain = torch.tensor([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert structural_hamming_distance(chain, chain) == 0
    extra_and_missing = torch.tensor([[0, 1, 1], [0, 0, 0], [0, 0, 0]])  # +0->2, -1->2
    assert structural_hamming_distance(extra_and_missing, chain) == 2
    reversed_edge = torch.tensor([[0, 0, 0], [1, 0, 1], [0, 0, 0]])  # 1->0 instead of 0->1
    assert structural_hamming_distance(reversed_edge, chain) == 2  # a removal and an insertion
    with pytest.raises(ValueError, match="same shape"):
        structural_hamming_distance(chain, torch.zeros(4, 4))
    with pytest.raises(ValueError, match=r"binary adjacency.*extract_graph"):
        structural_hamming_distance(chain * 0.5, chain)


def test_temporal_shd_is_invariant_to_relabelling_latents_within_steps():
    # Mario-like (§5.2), k = 3 latents, T = 3 steps: latent 1 at t=3 reads latent 1 at t=1, 2.
    target = torch.zeros(9, 9, dtype=torch.bool)
    target[1, 7] = target[4, 7] = target[0, 3] = True
    swap = torch.tensor([2, 0, 1])  # the same relabelling of the 3 latents at every step
    perm = torch.cat([swap + 3 * t for t in range(3)])
    relabelled = target[perm][:, perm]
    assert structural_hamming_distance(relabelled, target) > 0
    assert temporal_structural_hamming_distance(relabelled, target, per_step=3) == 0
    # One more spurious edge costs exactly 1 after the best relabelling.
    noisy = relabelled.clone()
    assert not noisy[0, 8]
    noisy[0, 8] = True
    assert temporal_structural_hamming_distance(noisy, target, per_step=3) == 1
    # Relabelling only the last step is free only if steps may be permuted independently.
    last_only = torch.cat([torch.arange(6), swap + 6])
    step_relabelled = target[last_only][:, last_only]
    assert temporal_structural_hamming_distance(step_relabelled, target, per_step=3) > 0
    assert (
        temporal_structural_hamming_distance(
            step_relabelled, target, per_step=3, shared_across_time=False
        )
        == 0
    )
    with pytest.raises(ValueError, match="do not split into time steps"):
        temporal_structural_hamming_distance(target, target, per_step=4)


# --------------------------------------------------------------------------- exact ANM density


def test_anm_log_prob_of_a_linear_sem_is_the_thm2_gaussian():
    # A linear ANM is Gaussian (Thm. 2), so its exact density must be that Gaussian's.
    z = torch.randn(7, 4, generator=torch.Generator().manual_seed(5), dtype=F64) * 2
    mean, cov = linear_sem_moments(W, B, VAR)
    expected = torch.distributions.MultivariateNormal(mean, cov).log_prob(z)
    got = anm_log_prob(lambda x: x @ W.T + B, z, VAR)
    torch.testing.assert_close(got, expected)


def test_anm_log_prob_of_the_parabola_by_hand_and_bad_shapes():
    var = torch.tensor([0.5, 0.1], dtype=F64)
    z = torch.tensor([[1.0, 1.0], [0.0, -3.0]], dtype=F64)  # on the parabola, then below it
    f = lambda x: torch.stack((torch.zeros_like(x[..., 0]), x[..., 0].square()), -1)  # noqa: E731
    n = z - f(z)
    by_hand = -0.5 * (n.square() / var + torch.log(2 * math.pi * var)).sum(-1)
    torch.testing.assert_close(anm_log_prob(f, z, var), by_hand)
    assert anm_log_prob(f, z, var)[1] < by_hand[0] - 40  # 3 / sqrt(0.1) ≈ 9.5 sd below
    with pytest.raises(ValueError, match="same d"):
        anm_log_prob(f, z, torch.ones(3, dtype=F64))
