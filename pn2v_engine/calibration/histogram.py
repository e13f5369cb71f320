"""The second pass: every (signal, frame pixel) pair into the histogram."""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from pn2v_engine.errors import ConfigError
from pn2v_engine.noise_models.histogram import HistogramAccumulator, histogram_grid
from pn2v_engine.progress import CancelToken, StageProgress

from .sampling import PairSampler
from .scan import Scan, reread_frames
from .sources import FrameSource


@dataclass
class Pairs:
    """What the histogram pass collects."""

    accumulator: HistogramAccumulator
    signal_range: tuple[float, float]
    code: float | None  # the reading that means "saturated", if there is one
    first_half: np.ndarray | None  # per-pixel sum of the first frames, for the motion check
    saturated: np.ndarray | None  # per pixel: frames at the saturation code


def validate_options(bins: int, value_range: tuple[float, float] | None) -> None:
    if int(bins) != bins or bins < 2:
        raise ConfigError(
            f"The histogram needs at least 2 bins, got {bins}.", "Use 256 bins (the default)."
        )
    if value_range is not None:
        low, high = (float(v) for v in value_range)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(
                f"The histogram range {low:g} to {high:g} is not a valid range.",
                "Give a minimum below the maximum, or leave the range empty to use the data's.",
            )


def histogram_pass(
    source: FrameSource,
    signal: np.ndarray,
    scan: Scan,
    bins: int,
    value_range: tuple[float, float] | None,
    *,
    first_half_frames: int,
    cancel: CancelToken | None,
    sampler: PairSampler | None = None,
) -> Generator[StageProgress, None, Pairs]:
    """Histogram the frames against ``signal`` over ``value_range`` or the data's range.

    Also sums the first ``first_half_frames`` frames, counts saturated readings and, if
    given, lets ``sampler`` draw from every frame.
    """
    signal_range = (float(signal.min()), float(signal.max()))
    accumulator = _accumulator(
        min(scan.minimum, signal_range[0]),
        max(scan.maximum, signal_range[1]),
        scan.integer,
        bins,
        value_range,
    )
    code = _saturation_code(scan)
    first_half = np.zeros(signal.shape, np.float64) if first_half_frames else None
    saturated = np.zeros(signal.shape, np.int64) if code is not None else None

    def add(index: int, frame: np.ndarray) -> None:
        accumulator.add(signal, frame)
        if first_half is not None and index < first_half_frames:
            first_half[...] += frame
        if saturated is not None:
            saturated[...] += frame == code
        if sampler is not None:
            sampler.add(frame)

    yield from reread_frames(source, scan, signal.shape, "histogram", add, cancel)
    return Pairs(accumulator, signal_range, code, first_half, saturated)


def _accumulator(
    lowest: float,
    highest: float,
    integer: bool,
    bins: int,
    value_range: tuple[float, float] | None,
) -> HistogramAccumulator:
    low_value, high_value = (
        (float(value_range[0]), float(value_range[1])) if value_range else (lowest, highest)
    )
    low, high, n = histogram_grid(low_value, high_value, bins=bins, integer=integer)
    if n < 2:  # all readings equal: give the histogram two bins
        low, high, n = histogram_grid(low_value, low_value + 1, bins=bins, integer=integer)
    return HistogramAccumulator(low, high, n)


def _saturation_code(scan: Scan) -> float | None:
    """The frames' maximum, if it looks like a saturation level.

    That is the dtype's maximum, a camera's ``2**k - 1`` for integer data (e.g. 4095 for
    12 bits in uint16), or any maximum of non-integer float data (continuous readings
    only repeat a value exactly when clipped).
    """
    top = scan.maximum
    for name in scan.dtypes:
        dtype = np.dtype(name)
        if dtype.kind in "iu" and top == np.iinfo(dtype).max:
            return top
    if scan.integer:
        if top >= 255 and top == int(top) and int(top) & (int(top) + 1) == 0:
            return top
        return None
    return top
