"""Reference solutions for the tour's exercises (``notebooks/00_tour.ipynb``)."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from causalkit import tour
from causalkit.tour import BarometerWorld, sample_world, storm_given_done, storm_given_seen


def exercise_1_perfect_barometer(
    reading: float = -1.5, noise_levels: tuple[float, ...] = (0.5, 0.1, 0.01)
) -> dict[str, list[float]]:
    """As the barometer's noise vanishes, seeing B = b is seeing the pressure itself.

    P(S | B = b) tends to Φ((θ − b) / σ_s), the storm probability at pressure b,
    while P(S | do(B = b)) stays at P(S) whatever the noise: a perfect correlate is
    still not a cause.
    """
    seen, done = [], []
    for noise_b in noise_levels:
        world = BarometerWorld(noise_b=noise_b)
        seen.append(float(storm_given_seen(world, reading)))
        done.append(float(storm_given_done(world, reading)))
    world = BarometerWorld()
    limit = float(ndtr((world.threshold - reading) / world.noise_s))
    return {"seen": seen, "done": done, "limit": [limit]}


def exercise_2_simulated_intervention(
    readings: tuple[float, ...] = (-2.0, 0.0, 2.0), n: int = 200_000, seed: int = 0
) -> dict[str, list[float]]:
    """Estimate P(S | do(B = b)) by replacing B's mechanism in the sampler.

    The estimates are flat in b (up to Monte-Carlo error) and match the closed form,
    while the conditional frequencies of storms near each observed b are not.
    """
    world, rng = BarometerWorld(), np.random.default_rng(seed)
    done = [float(sample_world(world, n, rng, do_reading=b)["storm"].mean()) for b in readings]
    observed = sample_world(world, n, rng)
    seen = [
        float(observed["storm"][np.abs(observed["reading"] - b) < 0.1].mean()) for b in readings
    ]
    return {"done": done, "seen": seen, "closed_form_done": [float(storm_given_done(world, 0.0))]}


def exercise_3_less_data(seed: int = 0, fraction: float = 0.1) -> dict[str, float]:
    """Train the cached softmax regression on a tenth of the digits: accuracy drops a little."""
    full = tour.result(tour.config("quick"), seed)
    small = tour.result(tour.config("quick", train_fraction=fraction), seed)
    _, test = full.splits()
    return {"full": full.accuracy(test), "small": small.accuracy(test)}
