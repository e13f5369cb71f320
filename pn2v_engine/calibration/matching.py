"""Putting a given clean image on the noisy images' intensity scale (paired calibration).

In a calibration stack the signal is the mean of the readings, so E[x | s] = s by
construction. A clean image made elsewhere (another averaging, an exported or
background-subtracted ground truth) can be off in offset and gain; a noise model built
from it is then centred off the signal, and PN2V trained with it returns intensities
on the clean image's scale, not the noisy images'. FMD's other-field-of-view
Confocal_FISH pair reads 10 % brighter than its clean image (field of view 19 and the
Confocal_MICE pair: within 0.5 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import clean_scale_warning

#: Equal-width signal bins whose mean readings the line is fitted to.
LINE_BINS = 64
#: Readings a bin needs to take part in the fit.
LINE_MIN_READINGS = 100
#: A bin whose mean reading lies within this many standard deviations of the largest
#: reading is left out: saturation pulls its mean down.
SATURATION_MARGIN_SD = 2.0
#: The clean image is mapped when the line moves some signal in its range by more than
#: this fraction of the range (a fit on an image that is its noisy frames' mean moves
#: it by under 0.1 %).
MAPPING_THRESHOLD = 0.02


@dataclass(frozen=True)
class IntensityLine:
    """The noisy images' mean reading as a function of the clean signal:
    E[x | s] = offset + gain * s."""

    offset: float
    gain: float

    def apply(self, signal: np.ndarray) -> np.ndarray:
        return self.offset + self.gain * signal

    def largest_shift(self, low: float, high: float) -> float:
        """The largest |E[x | s] - s| for s in [low, high] (at one of the ends)."""
        return max(abs(self.offset + (self.gain - 1.0) * s) for s in (low, high))

    def to_dict(self) -> dict[str, float]:
        return {"offset": float(self.offset), "gain": float(self.gain)}


def fit_intensity_line(
    signal: np.ndarray,
    reading_sum: np.ndarray,
    reading_squares: np.ndarray,
    frames: int,
    largest_reading: float,
) -> IntensityLine | None:
    """Weighted least-squares line through the mean reading of each signal bin.

    ``reading_sum`` and ``reading_squares`` are the per-pixel sums of the readings and
    of their squares over ``frames`` noisy frames of the scene ``signal``. Each bin is
    weighted by the precision of its mean (readings / variance). Returns ``None`` when
    fewer than two bins can be used or the fitted gain is not positive.
    """
    s = signal.ravel()
    low, high = float(s.min()), float(s.max())
    if high <= low:
        return None
    index = np.minimum(((s - low) / (high - low) * LINE_BINS).astype(np.int64), LINE_BINS - 1)
    pixels = np.bincount(index, minlength=LINE_BINS).astype(np.float64)
    readings = pixels * frames
    used = readings >= LINE_MIN_READINGS
    n = readings[used]
    mean_s = np.bincount(index, weights=s, minlength=LINE_BINS)[used] / pixels[used]
    mean_x = np.bincount(index, weights=reading_sum.ravel(), minlength=LINE_BINS)[used] / n
    squares = np.bincount(index, weights=reading_squares.ravel(), minlength=LINE_BINS)[used]
    variance = np.maximum(squares / n - mean_x**2, 1e-12)
    below_saturation = mean_x + SATURATION_MARGIN_SD * np.sqrt(variance) < largest_reading
    if np.count_nonzero(below_saturation) < 2:
        return None
    root_weight = np.sqrt(n / variance)[below_saturation]
    design = np.stack([np.ones_like(root_weight), mean_s[below_saturation]], axis=1)
    (offset, gain), *_ = np.linalg.lstsq(
        design * root_weight[:, None], mean_x[below_saturation] * root_weight, rcond=None
    )
    if gain <= 0:
        return None
    return IntensityLine(float(offset), float(gain))


def needs_mapping(line: IntensityLine | None, low: float, high: float) -> bool:
    """Whether the line moves the clean signal enough to be applied."""
    return line is not None and line.largest_shift(low, high) > MAPPING_THRESHOLD * (high - low)


def match_signal(
    signal: np.ndarray,
    reading_sum: np.ndarray,
    reading_squares: np.ndarray,
    frames: int,
    largest_reading: float,
) -> tuple[np.ndarray, IntensityLine | None, bool]:
    """``(signal, line, mapped)``: the signal on the readings' scale where the fitted line
    (:func:`fit_intensity_line`, same arguments) moves it enough, else as given."""
    line = fit_intensity_line(signal, reading_sum, reading_squares, frames, largest_reading)
    mapped = needs_mapping(line, float(signal.min()), float(signal.max()))
    if mapped:
        assert line is not None
        return line.apply(signal), line, True
    return signal, line, False


def matching_record(
    line: IntensityLine | None, mapped: bool
) -> tuple[dict[str, float | bool] | None, list[str]]:
    """What a calibration records of a fitted line: ``{offset, gain, applied}`` (None
    without a line) and the warning a mapped clean image gets."""
    if line is None:
        return None, []
    warnings = [clean_scale_warning(line.offset, line.gain)] if mapped else []
    return {**line.to_dict(), "applied": mapped}, warnings


def match_signal_to_stack(
    signal: np.ndarray, stack: np.ndarray
) -> tuple[np.ndarray, IntensityLine | None, bool]:
    """:func:`match_signal` for noisy frames already in memory (``(frames, Y, X)`` of the
    signal's shape)."""
    frames = np.asarray(stack, dtype=np.float64).reshape(-1, *signal.shape)
    return match_signal(
        np.asarray(signal, dtype=np.float64),
        frames.sum(axis=0),
        np.square(frames).sum(axis=0),
        frames.shape[0],
        float(frames.max()),
    )
