"""Visual Causal Feature Learning (Chalupka, Perona, Eberhardt, UAI 2015)."""
