"""NCC §4 on the scene world: ground truth, blackouts (Fig. 5), ratios (§4.3), Fig. 6 counts."""

from __future__ import annotations

import math

import pytest
import torch

from causalkit.ncc import scenes as sc
from causalkit.ncc import study
from causalkit.ncc.scenes import (
    ADJACENT_EFFECTS,
    CATEGORIES,
    CAUSES,
    EFFECTS,
    SceneWorld,
    box_masks,
    category_index,
    render_scenes,
)
from causalkit.ncc.study import (
    SceneStudyConfig,
    abs_correlation_scorer,
    binomial_p_value,
    blackout_gallery,
    blackouts,
    causal_scores,
    correlation_scorer,
    feature_ratios,
    image_signal_study,
    summarise,
    top_features,
)

WORLD = SceneWorld()
TINY = SceneStudyConfig(
    n_train=240,
    n_analysis=160,
    channels=(8, 8),
    width=40,
    hidden=16,
    epochs=1,
    scatter_points=100,
)


@pytest.fixture(scope="module")
def scenes():
    return render_scenes(WORLD, 1500, 0)


def _dilate(mask: torch.Tensor, reach: int) -> torch.Tensor:
    """Grow an (N, S, S) mask by ``reach`` pixels in every direction (Chebyshev)."""
    pooled = torch.nn.functional.max_pool2d(mask[:, None].float(), 2 * reach + 1, 1, reach)
    return pooled[:, 0] > 0


# ------------------------------------------------------------------ the world


def test_scenes_have_the_promised_shapes_and_ranges(scenes):
    n, k, s = 1500, len(CATEGORIES), WORLD.size
    assert scenes.images.shape == (n, 3, s, s) and scenes.images.dtype == torch.float32
    assert scenes.images.min() >= 0 and scenes.images.max() <= 1
    assert scenes.presence.shape == (n, k) and scenes.presence.dtype == torch.bool
    assert scenes.boxes.shape == (n, k, 4)
    assert scenes.labels.shape == (n, s, s)
    assert torch.all(scenes.boxes[~scenes.presence] == 0)
    top, left, bottom, right = scenes.boxes[scenes.presence].unbind(-1)
    assert torch.all((top >= 0) & (top < bottom) & (bottom <= s))
    assert torch.all((left >= 0) & (left < right) & (right <= s))
    # objects at many positions and sizes, several per scene at times
    assert len(torch.unique(left)) > 10 and len(torch.unique(bottom - top)) >= 3
    assert (scenes.presence.sum(1) >= 2).float().mean() > 0.2


def test_generation_is_seeded():
    a, b, c = render_scenes(WORLD, 50, 3), render_scenes(WORLD, 50, 3), render_scenes(WORLD, 50, 4)
    assert torch.equal(a.images, b.images) and torch.equal(a.boxes, b.boxes)
    assert not torch.equal(a.images, c.images)


def test_objects_fill_their_boxes_and_nothing_else(scenes):
    masks = box_masks(scenes.boxes, WORLD.size)
    for k, name in enumerate(CATEGORIES):
        body = scenes.element_mask(name)
        assert not body[~masks[:, k]].any(), f"{name} pixels outside its box"
        assert not body[~scenes.presence[:, k]].any(), f"{name} painted in a scene without one"
        # the body shows (it can be partly hidden by a later object)
        visible = body.flatten(1).any(1)
        assert visible[scenes.presence[:, k]].float().mean() > 0.9


def test_causal_context_lies_outside_the_box(scenes):
    masks = box_masks(scenes.boxes, WORLD.size)
    for k, name in enumerate(CATEGORIES):
        for cause in CAUSES[name]:
            context = scenes.element_mask(cause)
            assert not (context & masks[:, k]).any(), f"{cause} pixels inside a {name} box"
            assert context.flatten(1).any(1).float().mean() > 0.2  # and it is there to be seen


