"""The MNIST CGN's model pieces: Eq. 2, Eq. 3, the patch shuffle of §3.1, the mechanisms of
App. B, counterfactual sampling, the discriminator and Fig. 3-style grids."""

from __future__ import annotations

import math

import pytest
import torch

from causalkit.cgn import (
    CGN,
    MNIST_SHAPE_WEIGHTS,
    TAU,
    Discriminator,
    PatchShuffle,
    ShapeMechanism,
    ShapeWeights,
    TextureMechanism,
    binary_mask_loss,
    compose,
    counterfactual_grid,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    make_variant,
    mask_mean,
    mask_size_loss,
    shape_loss,
)

IMAGE_KEYS = ("mask", "foreground", "background", "composite")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tiny images: on a loaded 2-core machine torch's second thread only adds waiting.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    """Real colored-MNIST test digits: (images, labels, binary masks)."""
    v = make_variant("colored", "test")
    return v.images[:64], v.labels[:64], v.masks[:64]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def fresh_cgn(seed: int = 0) -> CGN:
    torch.manual_seed(seed)
    return CGN()


def full(value: float, n: int = 1, side: int = 4) -> torch.Tensor:
    return torch.full((n, 1, side, side), value)


# --------------------------------------------------------------------------- Eq. 2


def test_compose_by_hand_1x1():
    mask = torch.tensor(0.25).reshape(1, 1, 1, 1)
    fg = torch.tensor([1.0, 0.0, 0.5]).reshape(1, 3, 1, 1)
    bg = torch.tensor([0.0, 1.0, 0.5]).reshape(1, 3, 1, 1)
    # 0.25·f + 0.75·b per channel
    expected = torch.tensor([0.25, 0.75, 0.5]).reshape(1, 3, 1, 1)
    assert torch.allclose(compose(mask, fg, bg), expected)


def test_compose_by_hand_2x2_binary_mask_picks_pixels():
    mask = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).reshape(1, 1, 2, 2)
    fg = torch.full((1, 3, 2, 2), 0.9)
    bg = torch.full((1, 3, 2, 2), 0.1)
    out = compose(mask, fg, bg)
    assert out.shape == (1, 3, 2, 2)
    assert torch.equal(out[0, :, 0, 0], fg[0, :, 0, 0]) and torch.equal(
        out[0, :, 1, 1], fg[0, :, 1, 1]
    )
    assert torch.equal(out[0, :, 0, 1], bg[0, :, 0, 1]) and torch.equal(
        out[0, :, 1, 0], bg[0, :, 1, 0]
    )


def test_compose_reproduces_the_variants(digits):
    # The variants are built with Eq. 2 and binary masks: the digit pixels are the
    # foreground color, the rest is the (black) background.
    images, _, masks = digits
    assert torch.allclose(compose(masks, images, torch.zeros_like(images)), images)


# --------------------------------------------------------------------------- Eq. 3


def test_binary_entropy_by_hand():
    assert binary_mask_loss(full(0.5)).item() == pytest.approx(1.0)
    h = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))  # 0.8113 bits
    assert binary_mask_loss(full(0.25)).item() == pytest.approx(h, rel=1e-5)
    binary = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).reshape(1, 1, 2, 2)
    assert binary_mask_loss(binary).item() == pytest.approx(0.0, abs=1e-4)
    # averaged over pixels and images: one all-0.5 image, one binary image
    both = torch.cat([full(0.5, side=2), binary])
    assert binary_mask_loss(both).item() == pytest.approx(0.5, abs=1e-4)


def test_mask_mean_per_image():
    masks = torch.cat([full(0.0), full(0.3), full(1.0)])
    assert torch.allclose(mask_mean(masks), torch.tensor([0.0, 0.3, 1.0]))


@pytest.mark.parametrize(
    ("mu", "expected"),
    [
        (0.5, 0.0),  # inside [τ, 1 − τ] = [0.1, 0.9]
        (0.1, 0.0),  # on the boundary
        (0.9, 0.0),
        (0.0, 0.1),  # all background: τ − μ
        (0.05, 0.05),
        (1.0, 0.1),  # all object: μ − (1 − τ)
        (0.95, 0.05),
    ],
)
def test_mask_size_loss_by_hand(mu, expected):
    assert mask_size_loss(full(mu), TAU).item() == pytest.approx(expected, abs=1e-6)


