"""Score a cause-effect CSV (Tübingen layout) with a trained NCC: P(A → B) per row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from causalkit.data import read_pairs_csv
from causalkit.ncc.experiment import ncc_config, score_pairs, trained_ncc


def score_csv(
    path: str | Path, preset: str = "quick", seed: int = 0
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """P(A → B) for every valid row of a SampleID,A,B file, and the rejected rows.

    Returns a table (SampleID, p_a_causes_b) and a list of (SampleID, reason) for the rows
    ``read_pairs_csv`` rejected. The preset's model is trained first if it is not cached.
    """
    pairs_file = read_pairs_csv(path)
    config = ncc_config(preset)
    table = pd.DataFrame({"SampleID": [p.sample_id for p in pairs_file.pairs]})
    if pairs_file.pairs:
        model = trained_ncc(config, seed)
        table["p_a_causes_b"] = score_pairs(model, pairs_file.pairs, config, seed)
    else:
        table["p_a_causes_b"] = pd.Series(dtype=float)
    return table, pairs_file.rejected
