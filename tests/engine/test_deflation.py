"""Tests for taking Noise2Void's error out of bootstrapped pairs (pn2v_engine.deflation)."""

from __future__ import annotations

import numpy as np
import pytest

from pn2v_engine.bootstrap import BootstrapPairs
from pn2v_engine.deflation import MIN_FACTOR, fit_deflation
from pn2v_engine.progress import drive

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
    """A blind-spot denoiser: the mean of the 24 other pixels of each pixel's 5x5 window
    (its own reading left out, as Noise2Void leaves it out)."""
    padded = np.pad(np.asarray(frame, dtype=np.float64), 2, mode="reflect")
    height, width = np.shape(frame)
    total = sum(
        padded[2 + dy : 2 + dy + height, 2 + dx : 2 + dx + width]
        for dy in range(-2, 3)
        for dx in range(-2, 3)
        if dy or dx
    )
    return (total / 24.0).astype(np.float32)


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


def _network(signals: list[np.ndarray], error_share: float, leak: float = 0.0, seed: int = 1):
    """A stand-in for the N2V network that made ``signals``: for the k-th frame it is
    given it returns the k-th signal plus a fresh error of ``error_share`` x the noise's
    variance (and ``leak`` x the frame's deviation from that signal)."""
    rng = np.random.default_rng(seed)
    calls = iter(signals)

    def predict(frame: np.ndarray) -> np.ndarray:
        signal = next(calls).astype(np.float64)
        error = rng.normal(0.0, np.sqrt(error_share * _noise_variance(np.maximum(signal, 0))))
        return (signal + leak * (frame - signal) + error).astype(np.float32)

    return predict


def _spread_over_noise(
    signals: list[np.ndarray], readings: list[np.ndarray], low: float = 40, high: float = 150
) -> float:
    """Variance of the readings around the signals over the noise's, at signals low-high."""
    s = np.concatenate([a.ravel() for a in signals]).astype(np.float64)
    x = np.concatenate([a.ravel() for a in readings]).astype(np.float64)
    keep = (s > low) & (s < high)
    return float(np.mean((x[keep] - s[keep]) ** 2) / np.mean(_noise_variance(s[keep])))


def test_the_pairs_take_the_noises_variance() -> None:
    signals, readings = _pairs(error_share=0.3)
    assert _spread_over_noise(signals, readings) == pytest.approx(1.3, abs=0.05)
    deflated = BootstrapPairs(signals, readings, {}).deflated(_network(signals, 0.3))
    assert _spread_over_noise(signals, deflated.observation) == pytest.approx(1.0, abs=0.04)
    summary = deflated.summary["deflation"]
    assert summary["applied"]
    assert summary["variance_factor"][0] == pytest.approx(1 / 1.3, abs=0.04)
    assert len(summary["levels"]) == len(summary["factors"])


def test_a_small_error_is_taken_out_as_well() -> None:
    signals, readings = _pairs(error_share=0.04)
    assert _spread_over_noise(signals, readings) == pytest.approx(1.04, abs=0.02)
    deflated = BootstrapPairs(signals, readings, {}).deflated(_network(signals, 0.04))
    assert _spread_over_noise(signals, deflated.observation) == pytest.approx(1.0, abs=0.02)
    assert deflated.summary["deflation"]["floor"] is None


def test_deflation_has_a_limit() -> None:
    signals, readings = _pairs(error_share=3.0)
    deflation = fit_deflation(
        signals, readings, _network(signals, 3.0), value_range=(-20.0, 300.0), integer=True
    )
    assert deflation.factor(np.linspace(40.0, 150.0, 20)) == pytest.approx(MIN_FACTOR)


def test_readings_on_a_floor_stay_on_it() -> None:
    """Photon-starved readings piled up on a detector's offset are not deviations to
    scale: they stay where they are, the others are deflated."""
    signals, readings = _pairs(error_share=0.3)
    rng = np.random.default_rng(1)
    for s, x in zip(signals, readings, strict=True):
        dark = s < 30
        x[dark] = np.where(rng.random(int(dark.sum())) < 0.6, 3.0, x[dark])
    pairs = BootstrapPairs(signals, readings, {})
    lowest = pairs.lowest
    assert lowest is not None and lowest <= 3.0
    deflated = pairs.deflated(_network(signals, 0.3))
    assert deflated.summary["deflation"]["floor"] == 3.0
    for x, after in zip(readings, deflated.observation, strict=True):
        np.testing.assert_array_equal(after[x <= 3.0], x[x <= 3.0])
        assert np.mean(after[x > 3.0] != x[x > 3.0]) > 0.99
    # the recorded readings' lowest value goes with the deflated pairs to the model
    assert deflated.lowest == lowest
    smoothed = drive(deflated.iter_smoothed_histogram(bins=64, steps=30))
    assert smoothed.metadata["smoothing"]["lowest_reading"] == lowest


def test_pairs_without_a_floor_censor_nothing() -> None:
    signals, readings = _pairs(error_share=0.3)
    pairs = BootstrapPairs(signals, readings, {})
    assert pairs.lowest is None
    assert pairs.deflated(_network(signals, 0.3)).lowest is None


def test_a_negligible_error_keeps_the_pairs() -> None:
    signals, readings = _pairs(error_share=0.3)
    pairs = BootstrapPairs(signals, readings, {}).deflated(_network(signals, 0.0))
    assert pairs.observation is readings
    assert "negligible" in pairs.summary["deflation"]["reason"]


def test_the_same_seed_draws_the_same_residuals() -> None:
    signals, readings = _pairs(error_share=0.3)
    pairs = BootstrapPairs(signals, readings, {})

    def deflated(seed: int) -> list[np.ndarray]:
        # the network's prediction follows its input a little, so the draws matter
        return pairs.deflated(_network(signals * 2, 0.3, leak=0.3), seed=seed).observation

    first, again, other = deflated(3), deflated(3), deflated(4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_deflated_pairs_keep_the_recorded_grid() -> None:
    signals, readings = _pairs(error_share=0.3)
    raw = BootstrapPairs(signals, readings, {})
    deflated = raw.deflated(_network(signals, 0.3))
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
    signals, readings = _pairs(error_share=0.3)
    pairs = BootstrapPairs(signals, readings, {}).deflated()
    assert pairs.observation is readings
    deflation = pairs.summary["deflation"]
    assert deflation["applied"] is False and deflation["needed"] is True
    assert "no Noise2Void network" in deflation["reason"]