def test_mask_size_loss_uses_each_images_mean_then_averages():
    # Half the pixels 0, half 1: μ = 0.5 is inside the interval, however binary.
    half = torch.zeros(1, 1, 4, 4)
    half[..., :2, :] = 1.0
    assert mask_size_loss(half).item() == 0.0
    # μ = 0 (loss 0.1) and μ = 0.5 (loss 0): batch mean 0.05
    assert mask_size_loss(torch.cat([full(0.0), half])).item() == pytest.approx(0.05)
    assert mask_size_loss(full(0.2), tau=0.3).item() == pytest.approx(0.1)


def test_shape_loss_weights():
    assert TAU == 0.1 and ShapeWeights(1.0, 0.5) == MNIST_SHAPE_WEIGHTS
    # all 0.5: L_binary = 1, L_mask = 0
    assert shape_loss(full(0.5)).item() == pytest.approx(1.0)
    # all 0: L_binary ≈ 0, L_mask = 0.1
    assert shape_loss(full(0.0)).item() == pytest.approx(0.05, abs=1e-4)
    assert shape_loss(full(0.0), weights=(2.0, 10.0)).item() == pytest.approx(1.0, abs=1e-4)
    assert shape_loss(full(0.5), weights=ShapeWeights(binary=0.0, mask=1.0)).item() == 0.0


def test_shape_loss_gradients_finite_at_saturated_masks():
    logits = torch.tensor([-40.0, -5.0, 0.0, 5.0, 40.0]).reshape(1, 1, 1, 5).requires_grad_()
    shape_loss(torch.sigmoid(logits)).backward()
    assert torch.isfinite(logits.grad).all()
    # the entropy pushes unsaturated pixels away from 0.5 (0.5 itself is a stationary point)
    assert logits.grad[0, 0, 0, 1] > 0 and logits.grad[0, 0, 0, 3] < 0


# --------------------------------------------------------------------------- §3.1 patch shuffle


def patches(x: torch.Tensor, p: int) -> torch.Tensor:
    """(N, C, H, W) → (N, number of patches, C·p·p), row-major patch order."""
    n, c = x.shape[:2]
    return x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).reshape(n, -1, c * p * p)


def test_patch_shuffle_keeps_the_patches_and_changes_their_order():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    out = PatchShuffle(8)(x, gen(0))
    before, after = patches(x, 8), patches(out, 8)
    assert after.shape == (2, 16, 192)
    for i in range(2):  # every patch is unique here, so sorting by its first value matches them
        assert torch.equal(before[i][before[i][:, 0].argsort()], after[i][after[i][:, 0].argsort()])
    assert not torch.equal(out, x)
    # the patch contents are intact: each output patch is an input patch, not a mix
    assert torch.equal(after.sort(dim=-1).values, after)


