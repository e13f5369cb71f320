"""Measure a histogram noise model from calibration frames (Krull et al. 2020, section 5.2).

The microscopist records N frames of a *static* scene -- typically 100 frames of an
out-of-focus, half-closed field diaphragm, so that every brightness from dark to bright
occurs somewhere in the field. The per-pixel mean over the frames is taken as the
signal ``s``, and every (signal, frame pixel) pair ``(s, x)`` goes into the 2-D
histogram p(x | s) of :class:`~pn2v_engine.noise_models.HistogramNoiseModel`.

The data are streamed in two passes, one frame in memory at a time (files are read
twice from disk, never held whole):

1. **averaging** -- per-pixel sum and sum of squares (float64), global minimum and
   maximum, whether the data are integers, and each frame's mean intensity.
2. **histogram** -- the (signal, frame) pairs go into a
   :class:`~pn2v_engine.noise_models.HistogramAccumulator`; the sum of the first
   half of the frames (for the motion check) and saturated readings are counted.

Accuracy of the averaged signal
-------------------------------
The signal is the mean of N noisy frames, so it still carries noise of variance
``var / N`` (``var`` the per-frame noise variance at that brightness): the signal axis
of the histogram is blurred by ``sqrt(var / N)``. Because each frame is also part of
its own mean, the spread of ``x`` around the mean is ``var * (1 - 1/N)``, so the
measured noise is slightly *narrower* than the truth. For N = 100 both effects are
about 1 % of the variance and negligible; below 20 frames a warning is given.

Checks
------
Errors (:class:`~pn2v_engine.errors.CalibrationError`): no frames, a single frame,
frames of different shapes, NaN or infinite pixels, clean and noisy images of
different shapes. Files of different shapes raise
:class:`~pn2v_engine.errors.InvalidImageError` from :func:`pn2v_engine.io.read_frames`,
which names both shapes.

Warnings (``summary.warnings``, also logged), each a sentence with what to do:

* fewer than :data:`MIN_FRAMES_ADVISED` frames;
* the scene moved or changed between the first and second half of the recording
  (see :data:`MOTION_RATIO_LIMIT`);
* the overall brightness drifted by more than :data:`DRIFT_LIMIT` (bleaching, lamp);
* the frames cover a narrow brightness range (:data:`NARROW_SIGNAL_FRACTION`,
  :data:`MIN_POPULATED_BINS`, :data:`POPULATED_BIN_PIXELS`);
* more than :data:`SATURATION_FRACTION` of the pixels are saturated;
* with an explicit ``value_range``, more than :data:`OUTSIDE_RANGE_FRACTION` of the
  readings fall outside it;
* all frames are identical (copies, not independent exposures).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pn2v_engine import io as image_io
from pn2v_engine.errors import CalibrationError, ConfigError
from pn2v_engine.noise_models.histogram import (
    DEFAULT_BINS,
    DEFAULT_PRIOR_STRENGTH,
    HistogramAccumulator,
    HistogramNoiseModel,
    histogram_grid,
)
from pn2v_engine.progress import CancelToken, StageProgress, Throttle, check, drive

__all__ = [
    "CalibrationResult",
    "CalibrationSummary",
    "iter_calibrate",
    "iter_calibrate_pairs",
    "run_calibrate",
    "run_calibrate_pairs",
]

logger = logging.getLogger(__name__)

#: Fewer frames than this give a warning (the mean of few frames is itself noisy).
MIN_FRAMES_ADVISED = 20
#: Frames that give the recommended accuracy (quoted in messages).
IDEAL_FRAMES = 100
#: Warn when the first-half and second-half means differ this many times more (in
#: variance) than the temporal noise allows for a static scene.
MOTION_RATIO_LIMIT = 1.5
#: Warn when the frames' mean intensity drifts by more than this fraction (linear trend
#: from the first to the last frame, relative to the average intensity including the
#: camera offset, which is not known here).
DRIFT_LIMIT = 0.02
#: Warn when the averaged signal spans less than this fraction of the readings' range.
NARROW_SIGNAL_FRACTION = 0.2
#: Warn when fewer signal bins than this hold at least :data:`POPULATED_BIN_PIXELS`.
MIN_POPULATED_BINS = 16
#: Calibration pixels (signal, reading pairs) for a signal bin to count as populated.
POPULATED_BIN_PIXELS = 100
#: Warn when more than this fraction of the pixels are saturated.
SATURATION_FRACTION = 0.001
#: Warn when more than this fraction of readings lie outside an explicit value_range.
OUTSIDE_RANGE_FRACTION = 0.001
#: Progress is reported at least this often (seconds), frame time permitting.
PROGRESS_INTERVAL_S = 0.25

#: What :func:`iter_calibrate` accepts: file paths (each a 2-D image or a stack; a
#: folder stands for the images in it), a ``(frames, Y, X)`` array, or 2-D arrays.
CalibrationSources = (
    str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | np.ndarray | Sequence[np.ndarray]
)


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class CalibrationSummary:
    """What a calibration measured, for people and for the noise model's metadata.

    Attributes
    ----------
    frames
        Number of frames (noisy images) used.
    shape
        ``(Y, X)`` of every frame.
    dtype
        Pixel type of the frames (the common type if files differ), e.g. ``"uint16"``.
    signal_range
        Minimum and maximum of the averaged (or given clean) signal.
    observation_range
        Minimum and maximum of the raw frames.
    saturated_pixels
        Pixels of the signal image that read the saturation code in at least half of
        the frames. The saturation code is the frames' maximum value when that looks
        like a saturation level: the dtype's maximum (e.g. 65535 for uint16), a
        camera's ``2**k - 1`` for integer data (e.g. 4095 for a 12-bit camera stored
        as uint16), or any maximum for non-integer float data (continuous readings
        only repeat a value exactly when clipped).
    counts_per_bin
        Calibration pixels (signal, reading pairs) per signal bin of the histogram.
    warnings
        Plain sentences, each saying what is wrong and what to do.
    """

    frames: int
    shape: tuple[int, int]
    dtype: str
    signal_range: tuple[float, float]
    observation_range: tuple[float, float]
    saturated_pixels: int
    counts_per_bin: list[int]
    warnings: list[str] = field(default_factory=list)

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
        }


@dataclass
class CalibrationResult:
    """The outcome of a calibration.

    Attributes
    ----------
    signal
        ``(Y, X)`` float32 per-pixel mean of the frames (for paired calibration: the
        given clean image).
    noise_model
        The histogram noise model; ``metadata["calibration"]`` holds
        ``summary.to_dict()``.
    summary
        What was measured, with warnings.
    """

    signal: np.ndarray
    noise_model: HistogramNoiseModel
    summary: CalibrationSummary


# ------------------------------------------------------------------------------ sources


@dataclass
class _FrameSource:
    """Something that can be read, frame by frame, more than once."""

    open: Callable[[], Iterator[np.ndarray]]
    total: int | None  # number of frames, if known before reading
    files: bool


def _is_path(item: object) -> bool:
    return isinstance(item, str | os.PathLike)


def _no_frames() -> CalibrationError:
    return CalibrationError(
        "No calibration frames were given.",
        "Choose the calibration stack, or the files of the calibration frames "
        f"(20 or more frames of a static scene, {IDEAL_FRAMES} is ideal).",
    )


def _array_frames(arrays: Sequence[np.ndarray]) -> Iterator[np.ndarray]:
    for index, array in enumerate(arrays):
        if array.ndim == 2:
            yield array
        elif array.ndim == 3:
            yield from array
        else:
            raise CalibrationError(
                f"Calibration array {index} has shape {array.shape}; expected a 2-D frame "
                "(Y, X) or a stack (frames, Y, X).",
                "Give single-channel frames or stacks of frames.",
            )


def _count_array_frames(arrays: Sequence[np.ndarray]) -> int:
    return sum(1 if a.ndim == 2 else (a.shape[0] if a.ndim == 3 else 0) for a in arrays)


def _count_file_frames(paths: Sequence[Path]) -> int | None:
    """Frames in the files, from their headers; ``None`` where that is not possible.

    Only sizes the progress of the first pass (which counts the frames actually read),
    so it follows :mod:`pn2v_engine.io`'s rules loosely: every axis other than Y, X,
    channels and samples counts frames, and series of one shape and type stack.
    """
    import tifffile

    total = 0
    try:
        for path in paths:
            if path.suffix.lower() == ".png":
                total += 1
                continue
            with tifffile.TiffFile(path) as tif:
                series = list(tif.series)
                first = series[0]
                key = (first.get_axes(False), first.get_shape(False), first.dtype)
                same = all((s.get_axes(False), s.get_shape(False), s.dtype) == key for s in series)
                axes, shape = key[0].upper(), key[1]
                frames = math.prod(n for a, n in zip(axes, shape, strict=True) if a not in "YXCS")
                total += frames * (len(series) if same else 1)
    except Exception:  # the real read reports any problem with a proper message
        return None
    return total


def _expand_paths(items: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files in the order given; a folder stands for its images (natural order)."""
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths.extend(image_io.list_images([path]))
        else:
            paths.append(path)
    return paths