def test_effects_lie_inside_or_right_next_to_the_box_and_only_with_the_object(scenes):
    masks = box_masks(scenes.boxes, WORLD.size)
    for k, name in enumerate(CATEGORIES):
        top, left, bottom, right = scenes.boxes[:, k].unbind(-1)
        for effect in EFFECTS[name]:
            pixels = scenes.element_mask(effect)
            assert not pixels[~scenes.presence[:, k]].any(), f"{effect} without a {name}"
            if effect in ADJACENT_EFFECTS:
                reach = int(2 * torch.maximum(bottom - top, right - left).max())
                near = _dilate(masks[:, k], reach)
                assert not (pixels & ~near).any(), f"{effect} far from its {name}"
                assert (pixels & ~masks[:, k]).any(), f"{effect} never shows outside the box"
            else:
                assert not (pixels & ~masks[:, k]).any(), f"{effect} outside the {name} box"
            # each effect shows for most objects, but not always (effect_prob < 1)
            shown = pixels.flatten(1).any(1)[scenes.presence[:, k]].float().mean()
            assert 0.5 < shown < 0.99, (effect, shown)


def test_presence_depends_on_its_context_without_being_it(scenes):
    for k, name in enumerate(CATEGORIES):
        ctx, present = scenes.context[:, k], scenes.presence[:, k]
        with_ctx, without = present[ctx].float().mean(), present[~ctx].float().mean()
        assert with_ctx > without + 0.25, name
        assert without > 0.02 and with_ctx < 0.9, name  # correlated, not identical
        assert (ctx & ~present).any() and (~ctx & present).any()


def test_element_strengths_are_visible_shares(scenes):
    strengths = scenes.element_strengths()
    assert strengths.shape == (1500, len(sc.ELEMENTS))
    assert torch.allclose(strengths.sum(1), torch.ones(1500))
    road = sc.ELEMENTS.index("road")
    assert torch.allclose(strengths[:, road], scenes.element_mask("road").float().mean((1, 2)))


# ------------------------------------------------------------------ Fig. 5, §4.3


def test_blackouts_zero_exactly_the_right_pixels():
    g = torch.Generator().manual_seed(0)
    images = torch.randn(3, 3, 8, 8, generator=g) + 5  # no accidental zeros
    boxes = torch.tensor([[[1, 2, 4, 6]], [[0, 0, 8, 8]], [[0, 0, 0, 0]]])
    mask = box_masks(boxes, 8)[:, 0]
    assert mask.sum((1, 2)).tolist() == [12, 64, 0]
    obj, ctx = blackouts(images, mask)
    inside = mask[:, None].expand_as(images)
    assert torch.all(obj[~inside] == 0) and torch.equal(obj[inside], images[inside])
    assert torch.all(ctx[inside] == 0) and torch.equal(ctx[~inside], images[~inside])
    assert torch.equal(obj + ctx, images)


def test_ratios_match_a_hand_computed_example():
    f = torch.tensor([[1.0, -2.0, 0.0], [3.0, 0.0, 0.0]])
    f_object = torch.tensor([[1.0, 0.0, 0.0], [3.0, 0.0, 5.0]])
    f_context = torch.tensor([[0.0, -2.0, 0.0], [1.0, 1.0, 0.0]])
    s_object, s_context = feature_ratios(f, f_object, f_context)
    # s^o: Σ|f^c − f| / Σ|f| = (1 + 2) / 4, (0 + 1) / 2; a feature that is always 0 gets 0
    assert s_object.tolist() == pytest.approx([0.75, 0.5, 0.0])
    # s^c: Σ|f^o − f| / Σ|f| = 0 / 4, (2 + 0) / 2
    assert s_context.tolist() == pytest.approx([0.0, 1.0, 0.0])


# ------------------------------------------------------------------ §4.2 selection, §4.4 counts