def test_patch_shuffle_is_reproducible_and_random_per_image():
    x = torch.rand(1, 3, 32, 32).expand(4, -1, -1, -1)
    layer = PatchShuffle()
    a, b, c = layer(x, gen(7)), layer(x, gen(7)), layer(x, gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # same image, another permutation
    layer.eval()  # the shuffle is part of the mechanism: it runs in eval mode too
    assert torch.equal(layer(x, gen(7)), a)


def test_patch_shuffle_destroys_shape(digits):
    _, _, masks = digits
    shuffled = PatchShuffle(8)(masks, gen(0))
    assert torch.equal(shuffled.sum((1, 2, 3)), masks.sum((1, 2, 3)))  # same ink
    overlap = (shuffled * masks).sum((1, 2, 3)) / ((shuffled + masks).clamp(max=1)).sum((1, 2, 3))
    assert overlap.mean() < 0.4  # intersection over union with the digit it came from
    assert (shuffled != masks).any((1, 2, 3)).float().mean() > 0.95


# --------------------------------------------------------------------------- mechanisms (App. B)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_mechanism_shapes_and_ranges(mode):
    cgn = fresh_cgn()
    cgn.train(mode == "train")
    with torch.no_grad():
        out = cgn.sample(5, gen(0), counterfactual=True)
    assert out["mask"].shape == (5, 1, 32, 32)
    for key in ("foreground", "background", "composite"):
        assert out[key].shape == (5, 3, 32, 32)
    for key in IMAGE_KEYS:
        assert out[key].dtype == torch.float32
        assert out[key].min() >= 0.0 and out[key].max() <= 1.0
    assert torch.equal(out["composite"], compose(out["mask"], out["foreground"], out["background"]))


def test_single_mechanisms_and_one_image_in_eval_mode():
    u, y = torch.randn(1, 32), torch.tensor([3])
    assert ShapeMechanism().eval()(u, y).shape == (1, 1, 32, 32)
    assert TextureMechanism().eval()(u, y, gen(0)).shape == (1, 3, 32, 32)


def test_mechanisms_are_independent_and_class_conditional():
    cgn = fresh_cgn().eval()
    inputs = cgn.sample_inputs(4, gen(0))
    args = {k: v for k, v in inputs.items() if k != "counterfactual"}
    with torch.no_grad():
        base = cgn(**args, generator=gen(1))
        # do(Y_3 := y + 1): only the background mechanism sees another class
        moved = cgn(**{**args, "y_bg": (args["y_bg"] + 1) % 10}, generator=gen(1))
    assert torch.equal(base["mask"], moved["mask"])
    assert torch.equal(base["foreground"], moved["foreground"])
    assert not torch.allclose(base["background"], moved["background"])
    with torch.no_grad():
        other_shape = cgn.f_shape(args["u_shape"], (args["y_shape"] + 1) % 10)
    assert not torch.allclose(other_shape, base["mask"])


# --------------------------------------------------------------------------- counterfactual sampling


def agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a == b).float().mean().item()


def test_counterfactual_sampling_gives_independent_classes():
    draws = CGN().sample_inputs(2000, gen(0), counterfactual=True)
    assert draws["counterfactual"].all()
    for a, b in (("shape", "fg"), ("shape", "bg"), ("fg", "bg")):
        # independent uniform classes agree by chance, 10 % (std ≈ 0.7 % at n = 2000)
        assert agreement(draws[f"y_{a}"], draws[f"y_{b}"]) == pytest.approx(0.1, abs=0.03)
        assert not torch.allclose(draws[f"u_{a}"], draws[f"u_{b}"])
    for part in ("shape", "fg", "bg"):
        assert torch.bincount(draws[f"y_{part}"], minlength=10).min() > 150  # ~200 each


def test_non_counterfactual_sampling_shares_u_and_y():
    draws = CGN().sample_inputs(500, gen(0), counterfactual=False)
    assert not draws["counterfactual"].any()
    for part in ("fg", "bg"):
        assert torch.equal(draws[f"y_{part}"], draws["y_shape"])
        assert torch.equal(draws[f"u_{part}"], draws["u_shape"])
    assert torch.bincount(draws["y_shape"], minlength=10).min() > 20


def test_counterfactual_ratio():
    draws = CGN().sample_inputs(2000, gen(0), counterfactual=0.3)
    cf = draws["counterfactual"]
    assert cf.sum() == 600  # exactly round(0.3 · n)
    assert torch.equal(draws["y_fg"][~cf], draws["y_shape"][~cf])
    assert agreement(draws["y_fg"][cf], draws["y_shape"][cf]) == pytest.approx(0.1, abs=0.04)
    # the same generator state gives the same draws
    again = CGN().sample_inputs(2000, gen(0), counterfactual=0.3)
    assert all(torch.equal(draws[k], again[k]) for k in draws)


def test_sample_returns_inputs_and_outputs():
    out = fresh_cgn().sample(3, gen(0), counterfactual=0.5)
    assert set(out) == {
        *IMAGE_KEYS,
        "counterfactual",
        *(f"{v}_{p}" for v in "uy" for p in ("shape", "fg", "bg")),
    }
    assert out["counterfactual"].sum() == 2  # round(1.5) == 2
    assert out["composite"].requires_grad  # usable for the generator step


# --------------------------------------------------------------------------- adversarial training