def _frame_source(sources: Any) -> _FrameSource:
    if sources is None:
        raise _no_frames()
    if _is_path(sources):
        sources = [sources]
    if isinstance(sources, np.ndarray):
        array = sources
        if array.ndim not in (2, 3):
            raise CalibrationError(
                f"The calibration array has shape {array.shape}; expected (frames, Y, X).",
                "Give a stack of single-channel frames.",
            )
        arrays: list[np.ndarray] = [array]
        return _FrameSource(lambda: _array_frames(arrays), _count_array_frames(arrays), False)
    if not isinstance(sources, Iterable):
        raise TypeError(f"sources must be file paths or arrays, got {type(sources).__name__}")
    items = list(sources)
    if not items:
        raise _no_frames()
    if all(_is_path(item) for item in items):
        paths = _expand_paths(items)
        if not paths:
            raise _no_frames()
        return _FrameSource(
            lambda: image_io.read_frames(paths), _count_file_frames(paths), files=True
        )
    if any(_is_path(item) for item in items):
        raise TypeError("sources must be all file paths or all arrays, not a mixture")
    arrays = [np.asarray(item) for item in items]
    return _FrameSource(lambda: _array_frames(arrays), _count_array_frames(arrays), False)


def _check_frame(frame: np.ndarray, name: str, shape: tuple[int, ...] | None) -> None:
    """Refuse frames of another type or shape, empty frames, and NaN or infinite pixels.

    ``name`` names the frame in messages, e.g. ``"Frame 3"``.
    """
    if frame.dtype.kind not in "uif":
        raise CalibrationError(
            f"{name} has pixels of type {frame.dtype}, not intensities.",
            "Use the camera's original 8-, 16- or 32-bit frames.",
        )
    if frame.ndim != 2:
        raise CalibrationError(
            f"{name} has shape {frame.shape}; expected a 2-D frame (Y, X).",
            "Give single-channel frames.",
        )
    if shape is not None and frame.shape != shape:
        raise CalibrationError(
            f"{name} is {frame.shape[1]}×{frame.shape[0]} pixels (shape {frame.shape}) "
            f"but the first is {shape[1]}×{shape[0]} pixels (shape {shape}).",
            "Use frames of one size (same camera region and binning) for a calibration.",
        )
    if frame.size == 0:
        raise _no_frames()
    if frame.dtype.kind == "f":
        bad = int(frame.size - np.count_nonzero(np.isfinite(frame)))
        if bad:
            raise CalibrationError(
                f"{name} has {bad} of {frame.size} pixels that are NaN or infinite.",
                "Use the camera's original frames, or replace those pixels in Fiji "
                "(Process > Math > Remove NaNs...).",
            )


