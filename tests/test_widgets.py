"""Panels without a browser: controls set from Python, renders checked, budgets registered."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from widgets.panel import PANELS, Panel, Rendered, load_all_panels, register_panel
from widgets.tour import SeeingDoingRenderer, seeing_vs_doing_panel


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_every_panel_module_registers_with_a_budget():
    panels = load_all_panels()
    assert "tour_seeing_doing" in panels
    assert all(p.budget_ms > 0 for p in panels.values())


@pytest.mark.parametrize("name", sorted(load_all_panels()))
def test_registered_panel_benchmark_renders_distinct_frames(name):
    step = PANELS[name].setup()
    frames = [step(i) for i in range(3)]
    assert all(isinstance(f, Rendered) and f.png.startswith(b"\x89PNG") for f in frames)
    assert len({f.png for f in frames}) > 1, "renders do not respond to the controls"


def test_tour_panel_follows_its_slider():
    panel = seeing_vs_doing_panel()
    before_png, before_text = panel.figure.value, panel.readout.value
    panel.controls["barometer"].value = -1.5
    assert panel.readout.value != before_text
    assert "-1.50" in panel.readout.value
    assert panel.figure.value != before_png
    assert panel.last_render_ms > 0 and "rendered in" in panel.latency.value
    assert "causalkit-panel" in panel.widget._dom_classes


def test_tour_renderer_readout_is_the_closed_form():
    renderer = SeeingDoingRenderer()
    low, high = renderer.render(-2.0), renderer.render(2.0)
    assert "0.814" in low.readout and "0.186" in low.readout  # seeing vs doing at b = -2
    assert "0.186" in high.readout
    # The marker moved: the frames differ, and only in a small part of the picture.
    changed = (_pixels(low.png) != _pixels(high.png)).any(axis=2).mean()
    assert 0 < changed < 0.2


@pytest.mark.parametrize("bad", [-3.0, 2.6, float("nan")])
def test_tour_renderer_rejects_out_of_range_readings(bad):
    with pytest.raises(ValueError, match="barometer reading"):
        SeeingDoingRenderer().render(bad)


def test_slider_bounds_match_the_renderer_range():
    slider = seeing_vs_doing_panel().controls["barometer"]
    renderer = SeeingDoingRenderer()
    renderer.render(slider.min)
    renderer.render(slider.max)


def test_register_panel_validates():
    with pytest.raises(ValueError, match="budget_ms"):
        register_panel("x", 0)

    @register_panel("_test_panel", 10)
    def first():
        return lambda i: None

    try:
        with pytest.raises(ValueError, match="already registered"):

            @register_panel("_test_panel", 10)
            def second():
                return lambda i: None
    finally:
        PANELS.pop("_test_panel")


def test_panel_wires_any_control_to_its_render():
    import ipywidgets as ipw

    calls = []

    def render(k: int) -> Rendered:
        calls.append(k)
        return Rendered(b"png%d" % k, f"k = {k}")

    panel = Panel({"k": ipw.IntSlider(value=1, min=0, max=5)}, render, "test", budget_ms=5)
    panel.controls["k"].value = 4
    assert calls == [1, 4] and panel.readout.value == "k = 4"
    assert "budget 5 ms" in panel.latency.value


# ------------------------------------------------------------------ CFL manipulator panel


@pytest.fixture(scope="module")
def cfl_result():
    from causalkit import cfl

    return cfl.result(cfl.config("quick"), 0)  # trained by the notebook regression test


def _find_button(widget, description):
    import ipywidgets as ipw

    if isinstance(widget, ipw.Button) and widget.description == description:
        return widget
    for child in getattr(widget, "children", ()):
        found = _find_button(child, description)
        if found is not None:
            return found
    return None


def test_cfl_panel_follows_target_alpha_and_edits(cfl_result):
    from widgets.cfl import manipulator_panel

    panel = manipulator_panel(cfl_result)
    first = panel.readout.value
    panel.controls["target"].value = 1.0
    assert panel.readout.value != first and "target ĉ = 1.00" in panel.readout.value
    panel.controls["index"].value = 1
    image_before = panel.figure.value
    draw_h = _find_button(panel.widget, "draw h-bar in row")
    draw_h.click()
    assert panel.figure.value != image_before
    assert "h-bar yes →" in panel.readout.value  # the edited original now has an h-bar


def test_cfl_render_removes_the_h_bar_and_keeps_the_v_bar(cfl_result):
    import torch

    from widgets.cfl import _grating_model

    model, _ = _grating_model(cfl_result.grating[0])
    image = torch.zeros(10, 10)
    image[4, :] = 1  # h-bar
    image[:, 7] = 1  # v-bar
    frame = model.render(image, target=0.0, alpha=0.15)
    assert "h-bar yes → no" in frame.readout and "v-bar yes → yes" in frame.readout


@pytest.mark.parametrize(("target", "alpha"), [(1.5, 0.1), (0.5, -0.1)])
def test_cfl_render_rejects_out_of_range_controls(target, alpha, cfl_result):
    import torch

    from widgets.cfl import _grating_model

    model, _ = _grating_model(cfl_result.grating[0])
    with pytest.raises(ValueError, match="must be in"):
        model.render(torch.zeros(10, 10), target, alpha)


def test_cfl_panel_digit_mode_asks_the_annotators(cfl_result):
    from widgets.cfl import manipulator_panel

    panel = manipulator_panel(cfl_result)
    panel.controls["source"].value = "digit"
    assert "Annotators say" in panel.readout.value
    machine = panel.controls["machine"]
    first = panel.readout.value
    machine.value = machine.options[-1]
    assert panel.readout.value != first and f"is it a {machine.value}?" in panel.readout.value
    before = panel.figure.value
    panel.controls["target"].value = 1.0
    assert panel.figure.value != before


def test_cfl_digit_render_rejects_bad_input(cfl_result):
    from widgets.cfl import _digit_models

    models, pool = _digit_models(cfl_result.mnist)
    model = next(iter(models.values()))
    with pytest.raises(ValueError, match="28x28"):
        model.render(pool[0].reshape(28, 28), 0.5, 0.5)
    with pytest.raises(ValueError, match="must be in"):
        model.render(pool[0], 0.5, 2.0)


@pytest.fixture(scope="module")
def ncc_run():
    from causalkit.ncc import config, result

    return result(config("quick"), seed=0)  # trained by the notebook regression test


def test_ncc_playground_swap_flips_truth_and_verdict(ncc_run):
    from widgets.ncc import ncc_playground_panel

    panel = ncc_playground_panel(ncc_run)
    first = panel.readout.value
    assert "the truth is <b>X → Y</b>" in first
    p_first = float(first.split("P(X → Y) = <b>")[1].split("<")[0])
    panel.controls["swap"].value = True
    swapped = panel.readout.value
    assert "the truth is <b>Y → X</b>" in swapped
    p_swapped = float(swapped.split("P(X → Y) = <b>")[1].split("<")[0])
    assert p_first + p_swapped == pytest.approx(1.0, abs=2e-3)  # Eq. 5, to the printed digits
    before = panel.figure.value
    noise = panel.controls["noise"]
    # The sliders span the generator the displayed model was trained with, not §3.1's defaults.
    assert noise.max == ncc_run.generator.noise_max and noise.value < noise.max
    assert panel.controls["spread"].max == ncc_run.generator.mixture_scale
    noise.value = noise.max
    assert panel.figure.value != before


def test_ncc_pair_builder_changes_only_what_a_slider_names():
    from causalkit.ncc.synthetic import GeneratorConfig
    from widgets.ncc import DEFAULT_KNOTS, PairBuilder

    builder = PairBuilder(GeneratorConfig(), draw=3)
    a = builder.params(3, 2.0, DEFAULT_KNOTS, 1.0, 0.0, 200)
    b = builder.params(3, 2.0, DEFAULT_KNOTS, 2.5, 0.0, 200)
    assert np.array_equal(a.means, b.means) and a.noise_level != b.noise_level
    assert np.allclose(a.hetero_knots, a.hetero_knots[0])  # hetero = 0: constant noise scale
    assert len(a.weights) == 3
    with pytest.raises(ValueError, match="components"):
        builder.params(6, 2.0, DEFAULT_KNOTS, 1.0, 0.0, 200)
    with pytest.raises(ValueError, match="spread"):
        builder.params(2, 0.0, DEFAULT_KNOTS, 1.0, 0.0, 200)
    with pytest.raises(ValueError, match="5 mechanism knots"):
        builder.params(2, 1.0, DEFAULT_KNOTS[:4], 1.0, 0.0, 200)


def test_ncc_pair_builder_draws_from_the_models_generator():
    from causalkit.ncc.synthetic import GeneratorConfig, draw_params
    from widgets.ncc import DEFAULT_KNOTS, PairBuilder

    # The §3.1 distribution training uses, with the trained generator's ranges.
    narrow = GeneratorConfig(noise="sd", noise_max=0.5, hetero_max=1.0)
    params = PairBuilder(narrow, draw=4).params(5, 2.0, DEFAULT_KNOTS, 0.5, 1.0, 200)
    drawn = draw_params(1, np.random.default_rng(4), narrow)
    np.testing.assert_array_equal(params.hetero_knots, drawn.hetero_knots[0])
    np.testing.assert_array_equal(params.weights, drawn.raw_weights[0])
    np.testing.assert_allclose(params.means, 2.0 * drawn.unit_means[0])
    assert params.hetero_knots.max() <= narrow.hetero_max
    with pytest.raises(ValueError, match=r"noise in \[0, 0.5\]"):
        PairBuilder(narrow, draw=4).params(2, 2.0, DEFAULT_KNOTS, 1.0, 0.0, 200)


# ------------------------------------------------------------------ ICM expert arena


@pytest.fixture(scope="module")
def icm_arena():
    from causalkit import icm
    from widgets.icm import ExpertArena

    # Trained by the notebook regression test.
    return ExpertArena.from_result(icm.result(icm.config("quick"), seed=0))


def test_icm_arena_shows_every_expert_and_frames_the_winner(icm_arena):
    from widgets.icm import _WINNER

    contest = icm_arena.contest("digit", 3, "invert")
    n = icm_arena.committee.n_experts
    assert contest["outputs"].shape == (n, 1, 32, 32) and contest["scores"].shape == (n,)
    assert torch.allclose(contest["transformed"], 1 - contest["clean"], atol=1e-6)
    frame = icm_arena.render("digit", 3, "invert")
    winner = int(contest["scores"].argmax())
    assert f"winner <b>expert {winner}</b>" in frame.readout
    pixels = _pixels(frame.png)[..., :3]
    assert (pixels == np.array(_WINNER, dtype=np.uint8)).all(axis=-1).sum() > 100  # the green frame


def test_icm_arena_two_mechanisms_and_symbols(icm_arena):
    frame = icm_arena.render("symbol", 0, "noise", "left", noise_seed=2)
    assert "noise then left" in frame.readout and "(DejaVuSans-Bold)" in frame.readout
    noisy = icm_arena.contest("digit", 0, "noise", noise_seed=1)["transformed"]
    assert torch.equal(noisy, icm_arena.contest("digit", 0, "noise", noise_seed=1)["transformed"])
    assert not torch.equal(
        noisy, icm_arena.contest("digit", 0, "noise", noise_seed=2)["transformed"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("painting", 0, "up"), "source"),
        (("digit", 10_000, "up"), "index"),
        (("digit", True, "up"), "index must be an int"),
        (("digit", 0, "up", "none", -1), "noise_seed"),
        (("digit", 0, "rotate"), "unknown mechanism"),
        (("digit", 0, "up", "blur"), "unknown mechanism"),
    ],
)
def test_icm_arena_rejects_bad_controls(icm_arena, args, message):
    with pytest.raises(ValueError, match=message):
        icm_arena.render(*args)


def test_icm_panel_follows_its_controls(icm_arena):
    from widgets.icm import expert_arena_panel

    panel = expert_arena_panel(icm_arena)
    first = panel.readout.value
    panel.controls["mechanism"].value = "up-left"
    assert panel.readout.value != first and "through <b>up-left</b>" in panel.readout.value
    panel.controls["source"].value = "symbol"
    assert panel.controls["index"].max == len(icm_arena.images["symbol"]) - 1
    assert "DejaVu" in panel.readout.value


@pytest.mark.parametrize("name", ["tour", "ncc", "cfl", "icm"])
def test_panel_shows_a_render_error(name, request, shows_render_errors):
    from widgets.cfl import manipulator_panel
    from widgets.icm import expert_arena_panel
    from widgets.ncc import ncc_playground_panel

    build = {
        "tour": lambda: seeing_vs_doing_panel(),
        "ncc": lambda: ncc_playground_panel(request.getfixturevalue("ncc_run")),
        "cfl": lambda: manipulator_panel(request.getfixturevalue("cfl_result")),
        "icm": lambda: expert_arena_panel(request.getfixturevalue("icm_arena")),
    }
    shows_render_errors(build[name]())


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("ncc", {"n_points": 10**6}, "n_points must be in 50..1000"),
        ("ncc", {"swap": "no"}, "swap must be True or False"),
        ("ncc", {"draw": True}, "must be integers"),
        ("cfl", {"index": True}, "index must be an int"),
        ("cfl", {"source": "photo"}, "source must be one of"),
        ("tour", {"barometer": True}, "barometer reading"),
    ],
    # The id starts with the paper, so the suite's scheduler puts it in that paper's chain.
    ids=["ncc_points", "ncc_swap", "ncc_draw", "cfl_index", "cfl_source", "tour_barometer"],
)
def test_panel_render_refuses_out_of_bounds_input(name, change, message, request):
    """What a notebook (not a slider) can pass: the pure layer refuses it by name."""
    from widgets.cfl import manipulator_panel
    from widgets.ncc import ncc_playground_panel

    build = {
        "tour": lambda: seeing_vs_doing_panel(),
        "ncc": lambda: ncc_playground_panel(request.getfixturevalue("ncc_run")),
        "cfl": lambda: manipulator_panel(request.getfixturevalue("cfl_result")),
    }
    panel = build[name]()
    with pytest.raises(ValueError, match=message):
        panel._render(**{**panel.values(), **change})


def test_tour_challenge_is_met_at_a_low_reading(meets_its_challenge):
    met = meets_its_challenge(seeing_vs_doing_panel(), [{"barometer": -1.0}, {"barometer": -2.0}])
    assert met["barometer"] == -2.0  # at -1.0 seeing adds 0.45, not 0.5


def test_ncc_challenge_a_pair_that_fools_ncc(ncc_run, meets_its_challenge):
    """About one random setting in ten fools the quick model; 300 are tried."""
    from widgets.ncc import ncc_playground_panel

    panel = ncc_playground_panel(ncc_run)
    rng = np.random.default_rng(0)

    def settings():
        for _ in range(300):
            yield {
                name: bool(rng.integers(2))
                if name == "swap"
                else int(rng.integers(c.min, c.max + 1))
                if isinstance(c.value, int)
                else float(rng.uniform(c.min, c.max))
                for name, c in panel.controls.items()
            }

    met = meets_its_challenge(panel, settings())
    frame = panel._render(**met)
    assert frame.facts["ncc_says"] != frame.facts["truth"]


def test_cfl_challenge_removes_the_h_bar_keeps_the_v_bar(cfl_result, meets_its_challenge):
    from widgets.cfl import manipulator_panel

    panel = manipulator_panel(cfl_result)
    met = meets_its_challenge(panel, [{"index": i} for i in range(40)])
    frame = panel._render(**met)
    assert frame.facts["hbar"] == (True, False) and frame.facts["vbar"] == (True, True)


def test_icm_challenge_an_expert_undoes_a_mechanism_on_a_symbol(icm_arena, meets_its_challenge):
    from widgets.icm import MECHANISMS, expert_arena_panel

    panel = expert_arena_panel(icm_arena)
    tries = [{"source": "symbol", "index": i, "mechanism": m} for i in range(5) for m in MECHANISMS]
    met = meets_its_challenge(panel, tries)
    frame = panel._render(**met)
    assert frame.facts["source"] == "symbol" and frame.facts["error_out"] < frame.facts["error_in"]


def test_cfl_pointer_draws_an_h_bar_and_the_causal_class_follows(cfl_result, pointer_events):
    """Drag across one row of the original GRATING image: an h-bar appears, and with it the
    oracle's P(T | I) rises (the h-bar causes T)."""
    from widgets.cfl import GRATING_SCALE, manipulator_panel

    panel = manipulator_panel(cfl_result)
    for i in range(40):
        panel.controls["index"].value = i
        if not panel.frame.facts["hbar"][0]:
            break
    before = panel.frame.facts["p_t"][0]
    left, top = panel.frame.facts["origin"]
    side = cfl_result.grating[0].world.side
    y = top + 2 * GRATING_SCALE + GRATING_SCALE // 2  # row 2
    xs = [left + c * GRATING_SCALE + GRATING_SCALE // 2 for c in range(side)]
    pointer_events(panel.pencil, "mousedown", xs[0], y)
    for x in (xs[len(xs) // 2], xs[-1]):  # a quick drag: throttled moves skip cells
        pointer_events(panel.pencil, "mousemove", x, y)
    pointer_events(panel.pencil, "mouseup", xs[-1], y)
    assert panel.frame.facts["hbar"][0], "the stroke should have drawn an h-bar"
    assert panel.frame.facts["p_t"][0] > before + 0.2, (before, panel.frame.facts["p_t"])
    assert "h-bar yes →" in panel.readout.value
    # A stroke that starts on ink erases: press the first pixel of the bar again.
    pointer_events(panel.pencil, "mousedown", xs[0], y)
    pointer_events(panel.pencil, "mouseup", xs[0], y)
    assert not panel.frame.facts["hbar"][0], "pressing on ink should have cleared that pixel"


def test_cfl_target_strip_moves_the_target(cfl_result, pointer_events):
    from widgets.cfl import manipulator_panel

    panel = manipulator_panel(cfl_result)
    strip = panel.target_strip
    width = strip.SIZE[0]
    pointer_events(strip.pointer, "mousedown", width - 1, 20)
    assert panel.controls["target"].value == 1.0 and panel.frame.facts["target"] == 1.0
    pointer_events(strip.pointer, "mousemove", width // 2, 20)
    assert panel.controls["target"].value == 0.5
    pointer_events(strip.pointer, "mouseup", width // 2, 20)
    pointer_events(strip.pointer, "mousemove", 0, 20)  # not held: nothing moves
    assert panel.controls["target"].value == 0.5