def test_two_training_steps_backpropagate(digits):
    images, labels, _ = digits
    x_real, y_real = images[:8], labels[:8]
    cgn, disc = fresh_cgn(), Discriminator()
    opt_g = torch.optim.Adam(cgn.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    start = [p.detach().clone() for p in cgn.parameters()]
    g = gen(0)
    for _ in range(2):
        # generator: fool D and keep the mask binary and of sensible size (Eq. 3)
        opt_g.zero_grad()
        out = cgn.sample(8, g)
        logits = disc(out["composite"], out["y_shape"])
        assert logits.shape == (8,)
        loss_g = generator_adversarial_loss(logits) + shape_loss(out["mask"])
        loss_g.backward()
        assert torch.isfinite(loss_g)
        for name in ("f_shape", "f_text1", "f_text2"):
            grads = [p.grad for p in getattr(cgn, name).parameters()]
            assert all(gr is not None and torch.isfinite(gr).all() for gr in grads), name
            assert sum(gr.abs().sum() for gr in grads) > 0, name
        opt_g.step()

        # discriminator: real against the (detached) composites
        opt_d.zero_grad()
        cgn.zero_grad()
        loss_d = discriminator_adversarial_loss(
            disc(x_real, y_real), disc(out["composite"].detach(), out["y_shape"])
        )
        loss_d.backward()
        assert torch.isfinite(loss_d)
        grads = [p.grad for p in disc.parameters()]
        assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
        assert sum(gr.abs().sum() for gr in grads) > 0
        assert all(p.grad is None or not p.grad.any() for p in cgn.parameters())
        opt_d.step()
    assert any(not torch.equal(a, b) for a, b in zip(start, cgn.parameters(), strict=True))


def test_adversarial_losses_by_hand():
    ones, zeros = torch.ones(4), torch.zeros(4)
    assert generator_adversarial_loss(ones).item() == 0.0
    assert generator_adversarial_loss(zeros).item() == 1.0
    assert discriminator_adversarial_loss(ones, zeros).item() == 0.0
    assert discriminator_adversarial_loss(zeros, ones).item() == 1.0
    with pytest.raises(ValueError, match="fake_logits must have 1 dimensions"):
        generator_adversarial_loss(torch.zeros(4, 1))
    with pytest.raises(ValueError, match="real_logits must be a floating-point tensor"):
        discriminator_adversarial_loss([1.0], zeros)


# --------------------------------------------------------------------------- Fig. 3 grids


def test_counterfactual_grid_layout_and_reproducibility():
    cgn = fresh_cgn()  # in training mode: the grid must not change that, nor BN statistics
    state = {k: v.clone() for k, v in cgn.state_dict().items()}
    grid = counterfactual_grid(cgn, list(range(10)), list(range(10)), generator=gen(0))
    assert grid.shape == (10, 10, 3, 32, 32)
    assert grid.min() >= 0.0 and grid.max() <= 1.0
    assert cgn.training
    assert all(torch.equal(v, cgn.state_dict()[k]) for k, v in state.items())
    assert torch.equal(
        grid, counterfactual_grid(cgn, list(range(10)), list(range(10)), generator=gen(0))
    )
    assert not torch.equal(
        grid, counterfactual_grid(cgn, list(range(10)), list(range(10)), generator=gen(1))
    )


@pytest.mark.parametrize("background", [4, "shape", "texture"])
def test_counterfactual_grid_rows_are_shapes_columns_are_textures(background):
    cgn = fresh_cgn()
    grid = counterfactual_grid(cgn, [3, 3, 5], [1, 1, 7], background, gen(0))
    # fixed noise: a repeated class repeats the image, another class changes it
    assert torch.equal(grid[0], grid[1]) and torch.equal(grid[:, 0], grid[:, 1])
    assert not torch.allclose(grid[0], grid[2]) and not torch.allclose(grid[:, 0], grid[:, 2])


# --------------------------------------------------------------------------- bad inputs


def test_compose_rejects_bad_inputs():
    m, f = torch.rand(2, 1, 4, 4), torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"mask must have shape \(N, 1, H, W\)"):
        compose(torch.rand(2, 3, 4, 4), f, f)
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]"):
        compose(m + 1, f, f)
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]"):
        compose(torch.full((2, 1, 4, 4), math.nan), f, f)
    with pytest.raises(ValueError, match="foreground must have 3 channels"):
        compose(m, torch.rand(2, 1, 4, 4), f)
    with pytest.raises(ValueError, match=r"background .* must share N, H and W"):
        compose(m, f, torch.rand(3, 3, 4, 4))
    with pytest.raises(ValueError, match="must have 4 dimensions"):
        compose(m[0], f, f)
    with pytest.raises(ValueError, match="floating-point tensor"):
        compose(m, f.numpy(), f)