def _is_integer_valued(frame: np.ndarray) -> bool:
    if frame.dtype.kind in "iu":
        return True
    return bool(np.array_equal(frame, np.round(frame)))


def _validate_options(bins: int, value_range: tuple[float, float] | None) -> None:
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


# ------------------------------------------------------------------------------ passes


@dataclass
class _Scan:
    """What a first pass learns about the frames."""

    n: int = 0
    shape: tuple[int, int] | None = None
    minimum: float = math.inf
    maximum: float = -math.inf
    integer: bool = True
    dtypes: set[str] = field(default_factory=set)
    frame_means: list[float] = field(default_factory=list)
    total: np.ndarray | None = None  # per-pixel sum, float64
    squares: np.ndarray | None = None  # per-pixel sum of squares, float64

    def add(self, frame: np.ndarray, moments: bool) -> None:
        self.n += 1
        self.shape = frame.shape  # type: ignore[assignment]
        self.minimum = min(self.minimum, float(frame.min()))
        self.maximum = max(self.maximum, float(frame.max()))
        self.dtypes.add(frame.dtype.name)
        if self.integer:
            self.integer = _is_integer_valued(frame)
        work = frame.astype(np.float64)
        self.frame_means.append(float(work.mean()))
        if not moments:
            return
        if self.total is None or self.squares is None:
            self.total = np.zeros(frame.shape, np.float64)
            self.squares = np.zeros(frame.shape, np.float64)
        self.total += work
        np.multiply(work, work, out=work)
        self.squares += work

    @property
    def dtype(self) -> str:
        return np.result_type(*sorted(self.dtypes)).name if self.dtypes else "float64"


