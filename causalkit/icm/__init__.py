"""Learning Independent Causal Mechanisms: Parascandolo, Kilbertus, Rojas-Carulla and
Schölkopf, ICML 2018 (https://arxiv.org/abs/1712.00961).

- ``mechanisms``: the data of §4 (canonical, hidden and test digits) and App. C's ten mechanisms.
- ``glyphs``: unseen symbols rendered from fonts, for Fig. 7 and 8.
- ``model``: experts, discriminator, winner-only Adam, Eq. 2 and Eq. 3 (§4, App. B).
- ``train``: Alg. 1 (identity init, competition), specialisation and its measurements.
- ``experiment``: presets, ``config``, ``result`` and ``Result`` (§5, App. A.1, Fig. 7 and 8).
- ``bench``: what one iteration of Alg. 1 costs against a forward pass of all experts.
"""

from causalkit.icm.experiment import PRESETS, Result, config, result

__all__ = ["PRESETS", "Result", "config", "result"]
