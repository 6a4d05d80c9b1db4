"""Discovering Causal Signals in Images (Lopez-Paz et al., CVPR 2017): NCC and its baselines."""