def _progress(stage: str, done: int, total: int | None, message: str) -> StageProgress:
    """A report; an unknown total is 0, an estimate that proved low is raised to ``done``."""
    return StageProgress(stage, done, max(total, done) if total else 0, message)


def _scan(
    source: _FrameSource,
    cancel: CancelToken | None,
    stage: str,
    moments: bool,
    what: str,
    shape: tuple[int, ...] | None = None,
) -> Generator[StageProgress, None, _Scan]:
    """First pass: moments, range, integer-ness and frame means, one frame at a time."""
    scan = _Scan()
    throttle = Throttle(PROGRESS_INTERVAL_S)
    throttle()
    yield _progress(stage, 0, source.total, "")
    for index, frame in enumerate(source.open()):
        check(cancel)
        frame = np.asarray(frame)
        _check_frame(frame, f"{what} {index}", scan.shape or shape)
        scan.add(frame, moments)
        if throttle():
            yield _progress(stage, scan.n, source.total, f"{what.lower()} {scan.n}")
    check(cancel)
    yield _progress(stage, scan.n, scan.n, f"{scan.n} {what.lower()}s")
    return scan


def _saturation_code(scan: _Scan) -> float | None:
    """The reading that means "saturated", if the frames' maximum looks like one."""
    top = scan.maximum
    for name in scan.dtypes:
        dtype = np.dtype(name)
        if dtype.kind in "iu" and top == np.iinfo(dtype).max:
            return top
    if scan.integer:
        # 8- to 32-bit cameras saturate at 2**k - 1 (e.g. 4095 for 12-bit in uint16)
        if top >= 255 and top == int(top) and int(top) & (int(top) + 1) == 0:
            return top
        return None
    return top


@dataclass
class _Pairs:
    """What the histogram pass collects."""

    accumulator: HistogramAccumulator
    first_half: np.ndarray | None
    saturated: np.ndarray | None  # per pixel: frames at the saturation code


