"""Tests for taking Noise2Void's error out of bootstrapped pairs (pn2v_engine.deflation)."""

from __future__ import annotations

import numpy as np
import pytest

from pn2v_engine.bootstrap import BootstrapPairs
from pn2v_engine.deflation import MIN_FACTOR, fit_deflation

GAIN, READ_VARIANCE = 2.0, 16.0


def _noise_variance(signal: np.ndarray) -> np.ndarray:
    return GAIN * signal + READ_VARIANCE


def _scene(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """A field of bright blobs on a dim background, 10 to about 250."""
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    signal = np.full((size, size), 10.0)
    for _ in range(22):
        cy, cx = rng.uniform(0, size, 2)
        signal += rng.uniform(40, 120) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 80.0)
    return signal


def _ring_mean(frame: np.ndarray) -> np.ndarray:
    """A blind-spot denoiser standing in for Noise2Void: the mean of the 24 other pixels
    of each pixel's 5x5 window (its own reading left out, as N2V leaves it out)."""
    padded = np.pad(np.asarray(frame, dtype=np.float64), 2, mode="reflect")
    height, width = np.shape(frame)
    total = sum(
        padded[2 + dy : 2 + dy + height, 2 + dx : 2 + dx + width]
        for dy in range(-2, 3)
        for dx in range(-2, 3)
        if dy or dx
    )
    return (total / 24.0).astype(np.float32)


def _scenes(seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Truths and their Poisson-Gaussian integer readings (gain 2, read variance 16)."""
    rng = np.random.default_rng(seed)
    truths, readings = [], []
    for _ in range(4):
        truth = _scene(rng)
        read_noise = rng.normal(0.0, np.sqrt(READ_VARIANCE), truth.shape)
        reading = GAIN * rng.poisson(truth / GAIN) + read_noise
        truths.append(truth)
        readings.append(np.round(reading).astype(np.float32))
    return truths, readings


def _bootstrapped(readings: list[np.ndarray]) -> BootstrapPairs:
    """The ring mean's prediction of each reading, paired with it."""
    return BootstrapPairs([_ring_mean(x) for x in readings], readings, {})


def _spread_over_noise(
    signals: list[np.ndarray], readings: list[np.ndarray], low: float = 40, high: float = 150
) -> float:
    """Variance of the readings around the signals over the noise's, at signals low-high."""
    s = np.concatenate([a.ravel() for a in signals]).astype(np.float64)
    x = np.concatenate([a.ravel() for a in readings]).astype(np.float64)
    keep = (s > low) & (s < high)
    return float(np.mean((x[keep] - s[keep]) ** 2) / np.mean(_noise_variance(s[keep])))


def test_the_pairs_take_the_noises_variance() -> None:
    _, readings = _scenes()
    pairs = _bootstrapped(readings)
    # the ring mean blurs the blobs: its error widens the bright pairs by about 9 %
    assert _spread_over_noise(pairs.signal, readings) == pytest.approx(1.09, abs=0.02)
    deflated = pairs.deflated(_ring_mean)
    assert _spread_over_noise(pairs.signal, deflated.observation) == pytest.approx(1.0, abs=0.03)
    # where the error is small, so is the change; the ring mean's prediction keeps some
    # noise, which its re-noised prediction adds to the error measured (here: 2-4 %)
    dim = _spread_over_noise(pairs.signal, deflated.observation, 10, 40)
    assert 0.95 < dim < _spread_over_noise(pairs.signal, readings, 10, 40)
    summary = deflated.summary["deflation"]
    assert summary["applied"]
    assert 0.8 < summary["variance_factor"][0] < summary["variance_factor"][1] < 1.0
    assert len(summary["levels"]) == len(summary["factors"])


def test_a_negligible_error_keeps_the_pairs() -> None:
    truths, readings = _scenes()
    signals = [t.astype(np.float32) for t in truths]
    oracle = iter(truths * 2)  # a network that always knows the truth
    pairs = BootstrapPairs(signals, readings, {}).deflated(lambda frame: next(oracle))
    assert pairs.observation is readings
    deflation = pairs.summary["deflation"]
    assert deflation["applied"] is False and deflation["needed"] is False
    assert "negligible" in deflation["reason"]


def test_deflation_has_a_limit() -> None:
    _, readings = _scenes()
    pairs = _bootstrapped(readings)
    # a "network" that returns its input has an error as wide as the pairs
    deflation = fit_deflation(
        pairs.signal,
        readings,
        lambda frame: frame,
        value_range=(0.0, 255.0),
        integer=True,
    )
    np.testing.assert_allclose(deflation.factors, MIN_FACTOR)


def test_the_same_seed_draws_the_same_residuals() -> None:
    _, readings = _scenes()
    pairs = _bootstrapped(readings)
    first, again = pairs.deflated(_ring_mean, seed=3), pairs.deflated(_ring_mean, seed=3)
    other = pairs.deflated(_ring_mean, seed=4)
    same = zip(first.observation, again.observation, strict=True)
    assert all(np.array_equal(a, b) for a, b in same)
    changed = zip(first.observation, other.observation, strict=True)
    assert not all(np.array_equal(a, b) for a, b in changed)


def test_deflated_pairs_keep_the_recorded_grid() -> None:
    _, readings = _scenes()
    raw = _bootstrapped(readings)
    deflated = raw.deflated(_ring_mean)
    assert not all(np.array_equal(x, np.round(x)) for x in deflated.observation)
    assert deflated.integer and deflated.value_range == raw.value_range
    before, after = raw.histogram(), deflated.histogram()
    assert (after.low, after.high, after.bins) == (before.low, before.high, before.bins)
    assert after.metadata["bootstrap"]["deflation"]["applied"]


def test_flat_images_keep_their_pairs_and_say_why() -> None:
    flat = [np.full((64, 64), 7.0, np.float32) for _ in range(2)]
    pairs = BootstrapPairs(flat, flat, {"frames": 2}).deflated(_ring_mean)
    assert pairs.observation is flat
    assert pairs.summary["deflation"]["applied"] is False
    assert pairs.summary["deflation"]["needed"] is True
    assert "flat" in pairs.summary["deflation"]["reason"]


def test_pairs_without_a_network_are_kept_and_say_why() -> None:
    _, readings = _scenes()
    pairs = _bootstrapped(readings).deflated()
    assert pairs.observation is readings
    deflation = pairs.summary["deflation"]
    assert deflation["applied"] is False and deflation["needed"] is True
    assert "no Noise2Void network" in deflation["reason"]
