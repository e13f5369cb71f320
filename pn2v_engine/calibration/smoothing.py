"""Smoothing a measured histogram with a Gaussian mixture fitted to the same pairs.

A histogram row is only as good as the pixels in it: at the bright end of a calibration
few pixels fall in each signal bin, the rows turn ragged, and PN2V's prior spreads its
samples to fit the noise in them (measured on the FMD Confocal_MICE benchmark: the
prior's spread 1.5x its error above 70 grey levels). A Gaussian mixture whose
parameters are polynomials of the signal (:mod:`pn2v_engine.noise_models.gmm`) is
smooth by construction and fitted in seconds; tabulated on the histogram's own grid it
keeps the histogram's speed in training and prediction. The measured counts stay in the
model, for display and for the calibration checks.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import replace

import numpy as np

from pn2v_engine.errors import NoiseModelError
from pn2v_engine.noise_models.gmm_fit import MAX_PAIRS, iter_fit_gmm
from pn2v_engine.progress import CancelToken, StageProgress

from .results import CalibrationResult
from .sampling import PairSampler

logger = logging.getLogger(__package__)


def new_sampler(signal: np.ndarray, frames: int, seed: int) -> PairSampler:
    """A sampler drawing as many pairs as a mixture fit uses, seeded by ``seed``."""
    return PairSampler(signal, frames, MAX_PAIRS, np.random.default_rng(seed))


def smooth_result(
    result: CalibrationResult, sampler: PairSampler, seed: int, cancel: CancelToken | None
) -> Generator[StageProgress, None, CalibrationResult]:
    """``result`` with its histogram replaced by a mixture fitted to ``sampler``'s pairs.

    The measured histogram moves to ``result.measured``. With too few pairs for a
    mixture the measured histogram stays in use and the summary says so. Yields
    ``smoothing`` progress in fitting steps.
    """
    measured = result.noise_model
    signals, readings = sampler.pairs()
    fit = iter_fit_gmm(
        signals, readings, value_range=measured.signal_range, seed=seed, cancel=cancel
    )
    try:
        while True:
            report = next(fit)
            yield replace(report, stage="smoothing")
    except StopIteration as done:
        mixture = done.value
    except NoiseModelError as error:
        warning = (
            f"The histogram could not be smoothed ({error.message}) and is used as "
            "measured. Record more calibration frames or a larger field."
        )
        logger.warning("calibration: %s", warning)
        summary = replace(result.summary, warnings=[*result.summary.warnings, warning])
        measured.metadata["calibration"] = summary.to_dict()
        return replace(result, summary=summary)
    fit = mixture.metadata["fit"]
    metadata = {
        **measured.metadata,
        "smoothing": {
            "method": "gaussian mixture",
            "components": mixture.n_components,
            "degree": mixture.degree,
            "pairs": int(signals.size),
            "held_out_nll": fit["held_out_nll"][str(fit["best_step"])],
        },
    }
    smoothed = mixture.tabulate(
        measured.low, measured.high, measured.bins, counts=measured.counts, metadata=metadata
    )
    return replace(result, noise_model=smoothed, measured=measured)