def _histogram_pass(
    source: _FrameSource,
    signal: np.ndarray,
    scan: _Scan,
    accumulator: HistogramAccumulator,
    first_half_frames: int,
    code: float | None,
    cancel: CancelToken | None,
) -> Generator[StageProgress, None, _Pairs]:
    """Second pass: (signal, frame) pairs into the histogram, first-half sum, saturation."""
    n = scan.n
    first_half = np.zeros(signal.shape, np.float64) if first_half_frames else None
    saturated = np.zeros(signal.shape, np.int64) if code is not None else None
    throttle = Throttle(PROGRESS_INTERVAL_S)
    throttle()
    yield StageProgress("histogram", 0, n, "")
    count = 0
    for index, frame in enumerate(source.open()):
        check(cancel)
        frame = np.asarray(frame)
        if index >= n or frame.shape != signal.shape:
            raise _changed()
        accumulator.add(signal, frame)
        if first_half is not None and index < first_half_frames:
            first_half += frame
        if saturated is not None:
            saturated += frame == code
        count += 1
        if throttle():
            yield StageProgress("histogram", count, n, f"frame {count}")
    if count != n:
        raise _changed()
    check(cancel)
    yield StageProgress("histogram", n, n, f"{n} frames")
    return _Pairs(accumulator, first_half, saturated)


def _changed() -> CalibrationError:
    return CalibrationError(
        "The calibration files changed while they were being read.",
        "Wait until the files are completely written, then calibrate again.",
    )


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


# ------------------------------------------------------------------------------ checks


def _few_frames_warning(n: int) -> str | None:
    if n >= MIN_FRAMES_ADVISED:
        return None
    return (
        f"Only {n} calibration frames were used. The average of so few frames is itself "
        f"noisy, so the measured noise is inaccurate (its variance about {1 / n:.0%} too "
        "small, and blurred across brightness levels). "
        f"Record at least {MIN_FRAMES_ADVISED} frames of the static scene, ideally "
        f"{IDEAL_FRAMES}."
    )


def _motion_ratio(
    total: np.ndarray, squares: np.ndarray, first_half: np.ndarray, n: int, n1: int
) -> float | None:
    """How much more the first- and second-half means differ than noise allows.

    Under a static scene ``var(m1 - m2) = var * (1/n1 + 1/n2)``, with ``var`` the
    temporal noise variance, here pooled *within* the two halves so that a change
    between them does not inflate it. Global brightness changes (offset or scaling,
    e.g. bleaching) are regressed out first: the drift check reports those. Returns
    ``None`` when it cannot be judged (fewer than 4 frames, or no noise at all).
    """
    n2 = n - n1
    if n1 < 2 or n2 < 2:
        return None
    m1 = first_half / n1
    m2 = (total - first_half) / n2
    within = squares - n1 * m1 * m1 - n2 * m2 * m2
    noise = float(np.maximum(within, 0.0).mean()) / (n - 2)
    if noise <= 0:
        return None
    difference = (m1 - m2).ravel()
    mean = (total / n).ravel()
    design = np.stack([mean, np.ones_like(mean)], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, difference, rcond=None)
    residual = difference - design @ coefficients
    dof = max(residual.size - 2, 1)
    observed = float(residual @ residual) / dof
    return observed / (noise * (1.0 / n1 + 1.0 / n2))


def _motion_warning(ratio: float | None) -> str | None:
    if ratio is None or ratio <= MOTION_RATIO_LIMIT:
        return None
    return (
        "The scene changed during the recording: the average of the first half of the "
        "frames differs from the average of the second half "
        f"{ratio:.1f} times more than the camera noise explains. The sample, stage or "
        "focus probably moved, which makes the measured noise too large. Fix the sample "
        "and the focus, wait until the microscope is settled, and record the calibration "
        "again."
    )


def _drift(frame_means: Sequence[float]) -> float | None:
    """Linear-trend change of the mean intensity, first to last frame, relative to its level."""
    means = np.asarray(frame_means, dtype=np.float64)
    level = float(means.mean()) if means.size else 0.0
    if means.size < 2 or level <= 0:
        return None
    t = np.arange(means.size, dtype=np.float64)
    slope = float(np.polyfit(t, means, 1)[0])
    return slope * (means.size - 1) / level


def _drift_warning(drift: float | None) -> str | None:
    if drift is None or abs(drift) <= DRIFT_LIMIT:
        return None
    direction = "rose" if drift > 0 else "fell"
    return (
        f"The overall brightness {direction} by {abs(drift):.1%} from the first to the last "
        "frame (bleaching, or a lamp or laser that is not yet stable). Changing light "
        "makes the measured noise too large. Let the light source warm up, use a scene "
        "that does not bleach (e.g. the field diaphragm in transmitted light), and record "
        "the calibration again."
    )


