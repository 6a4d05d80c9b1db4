"""causalkit: causal representation learning, rebuilt paper by paper for JupyterLab.

The package computes; the notebooks in ``notebooks/`` teach; the panels in
``widgets/`` let a person play with trained models. Paths to notebooks, cache and runs
come from :func:`causalkit.core.settings`.
"""

__version__ = "0.1.0"
