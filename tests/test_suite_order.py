"""The suite's chains: each paper's trained-model tests run on one xdist worker, in order."""

from __future__ import annotations

from types import SimpleNamespace

import conftest
import pytest

from causalkit.notebooks import NOTEBOOKS


def _item(nodeid: str, params: dict | None = None, fixtures: tuple[str, ...] = ()):
    name = nodeid.rsplit("::", 1)[-1].split("[", 1)[0]
    callspec = SimpleNamespace(params=params) if params else None
    return SimpleNamespace(nodeid=nodeid, name=name, callspec=callspec, fixturenames=fixtures)


@pytest.mark.parametrize(
    ("item", "chain"),
    [
        (_item("notebooks/03_icm.ipynb::Cell 2"), "icm"),
        (_item("tests/test_notebooks.py::test_quick_preset[cgn]", {"name": "cgn"}), "cgn"),
        (_item("tests/test_solutions.py::test_ncc_1_swapping_columns"), "ncc"),
        (_item("tests/test_widgets.py::test_bench[semvae_x]", {"name": "semvae_x"}), "semvae"),
        (_item("tests/test_widgets.py::test_digit_render", fixtures=("cfl_result",)), "cfl"),
        (_item("tests/test_widgets_cgn_composer.py::test_render_rejects_bad_controls"), "cgn"),
        (_item("tests/browser/test_tour.py::test_tour_slider_moves_readout"), "tour"),
        (_item("tests/test_widgets_render.py::test_upscale_repeats_pixels"), None),
        (_item("tests/test_core.py::test_icm_like_name_outside_the_chains"), None),
    ],
)
def test_a_test_joins_the_chain_of_the_paper_whose_models_it_uses(item, chain):
    assert conftest._chain(item) == chain


def test_every_notebook_has_a_place_in_the_chain_order():
    assert sorted(conftest.CHAIN_ORDER) == sorted(NOTEBOOKS)
    assert set(conftest._BY_FILENAME.values()) == set(NOTEBOOKS)
