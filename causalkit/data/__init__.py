"""Real data that ships inside installed packages: nothing is downloaded at run time."""

from causalkit.data.digits import Digits, mnist, stratified_split
from causalkit.data.pairs import (
    CauseEffectPair,
    PairsFile,
    read_pairs_csv,
    tuebingen_pairs,
    tuebingen_path,
)

__all__ = [
    "CauseEffectPair",
    "Digits",
    "PairsFile",
    "mnist",
    "read_pairs_csv",
    "stratified_split",
    "tuebingen_pairs",
    "tuebingen_path",
]
