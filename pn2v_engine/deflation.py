"""Taking Noise2Void's own error out of bootstrapped pairs.

A bootstrapped pair's residual x - ŝ is the noise plus N2V's error s - ŝ, so a noise model
fitted to the pairs is wider than p(x | s). PN2V trained with such a model learns a prior
narrower by about as much (the likelihood it maximises sees only the sum of the two
widths), and its MMSE then leans too little on the pixel: on FMD Confocal_MICE the prior's
spread came out at a quarter to a half of its mean's error, and widening it by 2x at
prediction gained 0.2 dB (README, "Benchmarks").

N2V's error is measured by a parametric bootstrap, from the pairs alone: the pseudo-clean
signal ŝ is noised again with residuals drawn from the pairs at its own level (quantile
bins of ŝ), N2V predicts the re-noised images, and the variance of that prediction around
ŝ, which is their truth, stands for N2V's error variance at that level. Each pair's
deviation from ŝ is then scaled by sqrt(1 - error variance / pairs' variance), within
[:data:`MIN_FACTOR`, 1], so the pairs keep their shape.

Readings on a floor stay where they are: photon-starved detectors pile readings up on an
offset (FMD Confocal_FISH: 55 % of all readings are 3 or 4, 9 % even at signal 40), and
such a reading says "at most the floor", not a deviation to be scaled; scaled, the floor
drifts up with the signal (measured: Confocal_FISH 32.07 dB with the floor scaled, 32.56
kept; Confocal_MICE, 17 % on its floor, 38.09 and 38.10).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import NoiseModelError
from .noise_models.floor import reading_floor
from .progress import CancelToken, check

#: N2V's prediction of a noisy 2-D frame.
Predict = Callable[[np.ndarray], np.ndarray]

METHOD = "N2V's error variance, measured by re-noising its prediction, taken out"
#: The most a pair's variance is taken down, however large N2V's error seems.
MIN_FACTOR = 0.7
#: Quantile bins of the pseudo-clean signal: residuals are drawn, and variances compared,
#: within each.
LEVELS = 40
#: Pairs a level needs for its variances to count (fewer: left as it is).
MIN_LEVEL_PAIRS = 50
#: Neighbouring levels whose factors are averaged (a running mean).
SMOOTHING = 5
#: N2V's error below this share of the pairs' variance at every level leaves them as they are.
NEGLIGIBLE = 0.005
#: Pixels re-noised and predicted at most (evenly spaced frames, at least one); the
#: factors then apply to every pair. Bootstrapped pairs find their floor in as many.
MAX_PIXELS = 1 << 22


@dataclass(frozen=True)
class Deflation:
    """Variance factors r at levels of the pseudo-clean signal, interpolated between them."""

    levels: np.ndarray
    factors: np.ndarray
    #: Readings at or below this stay as they are (None: no floor).
    floor: float | None = None

    def factor(self, signal: np.ndarray) -> np.ndarray:
        """r(s), the share of the pairs' variance at signal s that is the noise's."""
        return np.interp(signal, self.levels, self.factors)

    def apply(self, signal: np.ndarray, observation: np.ndarray) -> np.ndarray:
        """The readings with their deviation from ``signal`` scaled by sqrt(r(signal))."""
        s, x = np.asarray(signal), np.asarray(observation)
        deflated = s + (x - s) * np.sqrt(self.factor(s))
        if self.floor is not None:
            deflated = np.where(x <= self.floor, x, deflated)
        return deflated.astype(np.float32)

    def summary(self) -> dict[str, Any]:
        """What the metadata records: the method and the range of the factors."""
        return {
            "method": METHOD,
            "variance_factor": [float(self.factors.min()), float(self.factors.max())],
            "floor": self.floor,
            "levels": [float(v) for v in self.levels],
            "factors": [float(v) for v in self.factors],
        }


def fit_deflation(
    signals: Sequence[np.ndarray],
    observations: Sequence[np.ndarray],
    predict: Predict,
    *,
    value_range: tuple[float, float],
    integer: bool,
    seed: int = 0,
    cancel: CancelToken | None = None,
) -> Deflation:
    """The :class:`Deflation` of pseudo-clean ``signals`` (N2V's prediction of the noisy
    ``observations``), N2V's error measured with ``predict``.

    The re-noised readings are rounded where the recorded ones are ``integer`` and kept
    within their ``value_range``; ``seed`` draws the residuals.

    Raises :class:`~pn2v_engine.errors.NoiseModelError` where the pseudo-clean signal is
    flat (one level) or the readings do not vary around it.
    """
    frames = evenly_spaced(signals)
    signal = np.concatenate([np.ravel(signals[i]) for i in frames]).astype(np.float64)
    reading = np.concatenate([np.ravel(observations[i]) for i in frames]).astype(np.float64)
    residual = reading - signal
    edges = np.unique(np.quantile(signal, np.linspace(0.0, 1.0, LEVELS + 1)))
    if edges.size < 2 or not np.any(residual):
        raise NoiseModelError(
            "The Noise2Void prediction is flat, or the readings do not vary around it: "
            "its error cannot be measured."
        )
    level = np.clip(np.searchsorted(edges, signal, side="right") - 1, 0, edges.size - 2)
    renoised = _renoised(signal, residual, level, np.random.default_rng(seed))
    if integer:
        renoised = np.round(renoised)
    renoised = np.clip(renoised, *value_range)
    predicted, start = [], 0
    for i in frames:
        check(cancel)
        shape = np.shape(signals[i])
        stop = start + math.prod(shape)
        frame = renoised[start:stop].reshape(shape).astype(np.float32)
        predicted.append(np.ravel(predict(frame)))
        start = stop
    error = np.concatenate(predicted).astype(np.float64) - signal
    pixels = np.bincount(level, minlength=edges.size - 1).astype(np.float64)
    means = np.bincount(level, weights=signal, minlength=pixels.size) / np.maximum(pixels, 1)
    error_variance = _variance(error, level, pixels)
    pairs_variance = _variance(residual, level, pixels)
    counted = (pixels >= MIN_LEVEL_PAIRS) & (pairs_variance > 0)
    ratio = np.ones_like(pixels)
    ratio[counted] = 1.0 - error_variance[counted] / pairs_variance[counted]
    ratio = np.clip(ratio, MIN_FACTOR, 1.0)
    padded = np.pad(ratio, SMOOTHING // 2, mode="edge")
    factors = np.convolve(padded, np.ones(SMOOTHING) / SMOOTHING, mode="valid")
    return Deflation(means, factors, reading_floor(reading) if integer else None)


def evenly_spaced(frames: Sequence[np.ndarray]) -> list[int]:
    """Indices of evenly spaced frames holding at most MAX_PIXELS pixels (at least one)."""
    total = sum(np.size(f) for f in frames)
    step = max(1, math.ceil(total / MAX_PIXELS))
    return list(range(0, len(frames), step))


def _renoised(
    signal: np.ndarray, residual: np.ndarray, level: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``signal`` plus residuals drawn (with replacement) from the pairs at its level."""
    out = np.empty_like(signal)
    for k in range(int(level.max()) + 1):
        members = np.flatnonzero(level == k)
        if members.size:
            out[members] = signal[members] + rng.choice(residual[members], size=members.size)
    return out


def _variance(values: np.ndarray, level: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """The variance of ``values`` within each level."""
    count = np.maximum(pixels, 1)
    first = np.bincount(level, weights=values, minlength=pixels.size) / count
    second = np.bincount(level, weights=values**2, minlength=pixels.size) / count
    return np.maximum(second - first**2, 0.0)
