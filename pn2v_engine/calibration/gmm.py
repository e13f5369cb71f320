"""A Gaussian-mixture noise model from a calibration stack instead of a histogram.

The frames are streamed twice, as for :func:`~pn2v_engine.calibration.iter_calibrate`:
the first pass averages them into the signal, the second pairs a random subset of every
frame's pixels with it (a bounded number of pairs in all), and the mixture is fitted to
those pairs with :func:`~pn2v_engine.noise_models.gmm_fit.iter_fit_gmm`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from pn2v_engine.noise_models.gmm import GaussianMixtureNoiseModel
from pn2v_engine.noise_models.gmm_fit import MAX_PAIRS, iter_fit_gmm
from pn2v_engine.progress import CancelToken, StageProgress, drive

from .checks import thin_warning
from .sampling import PairSampler
from .scan import Scan, reread_frames
from .sources import CalibrationSources, FrameSource
from .stack import scan_stack, stack_warnings

log = logging.getLogger(__name__)


def iter_fit_gmm_calibration(
    sources: CalibrationSources,
    *,
    max_pairs: int = MAX_PAIRS,
    value_range: tuple[float, float] | None = None,
    seed: int = 0,
    cancel: CancelToken | None = None,
    **options: Any,
) -> Generator[StageProgress, None, GaussianMixtureNoiseModel]:
    """Fit a Gaussian-mixture noise model to frames of a static scene, reporting progress.

    Parameters
    ----------
    sources
        As for :func:`~pn2v_engine.calibration.iter_calibrate`: file paths (a folder
        stands for its images), a ``(frames, Y, X)`` array, or 2-D arrays or stacks.
    max_pairs
        (signal, reading) pairs drawn at most, spread evenly over the frames.
    value_range
        The model's ``(low, high)``; default: the range of the signal and all readings.
    seed
        Seeds the choice of pixels and the fit.
    cancel
        Checked before every frame and at every fitting step; raises
        :class:`~pn2v_engine.progress.Cancelled`.
    **options
        ``n_components``, ``degree``, ``min_sigma``, ``steps``, ``batch`` and
        ``learning_rate`` of :func:`~pn2v_engine.noise_models.gmm_fit.iter_fit_gmm`.

    Yields
    ------
    StageProgress
        ``averaging`` and ``sampling`` in frames, then ``fitting`` in steps.

    Returns
    -------
    GaussianMixtureNoiseModel
        Its metadata's ``"calibration"`` holds the frames, shape, type, signal and
        reading ranges and the warnings (also logged).

    Raises
    ------
    CalibrationError, InvalidImageError, ConfigError, NoiseModelError
        As :func:`~pn2v_engine.calibration.iter_calibrate` and ``iter_fit_gmm`` do.
    """
    source, scan = yield from scan_stack(sources, cancel)
    assert scan.total is not None
    signal = scan.total / scan.n
    rng = np.random.default_rng(seed)
    s, x, first_half = yield from _sample_pass(source, signal, scan, max_pairs, rng, cancel)
    n = scan.n
    thin = thin_warning(n * signal.size)
    warnings = stack_warnings(scan, first_half) + ([thin] if thin else [])
    for warning in warnings:
        log.warning("calibration: %s", warning)
    signal_range = (float(signal.min()), float(signal.max()))
    summary = {
        "frames": n,
        "shape": [int(v) for v in signal.shape],
        "dtype": scan.dtype,
        "signal_range": list(signal_range),
        "observation_range": [scan.minimum, scan.maximum],
        "warnings": warnings,
    }
    if value_range is None:
        value_range = (min(scan.minimum, signal_range[0]), max(scan.maximum, signal_range[1]))
    return (
        yield from iter_fit_gmm(
            s,
            x,
            value_range=value_range,
            seed=seed,
            cancel=cancel,
            max_pairs=max_pairs,
            metadata={"calibration": summary},
            **options,
        )
    )


def run_fit_gmm_calibration(
    sources: CalibrationSources,
    *,
    on_progress: Callable[[StageProgress], Any] | None = None,
    **kwargs: Any,
) -> GaussianMixtureNoiseModel:
    """Blocking :func:`iter_fit_gmm_calibration`; ``on_progress`` receives each report."""
    return drive(iter_fit_gmm_calibration(sources, **kwargs), on_progress)


def _sample_pass(
    source: FrameSource,
    signal: np.ndarray,
    scan: Scan,
    max_pairs: int,
    rng: np.random.Generator,
    cancel: CancelToken | None,
) -> Generator[StageProgress, None, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Random (signal, reading) pairs from every frame, and the first half's per-pixel sum."""
    n = scan.n
    sampler = PairSampler(signal, n, max_pairs, rng)
    first_half = np.zeros(signal.shape, np.float64)

    def sample(index: int, frame: np.ndarray) -> None:
        if index < n // 2:
            first_half[...] += frame
        sampler.add(frame)

    yield from reread_frames(source, scan, signal.shape, "sampling", sample, cancel)
    return (*sampler.pairs(), first_half)
