"""Smoothing a calibration's histogram (see :mod:`pn2v_engine.noise_models.smoothing`)."""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import replace

import numpy as np

from pn2v_engine.errors import NoiseModelError
from pn2v_engine.noise_models.gmm_fit import MAX_PAIRS
from pn2v_engine.noise_models.smoothing import iter_smooth_histogram
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
    """``result`` with its histogram smoothed by a mixture fitted to ``sampler``'s pairs.

    The measured histogram moves to ``result.measured``. With too few pairs for a
    mixture the measured histogram stays in use and the summary says so.
    """
    measured = result.noise_model
    try:
        smoothed = yield from iter_smooth_histogram(
            measured, *sampler.pairs(), cancel=cancel, seed=seed
        )
    except NoiseModelError as error:
        warning = (
            f"The histogram could not be smoothed ({error.message}) and is used as "
            "measured. Record more calibration frames or a larger field."
        )
        logger.warning("calibration: %s", warning)
        summary = replace(result.summary, warnings=[*result.summary.warnings, warning])
        measured.metadata["calibration"] = summary.to_dict()
        return replace(result, summary=summary)
    return replace(result, noise_model=smoothed, measured=measured)