def test_top_fraction_picks_the_highest_and_lowest_scores():
    scores = torch.tensor([0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4, 0.0])
    causal, anticausal = top_features(scores, 0.2)
    assert causal.tolist() == [1, 5] and anticausal.tolist() == [9, 2]
    causal, anticausal = top_features(scores, 0.01)  # at least one feature each
    assert causal.tolist() == [1] and anticausal.tolist() == [9]
    causal, _ = top_features(scores, 1.0)
    assert sorted(causal.tolist()) == list(range(10))
    batched_c, batched_a = top_features(torch.stack([scores, 1 - scores]), 0.3)
    assert batched_c.tolist() == [[1, 5, 3], [9, 2, 6]]
    assert batched_a.tolist() == [[9, 2, 6], [1, 5, 3]]


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, float("nan")])
def test_a_fraction_outside_zero_one_is_refused(fraction):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        top_features(torch.rand(10), fraction)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        SceneStudyConfig(top_fraction=fraction)


def test_binomial_p_value_is_one_sided_at_one_half():
    assert binomial_p_value(20, 20) == pytest.approx(2.0**-20)
    tail = sum(math.comb(20, i) for i in range(16, 21)) / 2**20
    assert binomial_p_value(16, 20) == pytest.approx(tail)
    assert binomial_p_value(0, 6) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="count"):
        binomial_p_value(7, 6)


def test_summarise_counts_categories_where_anticausal_features_are_more_object_like():
    scores = torch.tensor([[0.9, 0.8, 0.2, 0.1], [0.9, 0.8, 0.2, 0.1], [0.9, 0.8, 0.2, 0.1]])
    # category 0 and 1: the low-score (anticausal) features react more to erasing the object
    object_ratio = torch.tensor([[0.1, 0.2, 0.6, 0.8], [0.3, 0.3, 0.4, 0.5], [0.9, 0.7, 0.1, 0.2]])
    context_ratio = 1 - object_ratio
    zeros = torch.zeros_like(scores)
    s = summarise(scores, object_ratio, context_ratio, 0.5, zeros, zeros)
    assert s.n_features == 2
    assert s.causal.tolist() == [[0, 1]] * 3 and s.anticausal.tolist() == [[3, 2]] * 3
    assert s.object_anticausal_mean.tolist() == pytest.approx([0.7, 0.45, 0.15])
    assert s.object_causal_mean.tolist() == pytest.approx([0.15, 0.3, 0.8])
    assert s.object_causal_std.tolist() == pytest.approx([0.05, 0.0, 0.1])
    assert s.consistent.tolist() == [True, True, False] and s.count == 2
    assert s.p_value == pytest.approx(binomial_p_value(2, 3))
    assert s.context_count == 1


# ------------------------------------------------------------------ scorers


def test_correlation_scorers_follow_the_contract():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, generator=g)
    noise = torch.randn(200, generator=g)
    pairs = torch.stack(
        [
            torch.stack([x, 2 * x + 1], -1),  # ρ = 1
            torch.stack([x, -x], -1),  # ρ = -1
            torch.stack([x, noise], -1),  # ρ ≈ 0
            torch.stack([torch.ones(200), x], -1),  # constant: ρ defined as 0
        ]
    )
    corr, absolute = correlation_scorer(pairs), abs_correlation_scorer(pairs)
    assert corr.shape == (4,) and absolute.shape == (4,)
    assert corr[:2].tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    assert absolute[:2].tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert abs(corr[2] - 0.5) < 0.1 and absolute[2] < 0.2
    assert corr[3] == 0.5 and absolute[3] == 0
    assert torch.all((corr >= 0) & (corr <= 1) & (absolute >= 0) & (absolute <= 1))


@pytest.mark.parametrize("shape", [(5, 2), (3, 10, 3), (3, 1, 2)])
def test_scorers_refuse_malformed_pairs(shape):
    with pytest.raises(ValueError, match=r"pairs|points"):
        correlation_scorer(torch.zeros(shape))


def test_causal_scores_pair_every_feature_with_every_category():
    g = torch.Generator().manual_seed(2)
    c = torch.randn(300, 2, generator=g)
    f = torch.stack([c[:, 0], -c[:, 1], torch.randn(300, generator=g)], 1)
    scores = causal_scores(f, c, correlation_scorer, batch_pairs=2)
    assert scores.shape == (2, 3)
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)  # feature 0 is category 0
    assert scores[1, 1] == pytest.approx(0.0, abs=1e-5)  # feature 1 is minus category 1
    assert abs(scores[0, 2] - 0.5) < 0.1