def _range_warning(
    signal_range: tuple[float, float],
    observation_range: tuple[float, float],
    counts_per_bin: np.ndarray,
) -> str | None:
    signal_span = signal_range[1] - signal_range[0]
    observation_span = observation_range[1] - observation_range[0]
    fraction = signal_span / observation_span if observation_span > 0 else 0.0
    populated = int(np.count_nonzero(counts_per_bin >= POPULATED_BIN_PIXELS))
    needed = min(MIN_POPULATED_BINS, counts_per_bin.size)
    if fraction >= NARROW_SIGNAL_FRACTION and populated >= needed:
        return None
    if fraction < NARROW_SIGNAL_FRACTION:
        what = (
            f"the averaged brightness spans only {signal_range[0]:g} to {signal_range[1]:g}, "
            f"{fraction:.0%} of the range of the readings"
        )
    else:
        what = (
            f"only {populated} brightness levels hold {POPULATED_BIN_PIXELS} or more "
            f"calibration pixels (at least {needed} are needed)"
        )
    return (
        f"The calibration covers a narrow range of brightness: {what}. The noise model "
        "is only reliable for brightness levels it has seen. Close the field diaphragm "
        "about halfway and defocus it (or otherwise make the field uneven) so that the "
        "frames hold everything from dark background to the brightest signal, then record "
        "again."
    )


def _saturation_warning(saturated: int, pixels: int, code: float | None) -> str | None:
    if saturated <= SATURATION_FRACTION * pixels:
        return None
    return (
        f"{saturated} pixels ({saturated / pixels:.1%}) are saturated: they read the "
        f"maximum value {code:g} in at least half of the frames, so their noise cannot be "
        "measured. Lower the exposure time or the light intensity until no pixel reaches "
        "the maximum, and record the calibration again."
    )


def _outside_warning(outside: int, readings: int, low: float, high: float) -> str | None:
    if outside <= OUTSIDE_RANGE_FRACTION * readings:
        return None
    return (
        f"{outside} readings ({outside / readings:.1%}) lie outside the chosen histogram "
        f"range {low:g} to {high:g}; they were counted in its first or last bin. Widen "
        "the range, or leave it empty to use the data's range."
    )


def _identical_warning(total: np.ndarray, squares: np.ndarray, n: int) -> str | None:
    deviations = squares - total * total / n  # per pixel: sum of squared deviations
    if float(np.max(np.abs(deviations))) > 1e-9 * max(float(np.max(squares)), 1e-300):
        return None
    return (
        "All calibration frames are identical, so they show no noise. Record independent "
        "exposures of the scene (a time series), not copies of one frame."
    )


# ------------------------------------------------------------------------------ finish


