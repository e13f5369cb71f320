"""The paper's histogram noise model (Krull et al. 2020, section 5.2).

Conventions
-----------
* Signal and observation share one set of ``bins`` equal-width bins over
  ``[low, high)``; bin ``i`` covers ``[low + i*w, low + (i+1)*w)``.
* Row ``i`` of ``density`` is p(x | s = centre of bin i) as a probability
  *density* over x (each row integrates to one: ``density[i].sum() * w == 1``),
  constant within an observation bin.
* Between signal-bin centres p(x|s) is linearly interpolated, so it is
  continuous and piecewise linear (differentiable almost everywhere) in s.
  Signals beyond the outermost centres use the outermost rows.
* Observations outside ``[low, high)`` are clamped into the first or last bin;
  :meth:`NoiseModel.check_range` counts them so callers can warn.
* For integer data the edges are half-integers and the width a whole number,
  so every bin holds the same number of integer values (no comb artefacts).
* Rows are regularised with ``prior_strength`` pseudo-counts drawn from a
  Poisson-Gaussian model (variance linear in the signal) fitted to the same
  pairs: well-populated rows keep their measured shape, thin or empty rows fall
  back to the fit instead of collapsing to zero likelihood. ``prior_strength=0``
  gives the paper's plain histogram (an empty row then becomes uniform).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Self

import numpy as np
import torch

from pn2v_engine.errors import CalibrationError

from .base import DENSITY_FLOOR, NoiseModel

DEFAULT_BINS = 256
DEFAULT_PRIOR_STRENGTH = 10.0


def histogram_grid(
    min_value: float, max_value: float, bins: int = DEFAULT_BINS, integer: bool = False
) -> tuple[float, float, int]:
    """Choose ``(low, high, bins)`` covering ``[min_value, max_value]``.

    For integer data the width is a whole number of grey levels and the edges
    sit half-way between integers, so fewer than ``bins`` bins may result.
    """
    if not (math.isfinite(min_value) and math.isfinite(max_value)):
        raise CalibrationError("The calibration data contain NaN or infinite values.")
    if integer:
        span = round(max_value - min_value) + 1
        width = max(1, math.ceil(span / bins))
        n = max(2, math.ceil(span / width))
        low = min_value - 0.5
        return low, low + n * width, n
    if max_value <= min_value:
        max_value = min_value + 1.0
    width = (max_value - min_value) / bins
    # a hair wider so that max_value falls inside the last bin
    return min_value, max_value + 1e-6 * width, bins


def is_integer_valued(values: np.ndarray) -> bool:
    """Whether every value is an integer (integer dtype, or floats with no fraction)."""
    values = np.asarray(values)
    return values.dtype.kind in "iu" or bool(np.array_equal(values, np.round(values)))


def bin_index(values: np.ndarray, low: float, width: float, bins: int) -> np.ndarray:
    """The bin of each value on the grid of ``bins`` bins of ``width`` from ``low``,
    values outside clamped into the first or last bin."""
    position = np.floor((np.asarray(values, dtype=np.float64) - low) / width)
    return np.clip(position, 0, bins - 1).astype(np.intp)


class HistogramAccumulator:
    """Streams (signal, observation) pairs into a 2-D histogram.

    Besides the counts it keeps, per signal row, the exact moments of s and x,
    which the Poisson-Gaussian regularising fit uses.
    """

    def __init__(self, low: float, high: float, bins: int = DEFAULT_BINS) -> None:
        self.low, self.high, self.bins = float(low), float(high), int(bins)
        self.width = (self.high - self.low) / self.bins
        self.counts = np.zeros((self.bins, self.bins), dtype=np.int64)
        self.moments = np.zeros((self.bins, 4), dtype=np.float64)  # n, sum s, sum x, sum x^2
        self.n_outside = 0

    def add(self, signal: np.ndarray, observation: np.ndarray) -> None:
        s = np.asarray(signal, dtype=np.float64).ravel()
        x = np.asarray(observation, dtype=np.float64).ravel()
        if s.shape != x.shape:
            raise CalibrationError(
                f"Signal and observation differ in size ({s.size} vs {x.size} pixels).",
                "Use noisy and clean images of the same shape.",
            )
        self.n_outside += int(np.count_nonzero((x < self.low) | (x >= self.high)))
        i, j = (bin_index(v, self.low, self.width, self.bins) for v in (s, x))
        self.counts += np.bincount(i * self.bins + j, minlength=self.bins**2).reshape(
            self.bins, self.bins
        )
        for column, weights in enumerate((None, s, x, x * x)):
            self.moments[:, column] += np.bincount(i, weights=weights, minlength=self.bins)

    def fit_poisson_gaussian(self) -> tuple[float, float]:
        """Least-squares fit of var(x | s) = a s + b over rows with enough pixels."""
        n, sum_s, sum_x, sum_xx = self.moments.T
        rows = n >= 16
        if np.count_nonzero(rows) < 2:
            # too little data for a line: one shared variance
            total = max(n.sum(), 1.0)
            var = max(sum_xx.sum() / total - (sum_x.sum() / total) ** 2, self.width**2 / 12)
            return 0.0, float(var)
        mean_s = sum_s[rows] / n[rows]
        var_x = np.maximum(sum_xx[rows] / n[rows] - (sum_x[rows] / n[rows]) ** 2, 0.0)
        weights = n[rows]
        design = np.stack([mean_s, np.ones_like(mean_s)], axis=1) * np.sqrt(weights)[:, None]
        (a, b), *_ = np.linalg.lstsq(design, var_x * np.sqrt(weights), rcond=None)
        return float(max(a, 0.0)), float(b)

    def build(
        self, prior_strength: float = DEFAULT_PRIOR_STRENGTH, metadata: dict[str, Any] | None = None
    ) -> HistogramNoiseModel:
        if self.counts.sum() == 0:
            raise CalibrationError("No calibration pixels were collected.")
        a, b = self.fit_poisson_gaussian()
        min_var = self.width**2 / 12
        edges = self.low + self.width * np.arange(self.bins + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        sd = np.sqrt(np.maximum(a * centres + b, min_var))
        cdf = _normal_cdf((edges[None, :] - centres[:, None]) / sd[:, None])
        prior = np.diff(cdf, axis=1)
        prior /= np.maximum(prior.sum(axis=1, keepdims=True), 1e-300)
        rows = self.counts.sum(axis=1, keepdims=True).astype(np.float64)
        if prior_strength > 0:
            probability = (self.counts + prior_strength * prior) / (rows + prior_strength)
        else:
            probability = np.where(rows > 0, self.counts / np.maximum(rows, 1), 1.0 / self.bins)
        meta = {
            "prior_strength": float(prior_strength),
            "poisson_gaussian_fit": {"gain": a, "offset_variance": b},
            "pixels": int(self.counts.sum()),
            "pixels_outside_range": int(self.n_outside),
            **(metadata or {}),
        }
        return HistogramNoiseModel(
            probability / self.width, self.low, self.high, counts=self.counts, metadata=meta
        )


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return torch.special.ndtr(torch.from_numpy(z)).numpy()


def histogram_from_pairs(
    signals: Iterable[np.ndarray],
    observations: Iterable[np.ndarray],
    bins: int = DEFAULT_BINS,
    value_range: tuple[float, float] | None = None,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    metadata: dict[str, Any] | None = None,
    integer: bool | None = None,
) -> HistogramNoiseModel:
    """Build the model from matching clean (signal) and noisy (observation) images.

    ``value_range`` fixes ``(min, max)`` of the histogram; by default it spans
    all signal and observation values. ``integer`` says whether the readings are
    integers (bin edges on half-integers); by default, whether all observations are.
    """
    pairs = [(np.asarray(s), np.asarray(x)) for s, x in zip(signals, observations, strict=True)]
    if not pairs:
        raise CalibrationError("No image pairs were given.", "Give clean and noisy images.")
    for s, x in pairs:
        if s.shape != x.shape:
            raise CalibrationError(
                f"A clean image of shape {s.shape} is paired with a noisy image of shape "
                f"{x.shape}.",
                "Pair each clean image with noisy images of the same shape.",
            )
    if integer is None:
        integer = all(is_integer_valued(x) for _, x in pairs)
    if value_range is None:
        value_range = (
            min(min(float(s.min()), float(x.min())) for s, x in pairs),
            max(max(float(s.max()), float(x.max())) for s, x in pairs),
        )
    low, high, n = histogram_grid(*value_range, bins=bins, integer=integer)
    accumulator = HistogramAccumulator(low, high, n)
    for s, x in pairs:
        accumulator.add(s, x)
    return accumulator.build(prior_strength, metadata)


class HistogramNoiseModel(NoiseModel):
    """p(x|s) as a row-normalised 2-D histogram, linearly interpolated in s."""

    kind = "histogram"

    def __init__(
        self,
        density: np.ndarray | torch.Tensor,
        low: float,
        high: float,
        counts: np.ndarray | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(metadata)
        density = torch.as_tensor(density, dtype=torch.float32)
        if density.ndim != 2 or density.shape[0] != density.shape[1] or density.shape[0] < 2:
            raise ValueError(f"density must be a square 2-D array, got {tuple(density.shape)}")
        self.density = density
        self.low, self.high = float(low), float(high)
        self.bins = int(density.shape[0])
        self.width = (self.high - self.low) / self.bins
        self.counts = None if counts is None else np.asarray(counts, dtype=np.int64)
        self._flat = density.reshape(-1).contiguous()

    @property
    def signal_range(self) -> tuple[float, float]:
        return self.low, self.high

    @property
    def bin_centres(self) -> np.ndarray:
        return self.low + self.width * (np.arange(self.bins) + 0.5)

    def bin_index(self, values: np.ndarray) -> np.ndarray:
        """The bin of each value (signal row or observation column), clamped into range."""
        return bin_index(values, self.low, self.width, self.bins)

    def likelihood(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        # Prediction evaluates this on (pixels, K) arrays, so it is written for speed:
        # without autograd the arithmetic runs in place (the same operations, the same
        # values), and the table is read with index_select and int32 indices, several
        # times faster on the CPU than tensor[int64 index] (the values read are the same).
        n = self.bins
        column = ((x - self.low) / self.width).floor_().clamp_(0, n - 1).to(torch.int32)
        tracked = torch.is_grad_enabled() and s.requires_grad
        if tracked:
            position = (s - self.low) / self.width - 0.5
            row = position.detach().floor().clamp_(0, n - 2)
            fraction = (position - row).clamp(0.0, 1.0)
        else:
            position = (s - self.low).div_(self.width).sub_(0.5)
            row = position.floor().clamp_(0, n - 2)
            fraction = position.sub_(row).clamp_(0.0, 1.0)
        index = row.to(torch.int32).mul_(n)
        if torch.broadcast_shapes(index.shape, column.shape) == index.shape:
            index.add_(column)
        else:  # x broadcasts over s
            index = index + column
        flat_index = index.reshape(-1)
        dtype = torch.promote_types(self._flat.dtype, fraction.dtype)
        below = self._flat.index_select(0, flat_index).view(index.shape).to(dtype)
        above = self._flat[n:].index_select(0, flat_index).view(index.shape).to(dtype)
        if tracked:
            return torch.lerp(below, above, fraction.to(dtype)).clamp_min(DENSITY_FLOOR)
        return below.lerp_(above, fraction.to(dtype)).clamp_min_(DENSITY_FLOOR)

    def clamp_signal(self, s: torch.Tensor) -> torch.Tensor:
        # Beyond the outermost bin centres the model only repeats its edge rows: a sample
        # there would be weighted as if it sat on the edge but counted at its own value.
        half = self.width / 2
        return s.clamp_(self.low + half, self.high - half)

    def describe(self) -> str:
        smoothing = self.metadata.get("smoothing")
        if smoothing is None:
            return super().describe()
        alpha = smoothing.get("pseudo_counts")  # None: the mixture alone (also older files)
        how = "" if alpha is None else f" where thin (under {alpha:,.0f} pixels a row)"
        lowest = smoothing.get("lowest_reading")
        floor = "" if lowest is None else f" that reads nothing below the floor of {lowest:g}"
        return (
            f"histogram noise model smoothed{how} by a {smoothing['components']}-component "
            f"Gaussian mixture{floor}, calibrated range {self.low:g} to {self.high:g}"
        )

    def posterior_weights(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        # densities are floored above zero, so plain normalisation is safe (and faster)
        weights = self.likelihood(x, s)
        return weights.div_(weights.sum(dim=-1, keepdim=True))

    def log_likelihood(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return torch.log(self.likelihood(x, s))

    def to(self, device: torch.device | str) -> Self:
        return type(self)(self.density.to(device), self.low, self.high, self.counts, self.metadata)

    def measured(self) -> HistogramNoiseModel | None:
        """The plain histogram of the kept counts (no prior, no smoothing), or ``None``.

        For showing what was measured beside a smoothed model: rows without counts are
        zero (shown empty; as a model, its likelihood there is the density floor).
        """
        if self.counts is None:
            return None
        rows = self.counts.sum(axis=1, keepdims=True)
        probability = self.counts / np.maximum(rows, 1)
        return HistogramNoiseModel(
            probability / self.width, self.low, self.high, self.counts, {"measured_counts": True}
        )

    def row_counts(self) -> np.ndarray | None:
        """Calibration pixels per signal bin (``None`` if the counts were not kept)."""
        return None if self.counts is None else self.counts.sum(axis=1)

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "density": self.density.cpu().numpy(),
            "range": np.array([self.low, self.high]),
        }
        if self.counts is not None:
            arrays["counts"] = self.counts
        return arrays

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> Self:
        low, high = (float(v) for v in arrays["range"])
        density = arrays["density"]
        if not np.all(np.isfinite(density)) or np.any(density < 0):
            raise ValueError("the histogram holds negative or non-finite densities")
        return cls(density, low, high, arrays.get("counts"), metadata)
