"""A histogram smoothed by a Gaussian mixture fitted to the pairs it was built from.

A histogram row is only as good as the pixels in it: at the bright end of a calibration
few pixels fall in each signal bin, the rows turn ragged, and PN2V's prior spreads its
samples to fit the noise in them (measured on the FMD Confocal_MICE benchmark: the
prior's spread 1.5x its error above 70 grey levels). A Gaussian mixture whose
parameters are polynomials of the signal (:mod:`.gmm`) is smooth by construction and
fitted in seconds; tabulated on the histogram's own grid it keeps the histogram's speed
in training and prediction. The measured counts stay in the model
(:meth:`~.histogram.HistogramNoiseModel.measured`).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from typing import Any

import numpy as np

from pn2v_engine.progress import CancelToken, StageProgress

from .gmm_fit import iter_fit_gmm
from .histogram import HistogramNoiseModel


def iter_smooth_histogram(
    measured: HistogramNoiseModel,
    signals: np.ndarray,
    readings: np.ndarray,
    *,
    cancel: CancelToken | None = None,
    **fit_options: Any,
) -> Generator[StageProgress, None, HistogramNoiseModel]:
    """``measured`` replaced by a mixture fitted to ``(signals, readings)``, on its grid.

    The pairs are those the histogram counted (or a random sample of them). The result
    keeps ``measured``'s counts and metadata and adds ``"smoothing"``. ``fit_options`` are
    those of :func:`~.gmm_fit.iter_fit_gmm` (``seed``, ``n_components``, ...). Yields
    ``smoothing`` progress in fitting steps; raises what
    :func:`~.gmm_fit.iter_fit_gmm` raises (too few pairs, cancelled).
    """
    fit = iter_fit_gmm(
        signals,
        readings,
        value_range=measured.signal_range,
        cancel=cancel,
        **fit_options,
    )
    try:
        while True:
            yield replace(next(fit), stage="smoothing")
    except StopIteration as done:
        mixture = done.value
    scores = mixture.metadata["fit"]
    metadata = {
        **measured.metadata,
        "smoothing": {
            "method": "gaussian mixture",
            "components": mixture.n_components,
            "degree": mixture.degree,
            "pairs": int(np.size(signals)),
            "held_out_nll": scores["held_out_nll"][str(scores["best_step"])],
        },
    }
    return mixture.tabulate(
        measured.low, measured.high, measured.bins, counts=measured.counts, metadata=metadata
    )
