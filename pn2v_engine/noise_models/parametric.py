"""A Poisson-Gaussian noise model estimated from the noisy images alone.

The paper's "PN2V, est. NM" row fits the Poisson-Gaussian model of Foi et al.
(2008), var(x | s) = a s + b, to the noisy data. :func:`estimate_poisson_gaussian`
does the same in the spirit of Foi's method: a high-pass residual whose
variance equals the noise variance wherever the image is locally linear, local
means as the signal level, robust (median-absolute-deviation) variances per
intensity level, and an iteratively reweighted line fit. The model evaluates
the Gaussian approximation p(x|s) = N(x; s, a s + b) analytically, so it is
smooth in s and needs no histogram.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import torch

from pn2v_engine.errors import NoiseModelError

from .base import NoiseModel

# A separable second-difference kernel with unit L2 norm: zero response to
# constant and linear intensity, so in smooth regions it passes noise only.
_HIGH_PASS = np.outer([1.0, -2.0, 1.0], [1.0, -2.0, 1.0]) / 6.0


class PoissonGaussianNoiseModel(NoiseModel):
    """p(x | s) = N(x; s, max(gain * s + offset_variance, min_variance))."""

    kind = "poisson_gaussian"

    def __init__(
        self,
        gain: float,
        offset_variance: float,
        low: float,
        high: float,
        min_variance: float = 0.25,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(metadata)
        self.gain = float(gain)
        self.offset_variance = float(offset_variance)
        self.min_variance = float(min_variance)
        self.low, self.high = float(low), float(high)

    @property
    def signal_range(self) -> tuple[float, float]:
        return self.low, self.high

    def variance(self, s: torch.Tensor) -> torch.Tensor:
        return (self.gain * s + self.offset_variance).clamp_min(self.min_variance)

    def log_likelihood(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        var = self.variance(s)
        # Not floored: far-off samples keep a gradient towards x (the log stays finite).
        return -0.5 * (torch.log(2 * math.pi * var) + (x - s) ** 2 / var)

    def to(self, device: torch.device | str) -> Self:
        return self

    def describe(self) -> str:
        return (
            f"Poisson-Gaussian noise model, variance = {self.gain:.4g} * s + "
            f"{self.offset_variance:.4g}, range {self.low:g} to {self.high:g}"
        )

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "parameters": np.array(
                [self.gain, self.offset_variance, self.min_variance, self.low, self.high]
            )
        }

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> Self:
        gain, offset_variance, min_variance, low, high = (float(v) for v in arrays["parameters"])
        return cls(gain, offset_variance, low, high, min_variance, metadata)


def _filter2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'valid' 2-D correlation of a small kernel (no SciPy needed)."""
    kh, kw = kernel.shape
    h, w = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((h, w), dtype=np.float64)
    for dy in range(kh):
        for dx in range(kw):
            out += kernel[dy, dx] * image[dy : dy + h, dx : dx + w]
    return out


def _level_statistics(
    image: np.ndarray, clip_low: float, clip_high: float
) -> tuple[np.ndarray, np.ndarray]:
    """Local means and high-pass residuals of one image, clipped pixels left out."""
    image = image.astype(np.float64)
    residual = _filter2d(image, _HIGH_PASS)
    mean = _filter2d(image, np.full((3, 3), 1.0 / 9.0))
    window_min = -_box_extreme(-image)
    window_max = _box_extreme(image)
    keep = (window_min > clip_low) & (window_max < clip_high)
    return mean[keep], residual[keep]


def _box_extreme(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[0] - 2, image.shape[1] - 2
    out = image[:h, :w].copy()
    for dy in range(3):
        for dx in range(3):
            np.maximum(out, image[dy : dy + h, dx : dx + w], out=out)
    return out


def estimate_poisson_gaussian(
    images: Sequence[np.ndarray], levels: int = 40, metadata: dict[str, Any] | None = None
) -> PoissonGaussianNoiseModel:
    """Estimate var(x | s) = a s + b from noisy images alone.

    Parameters
    ----------
    images
        Noisy 2-D images (or stacks of them) in camera units.
    levels
        Number of intensity levels (quantile bins of the local mean) to fit over.
    """
    frames = [f for image in images for f in np.asarray(image).reshape(-1, *image.shape[-2:])]
    if not frames:
        raise NoiseModelError("No images were given to estimate a noise model from.")
    low = min(float(f.min()) for f in frames)
    high = max(float(f.max()) for f in frames)
    means, residuals = [], []
    for frame in frames:
        m, r = _level_statistics(frame, low, high)
        means.append(m)
        residuals.append(r)
    mean = np.concatenate(means)
    residual = np.concatenate(residuals)
    if mean.size < 1000:
        raise NoiseModelError(
            "Too few unsaturated pixels to estimate a noise model.",
            "Use larger or less saturated images, or measure a calibration stack.",
        )
    edges = np.unique(np.quantile(mean, np.linspace(0, 1, levels + 1)))
    which = np.clip(np.searchsorted(edges, mean, side="right") - 1, 0, len(edges) - 2)
    level_mean, level_var, level_n = [], [], []
    for k in range(len(edges) - 1):
        r = residual[which == k]
        if r.size < 50:
            continue
        mad = np.median(np.abs(r - np.median(r)))
        level_mean.append(mean[which == k].mean())
        level_var.append((1.4826 * mad) ** 2)
        level_n.append(r.size)
    if len(level_mean) < 2:
        raise NoiseModelError(
            "The images hold too narrow a range of intensities to estimate a noise model.",
            "Measure a calibration stack instead.",
        )
    s, v, n = np.array(level_mean), np.array(level_var), np.array(level_n, dtype=np.float64)
    gain, offset_variance = fit_variance_line(s, v, n)
    gain = max(gain, 0.0)
    min_variance = max(float(np.min(v)) * 0.5, 1e-6 * max(high - low, 1.0) ** 2)
    meta = {
        "method": "estimated from noisy images (local means and MAD of high-pass residuals)",
        "images": len(frames),
        "levels": {"mean": s.tolist(), "variance": v.tolist(), "pixels": n.tolist()},
        **(metadata or {}),
    }
    return PoissonGaussianNoiseModel(gain, offset_variance, low, high, min_variance, meta)


def fit_variance_line(
    s: np.ndarray, v: np.ndarray, n: np.ndarray, iterations: int = 20
) -> tuple[float, float]:
    """Fit v = a s + b by iteratively reweighted least squares.

    A level's variance estimate has a standard deviation proportional to the true
    variance over sqrt(n), so each level is weighted by sqrt(n) / (a s + b) from the
    previous fit. Weighting by the measured variance instead lets dark levels whose
    measured spread is near zero (quantised values: the MAD is 0) take over the fit.
    """
    floor = max(float(np.max(v)) * 1e-2, 1e-12)
    design = np.stack([s, np.ones_like(s)], axis=1)
    weights = np.sqrt(n)
    line = np.zeros(2)
    for _ in range(iterations):
        previous = line
        line, *_ = np.linalg.lstsq(design * weights[:, None], v * weights, rcond=None)
        if np.allclose(line, previous, rtol=1e-6, atol=0.0):
            break
        weights = np.sqrt(n) / np.maximum(design @ line, floor)
    return float(line[0]), float(line[1])