def test_shape_losses_reject_bad_inputs():
    with pytest.raises(ValueError, match=r"tau must be a number in \[0.0, 0.5\]"):
        mask_size_loss(full(0.5), tau=0.6)
    with pytest.raises(ValueError, match="weights must be a"):
        shape_loss(full(0.5), weights=(1.0,))
    with pytest.raises(ValueError, match="λ_mask"):
        shape_loss(full(0.5), weights=(1.0, -1.0))
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]"):
        binary_mask_loss(full(1.5))


def test_patch_shuffle_rejects_bad_inputs():
    with pytest.raises(ValueError, match="patch_size must be >= 1"):
        PatchShuffle(0)
    with pytest.raises(ValueError, match="not a multiple of patch_size 8"):
        PatchShuffle(8)(torch.rand(1, 3, 30, 30))
    with pytest.raises(ValueError, match="must have 4 dimensions"):
        PatchShuffle(8)(torch.rand(3, 32, 32))


def test_sampling_rejects_bad_inputs():
    cgn = CGN()
    for n in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n must be"):
            cgn.sample_inputs(n)
    for ratio in (1.5, -0.1, "yes", math.nan):
        with pytest.raises(ValueError, match="counterfactual must be a number in"):
            cgn.sample_inputs(4, counterfactual=ratio)


def test_forward_rejects_bad_inputs():
    cgn = fresh_cgn()
    args = {k: v for k, v in cgn.sample_inputs(2, gen(0)).items() if k != "counterfactual"}
    with pytest.raises(ValueError, match=r"classes in 0..9, got 3..10"):
        cgn(**{**args, "y_fg": torch.tensor([3, 10])})
    with pytest.raises(ValueError, match=r"classes in 0..9, got -1"):
        cgn(**{**args, "y_shape": torch.tensor([-1, 0])})
    with pytest.raises(ValueError, match="labels must be an integer tensor"):
        cgn(**{**args, "y_bg": torch.tensor([1.0, 2.0])})
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        cgn(**{**args, "y_bg": torch.tensor([1, 2, 3])})
    with pytest.raises(ValueError, match=r"u must have shape \(N, 32\)"):
        cgn(**{**args, "u_fg": torch.randn(2, 16)})
    with pytest.raises(ValueError, match="one batch size"):
        cgn(**{**args, "u_bg": torch.randn(3, 32)})


def test_discriminator_rejects_bad_inputs():
    disc = Discriminator()
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3, 32, 32\)"):
        disc(torch.rand(2, 1, 32, 32), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        disc(torch.rand(2, 3, 32, 32), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"classes in 0\.\.9"):
        disc(torch.rand(2, 3, 32, 32), torch.tensor([0, 12]))


def test_counterfactual_grid_rejects_bad_inputs():
    cgn = CGN()
    with pytest.raises(ValueError, match="cgn must be a CGN"):
        counterfactual_grid(Discriminator(), [1], [1])
    with pytest.raises(ValueError, match="shape_classes must be a non-empty sequence"):
        counterfactual_grid(cgn, [], [1])
    with pytest.raises(ValueError, match=r"texture_classes\[1\] must be >= 0 and < 10"):
        counterfactual_grid(cgn, [1], [2, 10])
    with pytest.raises(ValueError, match="background must be a class, 'shape' or 'texture'"):
        counterfactual_grid(cgn, [1], [1], background="sky")
    with pytest.raises(ValueError, match="background must be >= 0 and < 10"):
        counterfactual_grid(cgn, [1], [1], background=-1)