def _finish(
    signal64: np.ndarray,
    scan: _Scan,
    pairs: _Pairs,
    signal_range: tuple[float, float],
    code: float | None,
    warnings: list[str],
    value_range: tuple[float, float] | None,
    prior_strength: float,
) -> CalibrationResult:
    accumulator = pairs.accumulator
    assert scan.shape is not None
    pixels = int(np.prod(scan.shape))
    observation_range = (scan.minimum, scan.maximum)
    counts_per_bin = accumulator.counts.sum(axis=1)
    saturated = 0
    if pairs.saturated is not None:
        saturated = int(np.count_nonzero(2 * pairs.saturated >= scan.n))
    candidates = [
        _range_warning(signal_range, observation_range, counts_per_bin),
        _saturation_warning(saturated, pixels, code),
    ]
    if value_range is not None:
        candidates.append(
            _outside_warning(accumulator.n_outside, scan.n * pixels, *map(float, value_range))
        )
    warnings = warnings + [w for w in candidates if w]
    for warning in warnings:
        logger.warning("calibration: %s", warning)
    summary = CalibrationSummary(
        frames=scan.n,
        shape=(int(scan.shape[0]), int(scan.shape[1])),
        dtype=scan.dtype,
        signal_range=(float(signal_range[0]), float(signal_range[1])),
        observation_range=(float(observation_range[0]), float(observation_range[1])),
        saturated_pixels=saturated,
        counts_per_bin=[int(c) for c in counts_per_bin],
        warnings=warnings,
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


# ------------------------------------------------------------------------------ public


def iter_calibrate(
    sources: CalibrationSources,
    *,
    bins: int = DEFAULT_BINS,
    value_range: tuple[float, float] | None = None,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    cancel: CancelToken | None = None,
) -> Generator[StageProgress, None, CalibrationResult]:
    """Build a histogram noise model from frames of a static scene, reporting progress.

    The signal is the per-pixel mean of the frames; every (signal, frame pixel) pair
    goes into the histogram. Frames are streamed twice, one at a time (see the module
    docstring); files are never held in memory whole.

    Parameters
    ----------
    sources
        File paths (each a 2-D image or a stack; a folder stands for the images in it,
        in natural order), a ``(frames, Y, X)`` array, or a sequence of 2-D arrays
        (or stacks).
    bins
        Histogram bins over the value range (fewer for integer data with a narrow
        range, so that every bin holds a whole number of grey levels).
    value_range
        ``(min, max)`` of the histogram; by default the range of the signal and the
        frames.
    prior_strength
        Pseudo-counts of the Poisson-Gaussian prior per signal row (see
        :class:`~pn2v_engine.noise_models.HistogramAccumulator`).
    cancel
        Checked before every frame; when set, :class:`~pn2v_engine.progress.Cancelled`
        is raised.

    Yields
    ------
    StageProgress
        ``stage="averaging"`` then ``stage="histogram"``, ``done``/``total`` in frames,
        at least every :data:`PROGRESS_INTERVAL_S` seconds (frame time permitting).
        While averaging files whose frame count cannot be read from the headers,
        ``total`` is 0 until the last report.

    Returns
    -------
    CalibrationResult
        The float32 signal, the noise model and a summary with warnings.

    Raises
    ------
    CalibrationError
        No frames, a single frame, frames of different shapes or NaN/infinite pixels
        (arrays), or the files changed between the two passes.
    InvalidImageError
        A file cannot be read, or files hold frames of different shapes (both shapes
        are named), or NaN/infinite pixels.
    ConfigError
        ``bins < 2`` or an invalid ``value_range``.
    """
    _validate_options(bins, value_range)
    check(cancel)
    source = _frame_source(sources)
    if source.total == 1 and not source.files:
        raise _single_frame()
    scan = yield from _scan(source, cancel, "averaging", moments=True, what="Frame")
    if scan.n == 0 or scan.total is None or scan.squares is None:
        raise _no_frames()
    if scan.n == 1:
        raise _single_frame()
    n = scan.n
    signal64 = scan.total / n
    signal_range = (float(signal64.min()), float(signal64.max()))
    accumulator = _accumulator(
        min(scan.minimum, signal_range[0]),
        max(scan.maximum, signal_range[1]),
        scan.integer,
        bins,
        value_range,
    )
    code = _saturation_code(scan)
    n1 = n // 2
    pairs = yield from _histogram_pass(source, signal64, scan, accumulator, n1, code, cancel)
    assert pairs.first_half is not None

    warnings = [
        _few_frames_warning(n),
        _identical_warning(scan.total, scan.squares, n),
        _motion_warning(_motion_ratio(scan.total, scan.squares, pairs.first_half, n, n1)),
        _drift_warning(_drift(scan.frame_means)),
    ]
    return _finish(
        signal64,
        scan,
        pairs,
        signal_range,
        code,
        [w for w in warnings if w],
        value_range,
        prior_strength,
    )


def _single_frame() -> CalibrationError:
    return CalibrationError(
        "Only a single calibration frame was given, and one frame cannot give a noise "
        "model: the signal is the mean of many frames of a static scene.",
        f"Record 20 or more frames of the same static scene; {IDEAL_FRAMES} is ideal.",
    )


def run_calibrate(
    sources: CalibrationSources,
    *,
    on_progress: Callable[[StageProgress], Any] | None = None,
    **kwargs: Any,
) -> CalibrationResult:
    """Blocking :func:`iter_calibrate`; ``on_progress`` receives each report."""
    return drive(iter_calibrate(sources, **kwargs), on_progress)


def iter_calibrate_pairs(
    signal: np.ndarray,
    observations: np.ndarray | Sequence[np.ndarray],
    *,
    bins: int = DEFAULT_BINS,
    value_range: tuple[float, float] | None = None,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    cancel: CancelToken | None = None,
) -> Generator[StageProgress, None, CalibrationResult]:
    """Build a histogram noise model from one clean image and noisy images of it.

    Parameters
    ----------
    signal
        ``(Y, X)`` clean image (e.g. the average of many frames, or a ground truth).
    observations
        Noisy images of the same scene: a ``(Y, X)`` image, a ``(frames, Y, X)`` stack,
        or a sequence of images or stacks, all of the signal's shape.
    bins, value_range, prior_strength, cancel
        As for :func:`iter_calibrate`.

    Yields
    ------
    StageProgress
        ``stage="checking"`` (range, shapes, pixel values), then ``stage="histogram"``.

    Returns
    -------
    CalibrationResult
        ``signal`` is the given clean image as float32. The summary's checks are the
        range, saturation and (with ``value_range``) out-of-range checks; the motion,
        drift and few-frames checks concern averaged stacks only.

    Raises
    ------
    CalibrationError
        No noisy images, images of another shape than the signal (both shapes are
        named), or NaN/infinite pixels.
    ConfigError
        ``bins < 2`` or an invalid ``value_range``.
    """
    _validate_options(bins, value_range)
    check(cancel)
    clean = np.asarray(signal)
    if clean.ndim == 3 and clean.shape[0] == 1:
        clean = clean[0]
    _check_frame(clean, "The clean image", None)
    if isinstance(observations, np.ndarray):
        arrays = [observations]
    else:
        arrays = [np.asarray(o) for o in observations]
    if not arrays:
        raise CalibrationError(
            "No noisy images were given to pair with the clean image.",
            "Give one or more noisy images of the same scene as the clean image.",
        )
    for array in arrays:
        if array.ndim in (2, 3) and array.shape[-2:] != clean.shape:
            raise CalibrationError(
                f"The clean image has shape {clean.shape} but a noisy image has shape "
                f"{array.shape[-2:]}.",
                "Pair the clean image with noisy images of the same size.",
            )
    source = _FrameSource(lambda: _array_frames(arrays), _count_array_frames(arrays), False)
    scan = yield from _scan(
        source, cancel, "checking", moments=False, what="Noisy image", shape=clean.shape
    )
    if scan.n == 0:
        raise CalibrationError(
            "No noisy images were given to pair with the clean image.",
            "Give one or more noisy images of the same scene as the clean image.",
        )
    signal64 = clean.astype(np.float64)
    signal_range = (float(signal64.min()), float(signal64.max()))
    accumulator = _accumulator(
        min(scan.minimum, signal_range[0]),
        max(scan.maximum, signal_range[1]),
        scan.integer,
        bins,
        value_range,
    )
    code = _saturation_code(scan)
    pairs = yield from _histogram_pass(source, signal64, scan, accumulator, 0, code, cancel)
    return _finish(signal64, scan, pairs, signal_range, code, [], value_range, prior_strength)


def run_calibrate_pairs(
    signal: np.ndarray,
    observations: np.ndarray | Sequence[np.ndarray],
    *,
    on_progress: Callable[[StageProgress], Any] | None = None,
    **kwargs: Any,
) -> CalibrationResult:
    """Blocking :func:`iter_calibrate_pairs`; ``on_progress`` receives each report."""
    return drive(iter_calibrate_pairs(signal, observations, **kwargs), on_progress)
