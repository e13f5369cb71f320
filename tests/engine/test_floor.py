"""Tests for detector floors: finding them, and censoring a model's mass below them."""

from __future__ import annotations

import numpy as np

from pn2v_engine.noise_models.floor import censor_below, lowest_reading, reading_floor


def _readings(floor_share: float, seed: int = 0) -> np.ndarray:
    """Readings around 40, a share of them piled up on a floor of 3 and 4."""
    rng = np.random.default_rng(seed)
    smooth = np.round(rng.normal(40.0, 10.0, 100_000))
    return np.where(rng.random(smooth.size) < floor_share, rng.integers(3, 5, smooth.size), smooth)


def test_a_floor_is_a_spike_of_low_readings() -> None:
    assert reading_floor(_readings(0.0)) is None
    assert reading_floor(_readings(0.3)) == 4.0
    # a spike above the median is bright structure, not a floor
    rng = np.random.default_rng(0)
    smooth = _readings(0.0)
    bright = np.where(rng.random(smooth.size) < 0.1, 60.0, smooth)
    assert reading_floor(bright) is None


def test_the_lowest_reading_is_the_floors_lowest_common_value() -> None:
    floored = _readings(0.3)
    assert lowest_reading(floored) == 3.0
    # a stray reading below it (under 1 % of all) does not count
    floored[:500] = 1.0
    assert lowest_reading(floored) == 3.0
    # without a floor nothing is censored, however low the tail reaches
    assert lowest_reading(_readings(0.0)) is None


def test_censoring_moves_the_mass_below_the_floor_onto_it() -> None:
    mass = np.array([[0.5, 0.2, 0.2, 0.1], [0.1, 0.1, 0.3, 0.5]])
    censored = censor_below(mass, 2)
    np.testing.assert_allclose(censored, [[0.0, 0.0, 0.9, 0.1], [0.0, 0.0, 0.5, 0.5]])
    np.testing.assert_allclose(censored.sum(axis=1), 1.0)
    np.testing.assert_array_equal(censor_below(mass, 0), mass)
