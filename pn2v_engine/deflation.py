"""Taking Noise2Void's own error out of bootstrapped pairs.

A bootstrapped pair's residual x - ŝ is the noise plus N2V's error s - ŝ, so a noise
model fitted to the pairs is wider than p(x | s): on FMD Confocal_MICE (measured
against its ground truth) their variance is 1.06-1.22x the noise's, most above the
background, where N2V's error is largest. The Poisson-Gaussian estimate from the noisy
images alone (local high-pass residuals, :func:`estimate_poisson_gaussian`) involves no
N2V and reads the noise's variance there within 10 % (0.91-1.02x). So each pair's
deviation from ŝ is scaled by sqrt(r(ŝ)), where r is (1 + :data:`ESTIMATE_TOLERANCE`)
times the estimate's variance over the pairs' (each a line var = a s + b fitted the same
way), kept within [:data:`MIN_FACTOR`, 1]: the pairs keep their shape and are narrowed
only by what exceeds the estimate's own error.

The estimate reads a standard deviation off the median absolute deviation, which is
right for Gaussian-like noise only. Where few photons make the readings far from
Gaussian (FMD Confocal_FISH below 15 grey levels: over half the readings sit on a
no-photon floor, so the median deviation is 0), it reads low, so deflation fades out
where the pairs' own residuals are not Gaussian-like: by the ratio of their
MAD-based variance to their variance, fully applied from :data:`GAUSSIAN_FULL`, not
at all below :data:`GAUSSIAN_NONE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .noise_models import estimate_poisson_gaussian
from .noise_models.parametric import fit_variance_line

#: The most a pair's variance is taken down, however far the lines disagree (N2V's error
#: was at most 22 % of the noise's variance on FMD Confocal_MICE).
MIN_FACTOR = 0.7
#: How far the estimate may read the noise's variance low (measured against ground truth
#: per level of the N2V prediction: 0.91-1.02x on FMD Confocal_MICE, 0.86-0.97x on
#: Confocal_FISH above its no-photon floor). Pairs are deflated to
#: (1 + this) x the estimate, so a difference the estimate cannot resolve is left alone:
#: deflating Confocal_FISH's pairs to the estimate itself (by 7-9 %) cost 0.22 dB.
ESTIMATE_TOLERANCE = 0.1
#: The pairs' MAD-based variance over their variance at which deflation is fully applied
#: (Gaussian: 1), and below which it is not applied at all.
GAUSSIAN_FULL = 0.8
GAUSSIAN_NONE = 0.5
#: Quantile bins of the pseudo-clean signal whose residual variances the pairs' line is
#: fitted to (as many as the estimate uses).
LEVELS = 40
#: Pairs a bin needs to take part in the fit.
MIN_LEVEL_PAIRS = 50


@dataclass(frozen=True)
class Deflation:
    """Two variance lines var = gain * s + offset: the noise's, estimated from the noisy
    images, and the bootstrapped pairs'; each is floored at ``floor``. ``levels`` are
    signals and ``trust`` how far (0 to 1) deflation applies there, interpolated between
    them; the pairs are deflated to (1 + ``tolerance``) x the noise's variance."""

    noise: tuple[float, float]
    pairs: tuple[float, float]
    floor: float
    levels: np.ndarray
    trust: np.ndarray
    tolerance: float = ESTIMATE_TOLERANCE

    def factor(self, signal: np.ndarray) -> np.ndarray:
        """r(s): the noise's variance, with the estimate's tolerance, over the pairs',
        within [MIN_FACTOR, 1], faded to 1 where the pairs are not Gaussian-like."""
        noise = np.maximum(self.noise[0] * signal + self.noise[1], self.floor)
        pairs = np.maximum(self.pairs[0] * signal + self.pairs[1], self.floor)
        ratio = np.clip((1.0 + self.tolerance) * noise / pairs, MIN_FACTOR, 1.0)
        return 1.0 - np.interp(signal, self.levels, self.trust) * (1.0 - ratio)

    def apply(self, signal: np.ndarray, observation: np.ndarray) -> np.ndarray:
        """The readings with their deviation from ``signal`` scaled by sqrt(r(signal))."""
        s = np.asarray(signal, dtype=np.float64)
        x = np.asarray(observation, dtype=np.float64)
        return (s + (x - s) * np.sqrt(self.factor(s))).astype(np.float32)

    def summary(self, signal: np.ndarray) -> dict[str, Any]:
        """What the metadata records: both lines and the factors over ``signal``'s range."""
        factors = self.factor(np.linspace(float(np.min(signal)), float(np.max(signal)), 256))
        return {
            "method": "pairs' variance scaled to the Poisson-Gaussian estimate's",
            "tolerance": self.tolerance,
            "noise_line": list(self.noise),
            "pairs_line": list(self.pairs),
            "variance_factor": [float(factors.min()), float(factors.max())],
            "gaussian_like_from": _first_trusted(self.levels, self.trust),
        }


def _first_trusted(levels: np.ndarray, trust: np.ndarray) -> float | None:
    """The lowest signal level where deflation applies in full (None: nowhere)."""
    full = np.flatnonzero(trust >= 1.0)
    return float(levels[full[0]]) if full.size else None


def fit_deflation(
    signals: Sequence[np.ndarray],
    observations: Sequence[np.ndarray],
    tolerance: float = ESTIMATE_TOLERANCE,
) -> Deflation:
    """The :class:`Deflation` of pseudo-clean ``signals`` and their noisy ``observations``,
    to (1 + ``tolerance``) x the noise's estimated variance.

    Raises :class:`~pn2v_engine.errors.NoiseModelError` where the images are too small or
    too flat for the Poisson-Gaussian estimate.
    """
    estimate = estimate_poisson_gaussian(list(observations))
    s = np.concatenate([np.ravel(a) for a in signals]).astype(np.float64)
    residual = np.concatenate([np.ravel(x) for x in observations]).astype(np.float64) - s
    edges = np.unique(np.quantile(s, np.linspace(0.0, 1.0, LEVELS + 1)))
    level = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, len(edges) - 2)
    pixels = np.bincount(level, minlength=len(edges) - 1).astype(np.float64)
    used = pixels >= MIN_LEVEL_PAIRS
    means = np.bincount(level, weights=s, minlength=len(pixels))[used] / pixels[used]
    first = np.bincount(level, weights=residual, minlength=len(pixels))[used] / pixels[used]
    second = np.bincount(level, weights=residual**2, minlength=len(pixels))[used] / pixels[used]
    variance = second - first**2
    pairs_line = fit_variance_line(means, variance, pixels[used])
    robust = np.array([_mad_variance(residual[level == k]) for k in np.flatnonzero(used)])
    gaussian = robust / np.maximum(variance, np.finfo(np.float64).tiny)
    trust = np.clip((gaussian - GAUSSIAN_NONE) / (GAUSSIAN_FULL - GAUSSIAN_NONE), 0.0, 1.0)
    return Deflation(
        (estimate.gain, estimate.offset_variance),
        pairs_line,
        estimate.min_variance,
        means,
        trust,
        tolerance,
    )


def _mad_variance(values: np.ndarray) -> float:
    """The variance of a Gaussian with these values' median absolute deviation."""
    return float((1.4826 * np.median(np.abs(values - np.median(values)))) ** 2)
