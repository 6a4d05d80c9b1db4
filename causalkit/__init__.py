"""causalkit: causal representation learning, rebuilt paper by paper for JupyterLab.

The package computes; the notebooks in ``notebooks/`` teach; the panels in
``widgets/`` let a person play with trained models.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The checkout the package was installed from (editable install): notebooks/ and
#: data_cache/ live beside the package, not inside it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
