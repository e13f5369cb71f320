"""A histogram smoothed where it is thin by a Gaussian mixture fitted to its own pairs.

A histogram row is only as good as the pixels in it: at the bright end of a calibration
few pixels fall in each signal bin, the rows turn ragged, and PN2V's prior spreads its
samples to fit the noise in them (measured on the FMD Confocal_MICE benchmark: the
prior's spread 1.5x its error above 70 grey levels). A Gaussian mixture whose
parameters are polynomials of the signal (:mod:`.gmm`) is smooth by construction, but
it cannot take every shape a detector makes: FMD Confocal_FISH readings pile up on a
no-photon floor whose share the mixture lets die too early in the signal (measured:
0.6 % of the readings at signal 40 against 7.6 %), and PN2V then pulls floor readings
inside structures down to dark speckles. Nor does a mixture know that nothing reads
below the floor: at low signals its Gaussians put an eighth of their mass there, so a
floor reading came out less likely at signal 3 than at 5 (a bootstrapped Confocal_FISH
model), and PN2V read the darkest pixels 1.8 grey levels too bright. Given the readings'
``lowest`` value (:func:`~.floor.lowest_reading`), the mixture's mass below it is moved
onto it, as the detector records it. Bootstrapped models do this (FMD Confocal_FISH:
+0.08 to +0.16 dB at three seeds); calibrated ones do not (it cost them 0.05-0.07 dB on
both FMD confocal types; README, "Benchmarks").

So each row is shrunk towards the mixture by ``alpha`` pseudo-counts,
``p(x|s) = (counts(x, s) + alpha * mixture(x|s)) / (n(s) + alpha)``: rows of many pixels
keep their measured shape, thin rows take the mixture's. ``alpha`` is chosen, from a grid,
by two-fold cross-validation: the held-out log-likelihood of the pairs (a reading's
likelihood is what PN2V's loss and its MMSE weights use). The result is a table on the
histogram's own grid, so training and prediction keep the histogram's speed; the measured
counts stay in the model (:meth:`~.histogram.HistogramNoiseModel.measured`).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from pn2v_engine.progress import CancelToken, StageProgress

from .floor import censor_below
from .gmm_fit import iter_fit_gmm
from .histogram import HistogramNoiseModel

#: Pseudo-counts tried by the cross-validation; ``inf`` is the mixture alone.
PSEUDO_COUNT_GRID: tuple[float, ...] = (
    *(10 ** (k / 2) for k in range(0, 11)),  # 1, 3.2, 10, ..., 100,000
    math.inf,
)
_LOG_FLOOR = 1e-12


def mean_row_count(counts: np.ndarray) -> float:
    """The mean number of pairs in the histogram rows that hold any (0 where none do)."""
    rows = counts.sum(axis=1)
    filled = rows[rows > 0]
    return float(filled.mean()) if filled.size else 0.0


def pseudo_count_grid(counts: np.ndarray, min_pseudo_rows: float = 0.0) -> tuple[float, ...]:
    """The pseudo-counts the cross-validation tries for a histogram of ``counts``.

    ``min_pseudo_rows`` = 0: :data:`PSEUDO_COUNT_GRID`. Otherwise a floor of
    ``min_pseudo_rows`` times :func:`mean_row_count`, 3.16 and 10 times that, and the
    mixture alone: the mixture weighs as much in a row of average population whatever
    the grid's bin width (rows half as wide hold half the pairs).
    """
    floor = min_pseudo_rows * mean_row_count(counts)
    if floor <= 0:
        return PSEUDO_COUNT_GRID
    return (*(floor * 10 ** (k / 2) for k in range(3)), math.inf)


def shrink_rows(counts: np.ndarray, mass: np.ndarray, alpha: float) -> np.ndarray:
    """Rows ``(counts + alpha * mass) / (n + alpha)``: probabilities summing to one.

    ``mass`` holds the mixture's probability of each observation bin per signal row
    (rows summing to one); ``alpha = inf`` returns it unchanged.
    """
    if math.isinf(alpha):
        return mass
    rows = counts.sum(axis=1, keepdims=True)
    return (counts + alpha * mass) / (rows + alpha)


def held_out_nll(
    mass: np.ndarray,
    rows: np.ndarray,
    columns: np.ndarray,
    *,
    seed: int = 0,
    grid: Sequence[float] = PSEUDO_COUNT_GRID,
) -> dict[float, float]:
    """Mean negative log-probability of held-out pairs for each pseudo-count in ``grid``.

    The pairs, given as their signal ``rows`` and observation ``columns`` on ``mass``'s
    grid, are split at random (``seed``) into two halves; each half's histogram, shrunk
    towards ``mass``, scores the other half. The best pseudo-count in count terms does
    not depend on how many pairs there are (it weighs the mixture's misfit against the
    counting noise of one pair), so the choice carries over to all of them.
    """
    bins = mass.shape[0]
    half = np.random.default_rng(seed).permutation(rows.size) % 2
    flat = rows.astype(np.int64) * bins + columns
    halves = [flat[half == h] for h in (0, 1)]
    counts = [np.bincount(h, minlength=bins * bins).reshape(bins, bins) for h in halves]
    scores = {}
    for alpha in grid:
        total = 0.0
        for h in (0, 1):
            table = shrink_rows(counts[1 - h], mass, alpha)
            held_out = table.reshape(-1)[halves[h]]
            total -= float(np.log(np.maximum(held_out, _LOG_FLOOR)).sum())
        scores[float(alpha)] = total / max(rows.size, 1)
    return scores


def iter_smooth_histogram(
    measured: HistogramNoiseModel,
    signals: np.ndarray,
    readings: np.ndarray,
    *,
    cancel: CancelToken | None = None,
    min_pseudo_rows: float = 0.0,
    lowest: float | None = None,
    **fit_options: Any,
) -> Generator[StageProgress, None, HistogramNoiseModel]:
    """``measured`` smoothed where thin by a mixture fitted to ``(signals, readings)``.

    The pairs are those the histogram counted (or a random sample of them); they fit the
    mixture and choose the pseudo-counts (:func:`held_out_nll`) from
    :func:`pseudo_count_grid` (``min_pseudo_rows`` = 0: the whole grid; otherwise from
    that many times a row's mean number of pairs up). ``lowest``: the detector records no
    reading below this (:func:`~.floor.lowest_reading`), so the mixture's mass below its
    bin is moved into it (None: the mixture as fitted). The result keeps
    ``measured``'s counts, metadata and source network and adds ``"smoothing"``. ``fit_options`` are
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
    mass = mixture.bin_masses(measured.low, measured.high, measured.bins)
    if lowest is not None:
        mass = censor_below(mass, int(measured.bin_index(np.array([lowest]))[0]))
    counts = measured.counts
    if counts is None:
        counts = np.zeros(mass.shape, dtype=np.int64)
    scores = held_out_nll(
        mass,
        measured.bin_index(signals),
        measured.bin_index(readings),
        seed=int(fit_options.get("seed", 0)),
        grid=pseudo_count_grid(counts, min_pseudo_rows),
    )
    alpha = min(scores, key=scores.__getitem__)
    fit_scores = mixture.metadata["fit"]
    metadata = {
        **measured.metadata,
        "smoothing": {
            "method": "gaussian mixture",
            "components": mixture.n_components,
            "degree": mixture.degree,
            "pairs": int(np.size(signals)),
            "lowest_reading": lowest,
            "held_out_nll": fit_scores["held_out_nll"][str(fit_scores["best_step"])],
            "pseudo_counts": None if math.isinf(alpha) else alpha,
            "min_pseudo_rows": min_pseudo_rows,
            "pseudo_count_scores": {
                ("inf" if math.isinf(a) else f"{a:g}"): round(v, 6) for a, v in scores.items()
            },
        },
    }
    probability = shrink_rows(counts, mass, alpha)
    smoothed = HistogramNoiseModel(
        probability / measured.width,
        measured.low,
        measured.high,
        counts=measured.counts,
        metadata=metadata,
    )
    smoothed.source_network = measured.source_network
    return smoothed
