"""Discovering Causal Signals in Images: Lopez-Paz, Nishihara, Chintala, Schölkopf & Bottou,
CVPR 2017, https://arxiv.org/abs/1605.08179 (notebook ``01_ncc.ipynb``).

- ``experiment.py``: the lifecycle (``PRESETS``, ``config``, ``result``, ``Result``) and
  §3.3's Tübingen evaluation.
- ``model.py``: NCC (§3.2), Eq. 5's symmetric composite, test-time averaging, the §4 scene
  network.
- ``train.py``: the training loops (NCC on Eq. 4 minibatches, the scene network).
- ``synthetic.py``: §3.1's synthetic cause-effect pairs and their parameter distribution.
- ``baselines.py``: IGCI, RECI and ANM, the classical methods of §3.3's comparison.
- ``footprints.py``: the two causal footprints of §2.1 (Fig. 3).
- ``scenes.py``: the procedural scene world that stands in for MSCOCO in §4.
- ``study.py``: §4 on that world: blackouts, feature ratios, causal scores, Fig. 6.
- ``score.py``: ``python -m causalkit ncc score``: P(A → B) for the rows of a CSV file.
"""

from causalkit.ncc.experiment import PRESETS, Result, config, result

__all__ = ["PRESETS", "Result", "config", "result"]
