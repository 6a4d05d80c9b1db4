"""Parascandolo et al. (ICML 2018), *Learning Independent Causal Mechanisms*.

``mechanisms`` (App. C), ``models`` (experts, discriminator, winner-only Adam; App. B),
``competition`` (Alg. 1 with Eq. 3, specialisation), ``glyphs`` (unseen symbols for
Fig. 7 and 8), ``experiment`` (cached runs, presets, final measurements).
"""
