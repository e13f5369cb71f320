"""Calibration from frames of a static scene: the signal is their per-pixel mean."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from pn2v_engine.errors import CalibrationError
from pn2v_engine.noise_models.histogram import DEFAULT_BINS, DEFAULT_PRIOR_STRENGTH
from pn2v_engine.progress import CancelToken, StageProgress, check, drive

from .checks import (
    IDEAL_FRAMES,
    brightness_drift,
    drift_warning,
    few_frames_warning,
    identical_warning,
    motion_ratio,
    motion_warning,
)
from .histogram import histogram_pass, validate_options
from .results import CalibrationResult, build_result
from .scan import Scan, scan_frames
from .smoothing import new_sampler, smooth_result
from .sources import CalibrationSources, FrameSource, frame_source, no_frames_error


def iter_calibrate(
    sources: CalibrationSources,
    *,
    bins: int = DEFAULT_BINS,
    value_range: tuple[float, float] | None = None,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    smooth: bool = True,
    seed: int = 0,
    cancel: CancelToken | None = None,
) -> Generator[StageProgress, None, CalibrationResult]:
    """Build a histogram noise model from frames of a static scene, reporting progress.

    ``sources`` are file paths (a folder stands for its images, in natural order), a
    ``(frames, Y, X)`` array, or 2-D arrays or stacks; files are read twice, never held
    whole. ``value_range`` defaults to the data's range; integer data with a narrow range
    get fewer than ``bins`` bins. ``prior_strength`` is the prior's pseudo-counts per
    signal row. ``smooth`` replaces the measured histogram by a Gaussian mixture fitted to
    a sample of the same pairs (seeded by ``seed``), tabulated on the same grid
    (:mod:`.smoothing`). ``cancel`` is checked before every frame.

    Yields ``averaging`` then ``histogram`` progress in frames (``total`` is 0 while the
    files' frame count is unknown), then ``smoothing`` in fitting steps. Raises
    :class:`CalibrationError` (no or one frame, mismatched shapes, NaN/infinite pixels,
    files changed between the passes),
    :class:`~pn2v_engine.errors.InvalidImageError` (unreadable files, files of different
    shapes) or :class:`~pn2v_engine.errors.ConfigError` (``bins < 2``, bad ``value_range``).
    """
    validate_options(bins, value_range)
    source, scan = yield from scan_stack(sources, cancel)
    signal64 = scan.total / scan.n
    sampler = new_sampler(signal64, scan.n, seed) if smooth else None
    pairs = yield from histogram_pass(
        source,
        signal64,
        scan,
        bins,
        value_range,
        first_half_frames=scan.n // 2,
        cancel=cancel,
        sampler=sampler,
    )
    assert pairs.first_half is not None
    warnings = stack_warnings(scan, pairs.first_half)
    result = build_result(signal64, scan, pairs, warnings, value_range, prior_strength)
    if sampler is None:
        return result
    return (yield from smooth_result(result, sampler, seed, cancel))


def scan_stack(
    sources: CalibrationSources, cancel: CancelToken | None
) -> Generator[StageProgress, None, tuple[FrameSource, Scan]]:
    """The first pass over a calibration stack: frame count, per-pixel sums and squares.

    Raises :class:`CalibrationError` for no frames or a single one.
    """
    check(cancel)
    source = frame_source(sources)
    if source.total == 1 and not source.files:
        raise _single_frame()
    scan = yield from scan_frames(source, cancel, "averaging", moments=True, what="Frame")
    if scan.n == 0 or scan.total is None or scan.squares is None:
        raise no_frames_error()
    if scan.n == 1:
        raise _single_frame()
    return source, scan


def stack_warnings(scan: Scan, first_half: np.ndarray) -> list[str]:
    """What is wrong with a stack: few or identical frames, a moving scene, drift.

    ``first_half`` is the per-pixel sum of the first ``scan.n // 2`` frames.
    """
    assert scan.total is not None and scan.squares is not None
    n = scan.n
    warnings = [
        few_frames_warning(n),
        identical_warning(scan.total, scan.squares, n),
        motion_warning(motion_ratio(scan.total, scan.squares, first_half, n, n // 2)),
        drift_warning(brightness_drift(scan.frame_means)),
    ]
    return [w for w in warnings if w]


def run_calibrate(
    sources: CalibrationSources,
    *,
    on_progress: Callable[[StageProgress], Any] | None = None,
    **kwargs: Any,
) -> CalibrationResult:
    """Blocking :func:`iter_calibrate`; ``on_progress`` receives each report."""
    return drive(iter_calibrate(sources, **kwargs), on_progress)


def _single_frame() -> CalibrationError:
    return CalibrationError(
        "Only a single calibration frame was given, and one frame cannot give a noise "
        "model: the signal is the mean of many frames of a static scene.",
        f"Record 20 or more frames of the same static scene; {IDEAL_FRAMES} is ideal.",
    )
