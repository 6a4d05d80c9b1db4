"""``python -m causalkit ncc score``: P(A → B) per row of a cause-effect CSV (Tübingen layout),
scored by the NCC of Lopez-Paz et al., "Discovering Causal Signals in Images" (CVPR 2017,
https://arxiv.org/abs/1605.08179)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from causalkit.data import read_pairs_csv
from causalkit.ncc.experiment import config, result


def score_csv(
    path: str | Path, preset: str = "quick", seed: int = 0
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """P(A → B) for every valid row of a SampleID,A,B file, and the rejected rows.

    Returns a table (SampleID, p_a_causes_b) and a list of (SampleID, reason) for the rows
    ``read_pairs_csv`` rejected. The preset's model is trained first if it is not cached.
    """
    pairs_file = read_pairs_csv(path)
    run_config = config(preset)
    table = pd.DataFrame({"SampleID": [p.sample_id for p in pairs_file.pairs]})
    if pairs_file.pairs:
        table["p_a_causes_b"] = result(run_config, seed).score_pairs(pairs_file.pairs)
    else:
        table["p_a_causes_b"] = pd.Series(dtype=float)
    return table, pairs_file.rejected
