"""Tests for taking Noise2Void's error out of bootstrapped pairs (pn2v_engine.deflation)."""

from __future__ import annotations

import numpy as np
import pytest

from pn2v_engine.bootstrap import BootstrapPairs
from pn2v_engine.deflation import ESTIMATE_TOLERANCE, MIN_FACTOR, fit_deflation

GAIN, READ_VARIANCE = 2.0, 16.0


def _noise_variance(signal: np.ndarray) -> np.ndarray:
    return GAIN * signal + READ_VARIANCE


def _scene(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """A smooth field of bright blobs on a dim background, 10 to about 200."""
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    signal = np.full((size, size), 10.0)
    for _ in range(12):
        cy, cx = rng.uniform(0, size, 2)
        signal += rng.uniform(40, 120) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 150.0)
    return signal


def _pairs(error_share: float, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pseudo-clean signals off the truth by ``error_share`` of the noise variance, and
    Poisson-Gaussian integer readings of the truth (gain 2, read variance 16)."""
    rng = np.random.default_rng(seed)
    signals, readings = [], []
    for _ in range(4):
        truth = _scene(rng)
        read_noise = rng.normal(0.0, np.sqrt(READ_VARIANCE), truth.shape)
        reading = GAIN * rng.poisson(truth / GAIN) + read_noise
        error = rng.normal(0.0, np.sqrt(error_share * _noise_variance(truth)))
        signals.append((truth + error).astype(np.float32))
        readings.append(np.round(reading).astype(np.float32))
    return signals, readings


def _spread_over_noise(signals: list[np.ndarray], readings: list[np.ndarray]) -> float:
    """Variance of the readings around the signals over the noise's, at signals 40-150."""
    s = np.concatenate([a.ravel() for a in signals]).astype(np.float64)
    x = np.concatenate([a.ravel() for a in readings]).astype(np.float64)
    keep = (s > 40) & (s < 150)
    return float(np.mean((x[keep] - s[keep]) ** 2) / np.mean(_noise_variance(s[keep])))


def test_the_pairs_take_the_noises_variance_within_the_tolerance() -> None:
    signals, readings = _pairs(error_share=0.3)
    assert _spread_over_noise(signals, readings) == pytest.approx(1.3, abs=0.05)
    deflated = BootstrapPairs(signals, readings, {}).deflated()
    spread = _spread_over_noise(signals, deflated.observation)
    assert spread == pytest.approx(1.0 + ESTIMATE_TOLERANCE, abs=0.06)
    to_estimate = BootstrapPairs(signals, readings, {}).deflated(tolerance=0.0)
    assert _spread_over_noise(signals, to_estimate.observation) == pytest.approx(1.0, abs=0.06)
    summary = deflated.summary["deflation"]
    assert summary["applied"]
    assert MIN_FACTOR <= summary["variance_factor"][0] < 0.9
    assert summary["gaussian_like_from"] < 40
    assert summary["noise_line"][0] == pytest.approx(GAIN, rel=0.15)


@pytest.mark.parametrize("error_share", [0.0, 0.04])
def test_pairs_within_the_estimates_tolerance_are_kept(error_share: float) -> None:
    signals, readings = _pairs(error_share)
    pairs = BootstrapPairs(signals, readings, {}).deflated()
    assert pairs.observation is readings
    deflation = pairs.summary["deflation"]
    assert deflation["applied"] is False and deflation["needed"] is False
    assert "tolerance" in deflation["reason"]


def test_deflation_has_a_limit() -> None:
    signals, readings = _pairs(error_share=3.0)
    factor = fit_deflation(signals, readings).factor(np.linspace(10.0, 200.0, 50))
    assert factor.min() == pytest.approx(MIN_FACTOR)


def test_deflated_pairs_keep_the_recorded_grid() -> None:
    signals, readings = _pairs(error_share=0.3)
    raw = BootstrapPairs(signals, readings, {})
    deflated = raw.deflated()
    assert not all(np.array_equal(x, np.round(x)) for x in deflated.observation)
    assert deflated.integer and deflated.value_range == raw.value_range
    before, after = raw.histogram(), deflated.histogram()
    assert (after.low, after.high, after.bins) == (before.low, before.high, before.bins)
    assert after.metadata["bootstrap"]["deflation"]["applied"]


def test_flat_images_keep_their_pairs_and_say_why() -> None:
    flat = [np.full((64, 64), 7.0, np.float32) for _ in range(2)]
    pairs = BootstrapPairs(flat, flat, {"frames": 2}).deflated()
    assert pairs.observation is flat
    assert pairs.summary["deflation"]["applied"] is False
    assert pairs.summary["deflation"]["needed"] is True
    assert "estimate a noise model" in pairs.summary["deflation"]["reason"]


def test_readings_on_a_floor_are_not_deflated() -> None:
    """Photon-starved readings (most on a no-photon floor) fool the MAD-based estimate:
    there the pairs are left alone; deflation applies only where they are Gaussian-like."""
    signals, readings = _pairs(error_share=0.3)
    rng = np.random.default_rng(1)
    for s, x in zip(signals, readings, strict=True):
        dark = s < 30
        x[dark] = np.where(rng.random(int(dark.sum())) < 0.6, 3.0, x[dark])
    deflation = fit_deflation(signals, readings)
    np.testing.assert_array_equal(deflation.factor(np.array([12.0, 18.0, 24.0])), 1.0)
    assert deflation.summary(np.concatenate(signals))["gaussian_like_from"] > 25
