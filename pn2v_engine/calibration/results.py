"""What a calibration returns, and building it once the histogram is filled."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pn2v_engine.noise_models.histogram import HistogramNoiseModel

from .checks import outside_warning, range_warning, saturation_warning, thin_warning
from .histogram import Pairs
from .scan import Scan

logger = logging.getLogger(__package__)


@dataclass(frozen=True)
class CalibrationSummary:
    """What a calibration measured, for people and for the noise model's metadata.

    ``dtype`` is the frames' common pixel type, ``signal_range`` the range of the
    averaged (or given clean) signal, ``observation_range`` that of the raw frames.
    ``saturated_pixels`` counts pixels at the saturation code in at least half of the
    frames; ``counts_per_bin`` the (signal, reading) pairs per signal bin. ``warnings``
    are sentences saying what is wrong and what to do.
    """

    frames: int
    shape: tuple[int, int]
    dtype: str
    signal_range: tuple[float, float]
    observation_range: tuple[float, float]
    saturated_pixels: int
    counts_per_bin: list[int]
    warnings: list[str] = field(default_factory=list)
    #: Paired calibration: the fitted E[reading | clean] = offset + gain * clean, and
    #: whether the clean image was mapped by it (:mod:`.matching`).
    intensity_line: dict[str, float | bool] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready builtins (lists for tuples)."""
        return {
            "frames": int(self.frames),
            "shape": [int(n) for n in self.shape],
            "dtype": str(self.dtype),
            "signal_range": [float(v) for v in self.signal_range],
            "observation_range": [float(v) for v in self.observation_range],
            "saturated_pixels": int(self.saturated_pixels),
            "counts_per_bin": [int(n) for n in self.counts_per_bin],
            "warnings": [str(w) for w in self.warnings],
            **({"intensity_line": dict(self.intensity_line)} if self.intensity_line else {}),
        }


@dataclass
class CalibrationResult:
    """The float32 signal (mean of the frames, or the given clean image), the noise model
    (``metadata["calibration"]`` holds ``summary.to_dict()``) and the summary.

    ``measured`` is the histogram as measured when ``noise_model`` is its smoothed form
    (:mod:`.smoothing`), else ``None``.
    """

    signal: np.ndarray
    noise_model: HistogramNoiseModel
    summary: CalibrationSummary
    measured: HistogramNoiseModel | None = None


def build_result(
    signal64: np.ndarray,
    scan: Scan,
    pairs: Pairs,
    warnings: list[str],
    value_range: tuple[float, float] | None,
    prior_strength: float,
    intensity_line: dict[str, float | bool] | None = None,
) -> CalibrationResult:
    """Add the histogram's warnings to ``warnings``, log them, and build the model."""
    accumulator = pairs.accumulator
    assert scan.shape is not None
    pixels = int(np.prod(scan.shape))
    observation_range = (scan.minimum, scan.maximum)
    counts_per_bin = accumulator.counts.sum(axis=1)
    saturated = 0
    if pairs.saturated is not None:
        saturated = int(np.count_nonzero(2 * pairs.saturated >= scan.n))
    candidates = [
        thin_warning(scan.n * pixels),
        range_warning(pairs.signal_range, observation_range, counts_per_bin),
        saturation_warning(saturated, pixels, pairs.code),
    ]
    if value_range is not None:
        candidates.append(
            outside_warning(accumulator.n_outside, scan.n * pixels, *map(float, value_range))
        )
    warnings = warnings + [w for w in candidates if w]
    for warning in warnings:
        logger.warning("calibration: %s", warning)
    summary = CalibrationSummary(
        frames=scan.n,
        shape=(int(scan.shape[0]), int(scan.shape[1])),
        dtype=scan.dtype,
        signal_range=(float(pairs.signal_range[0]), float(pairs.signal_range[1])),
        observation_range=(float(observation_range[0]), float(observation_range[1])),
        saturated_pixels=saturated,
        counts_per_bin=[int(c) for c in counts_per_bin],
        warnings=warnings,
        intensity_line=intensity_line,
    )
    model = accumulator.build(prior_strength, metadata={"calibration": summary.to_dict()})
    logger.info(
        "calibrated from %d frames of %dx%d %s: signal %g to %g, %d bins, %d warnings",
        summary.frames,
        summary.shape[1],
        summary.shape[0],
        summary.dtype,
        summary.signal_range[0],
        summary.signal_range[1],
        accumulator.bins,
        len(warnings),
    )
    return CalibrationResult(signal64.astype(np.float32), model, summary)
