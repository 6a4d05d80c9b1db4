"""Visual Causal Feature Learning.

Chalupka, Perona, Eberhardt, UAI 2015, https://arxiv.org/abs/1412.2309

- ``experiment.py``: the GRATING and MNIST experiments of §4, their configs, ``PRESETS``,
  ``config``, ``result`` and ``Result``.
- ``model.py``: the causal network C, the manipulations of Alg. 2 step 6, Eqs. 2-3.
- ``train.py``: Alg. 1 (causal labels, fitting C) and Alg. 2 (manipulator learning).
- ``grating.py``: the GRATING world of §1.2 and §4.1 (Fig. 1), with its exact oracle.
- ``mnist.py``: the MNIST world of §4.2 and Supp. E, with simulated annotators.
- ``partitions.py``: exact observational and causal partitions, the CCT (Thm. 5),
  Theorem 7 and Supplement B's counter-examples.
"""

from causalkit.cfl.experiment import PRESETS, Result, config, result

__all__ = ["PRESETS", "Result", "config", "result"]
