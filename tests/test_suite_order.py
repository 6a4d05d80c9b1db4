"""The suite's chains: each paper's trained-model tests run on one xdist worker, in order."""

from __future__ import annotations

import conftest
import pytest

from causalkit.notebooks import NOTEBOOKS


@pytest.mark.parametrize(
    ("nodeid", "chain"),
    [
        ("notebooks/03_icm.ipynb::Cell 2", "icm"),
        ("tests/test_notebooks.py::test_quick_preset_meets_its_declared_metrics[cgn]", "cgn"),
        ("tests/test_notebooks.py::test_student_edition_scores_zero[ncc]", "ncc"),
        ("tests/test_widgets.py::test_registered_panel_benchmark[semvae_noise]", "semvae"),
        ("tests/test_widgets.py::test_cfl_render_rejects_out_of_range_controls[1.5-0.1]", "cfl"),
        ("tests/test_widgets_cgn_composer.py::test_render_rejects_bad_controls[x]", "cgn"),
        ("tests/browser/test_tour.py::test_tour_slider_moves_readout", "tour"),
        ("tests/test_widgets.py::test_tour_renderer_rejects_out_of_range_readings[-3.0]", "tour"),
        ("tests/test_widgets_render.py::test_upscale_repeats_pixels", None),
        ("tests/test_notebooks.py::test_same_seed_gives_same_metrics_on_cpu", None),
        ("tests/test_core.py::test_icm_like_name_outside_the_chains", None),
    ],
)
def test_a_test_joins_the_chain_of_the_paper_whose_models_it_uses(nodeid, chain):
    assert conftest._chain(nodeid) == chain


def test_every_notebook_has_a_place_in_the_chain_order():
    assert sorted(conftest.CHAIN_ORDER) == sorted(NOTEBOOKS)
    assert set(conftest._BY_FILENAME.values()) == set(NOTEBOOKS)


def test_every_test_that_takes_a_papers_trained_result_is_in_its_chain(request):
    """A test using ``cfl_result`` must say ``cfl`` in its id, or it runs outside the chain."""
    for item in request.session.items:
        for fixture in getattr(item, "fixturenames", ()):
            paper = fixture.removesuffix("_result")
            if fixture.endswith("_result") and paper in NOTEBOOKS:
                assert conftest._chain(item.nodeid) == paper, item.nodeid