def test_causal_scores_check_what_the_scorer_returns():
    f, c = torch.randn(50, 4), torch.randn(50, 2)
    with pytest.raises(ValueError, match="shape"):
        causal_scores(f, c, lambda p: torch.zeros(len(p), 1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        causal_scores(f, c, lambda p: torch.full((len(p),), 1.5))
    with pytest.raises(ValueError, match="share m"):
        causal_scores(f, c[:10], correlation_scorer)


# ------------------------------------------------------------------ bad inputs


def test_unknown_names_and_bad_shapes_are_refused(scenes):
    with pytest.raises(ValueError, match="unknown category 'dog'"):
        category_index("dog")
    with pytest.raises(ValueError, match="unknown scene element"):
        scenes.element_mask("dog")
    with pytest.raises(ValueError, match="size"):
        SceneWorld(size=10)
    with pytest.raises(ValueError, match="positive integer"):
        render_scenes(WORLD, 0, 0)
    with pytest.raises(ValueError, match="match"):
        blackouts(torch.zeros(2, 3, 8, 8), torch.zeros(2, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="boolean"):
        blackouts(torch.zeros(2, 3, 8, 8), torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match="same shape"):
        feature_ratios(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="divisible"):
        SceneStudyConfig(channels=(8, 8, 8, 8, 8, 8))


# ------------------------------------------------------------------ end to end


def test_the_study_runs_and_reuses_the_trained_networks(tmp_cache, monkeypatch):
    builds = []
    real_build = study.build_scene_features
    monkeypatch.setattr(
        study, "build_scene_features", lambda *a: builds.append(1) or real_build(*a)
    )
    corr = image_signal_study(TINY, 0, correlation_scorer)
    absolute = image_signal_study(TINY, 0, abs_correlation_scorer)
    assert len(builds) == 1  # the second scorer reads the cached features

    k, width = len(CATEGORIES), TINY.width
    assert corr.n_categories == k and corr.scores.shape == (k, width)
    assert corr.object_ratio.shape == corr.context_ratio.shape == (k, width)
    assert torch.equal(
        corr.object_ratio, absolute.object_ratio
    )  # ratios do not depend on the scorer
    assert corr.top.n_features == 1 and corr.wide.n_features == 8  # 1 % and 20 % of 40
    for s in (corr.top, absolute.top, corr.wide, absolute.wide):
        assert torch.equal(s.consistent, s.object_anticausal_mean > s.object_causal_mean)
        assert s.count == int(s.consistent.sum())
        assert s.p_value == pytest.approx(binomial_p_value(s.count, k))
    # under the correlation scorer the "causal" features are the most correlated ones
    assert torch.equal(corr.top.causal[:, 0], corr.scores.argmax(1))
    assert torch.equal(absolute.top.causal[:, 0], (2 * corr.scores - 1).abs().argmax(1))
    assert corr.n_scatter == TINY.scatter_points
    assert corr.features_seconds > 0 and corr.features_seconds == absolute.features_seconds
    assert torch.all(corr.n_category_images > 0)


def test_training_and_features_are_deterministic_for_a_seed():
    a, b = study.build_scene_features(TINY, 5), study.build_scene_features(TINY, 5)
    assert torch.equal(a["features"], b["features"])
    assert torch.equal(
        a["per_category"]["car"]["context_features"], b["per_category"]["car"]["context_features"]
    )


def test_blackout_gallery_blacks_out_the_category_boxes():
    gallery = blackout_gallery(TINY, 0, "boat", n=3)
    mask = gallery["mask"][:, None].expand_as(gallery["original"])
    assert gallery["original"].shape[0] == 3
    assert torch.all(gallery["object_only"][~mask] == 0)
    assert torch.all(gallery["context_only"][mask] == 0)
    assert torch.equal(gallery["object_only"][mask], gallery["original"][mask])
    scenes = study.analysis_scenes(TINY, 0)
    assert scenes.presence[gallery["rows"], category_index("boat")].all()
