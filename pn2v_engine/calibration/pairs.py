"""Calibration from a given clean image and noisy images of the same scene."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np

from pn2v_engine.errors import CalibrationError
from pn2v_engine.noise_models.histogram import DEFAULT_BINS, DEFAULT_PRIOR_STRENGTH
from pn2v_engine.progress import CancelToken, StageProgress, check, drive

from .histogram import histogram_pass, validate_options
from .matching import match_signal, matching_record
from .results import CalibrationResult, build_result
from .scan import check_frame, scan_frames
from .smoothing import new_sampler, smooth_result
from .sources import array_source


def iter_calibrate_pairs(
    signal: np.ndarray,
    observations: np.ndarray | Sequence[np.ndarray],
    *,
    bins: int = DEFAULT_BINS,
    value_range: tuple[float, float] | None = None,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    smooth: bool = True,
    match_intensity: bool = True,
    seed: int = 0,
    cancel: CancelToken | None = None,
) -> Generator[StageProgress, None, CalibrationResult]:
    """Build a histogram noise model from one clean image and noisy images of it.

    ``signal`` is the ``(Y, X)`` clean image (e.g. an average of many frames, or a ground
    truth); ``observations`` a ``(Y, X)`` image, a ``(frames, Y, X)`` stack, or a sequence
    of them, all of the signal's shape. With ``match_intensity`` a clean image that is
    off the noisy images' intensity scale (offset and gain, :mod:`.matching`) is first
    mapped onto it, with a warning; the fitted line is in the summary either way. The
    other options are as for :func:`~pn2v_engine.calibration.iter_calibrate`.

    Yields ``checking`` then ``histogram`` progress, then ``smoothing``. Only the range,
    saturation and out-of-range checks apply: the others concern averaged stacks. Raises
    :class:`CalibrationError` (no noisy images, shapes that differ from the signal's,
    NaN/infinite pixels) or :class:`~pn2v_engine.errors.ConfigError` (bad options).
    """
    validate_options(bins, value_range)
    check(cancel)
    clean = np.asarray(signal)
    if clean.ndim == 3 and clean.shape[0] == 1:
        clean = clean[0]
    check_frame(clean, "The clean image", None)
    if isinstance(observations, np.ndarray):
        arrays = [observations]
    else:
        arrays = [np.asarray(o) for o in observations]
    if not arrays:
        raise _no_observations()
    for array in arrays:
        if array.ndim in (2, 3) and array.shape[-2:] != clean.shape:
            raise CalibrationError(
                f"The clean image has shape {clean.shape} but a noisy image has shape "
                f"{array.shape[-2:]}.",
                "Pair the clean image with noisy images of the same size.",
            )
    source = array_source(arrays)
    scan = yield from scan_frames(
        source, cancel, "checking", moments=match_intensity, what="Noisy image", shape=clean.shape
    )
    if scan.n == 0:
        raise _no_observations()
    signal64 = clean.astype(np.float64)
    warnings: list[str] = []
    line_summary = None
    if match_intensity:
        assert scan.total is not None and scan.squares is not None
        signal64, line, mapped = match_signal(
            signal64, scan.total, scan.squares, scan.n, scan.maximum
        )
        scan.total = scan.squares = None
        line_summary, warnings = matching_record(line, mapped)
    sampler = new_sampler(signal64, scan.n, seed) if smooth else None
    pairs = yield from histogram_pass(
        source,
        signal64,
        scan,
        bins,
        value_range,
        first_half_frames=0,
        cancel=cancel,
        sampler=sampler,
    )
    result = build_result(
        signal64, scan, pairs, warnings, value_range, prior_strength, line_summary
    )
    if sampler is None:
        return result
    return (yield from smooth_result(result, sampler, seed, cancel))


def run_calibrate_pairs(
    signal: np.ndarray,
    observations: np.ndarray | Sequence[np.ndarray],
    *,
    on_progress: Callable[[StageProgress], Any] | None = None,
    **kwargs: Any,
) -> CalibrationResult:
    """Blocking :func:`iter_calibrate_pairs`; ``on_progress`` receives each report."""
    return drive(iter_calibrate_pairs(signal, observations, **kwargs), on_progress)


def _no_observations() -> CalibrationError:
    return CalibrationError(
        "No noisy images were given to pair with the clean image.",
        "Give one or more noisy images of the same scene as the clean image.",
    )
