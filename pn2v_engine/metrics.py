"""Image-quality metrics for scoring denoised images against a ground truth.

Two PSNR flavours are provided, matching the two kinds of rows in the PN2V paper
(Krull et al. 2020):

* :func:`psnr` -- the plain peak signal-to-noise ratio with a fixed data range
  (the paper uses 255 on its 8-bit data).
* :func:`scale_invariant_psnr` -- the scale- and shift-invariant PSNR of
  Weigert et al. 2018 (CARE), used for the paper's asterisked rows, which does not
  penalise a prediction for a global gain or offset.

:func:`mean_and_sem` summarises a metric over several images.

All computations are done in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "CARE_PERCENTILE_HIGH",
    "CARE_PERCENTILE_LOW",
    "mean_and_sem",
    "normalize_percentile",
    "psnr",
    "scale_invariant_psnr",
]

#: Percentiles that map the ground truth to 0..1 in :func:`scale_invariant_psnr`.
CARE_PERCENTILE_LOW = 0.1
CARE_PERCENTILE_HIGH = 99.9


def _check_shapes(ground_truth: np.ndarray, prediction: np.ndarray) -> None:
    if ground_truth.shape != prediction.shape:
        raise ValueError(
            f"ground truth and prediction differ in shape: {ground_truth.shape} "
            f"vs {prediction.shape}"
        )
    if ground_truth.size == 0:
        raise ValueError("cannot compute a PSNR of empty images")


def psnr(
    ground_truth: np.ndarray, prediction: np.ndarray, data_range: float | None = None
) -> float:
    """Peak signal-to-noise ratio of ``prediction`` against ``ground_truth``, in dB.

    ``PSNR = 10 log10(data_range**2 / MSE)``, computed in float64.

    Parameters
    ----------
    ground_truth
        The noise-free reference image (any shape).
    prediction
        The image to score; must have the same shape as ``ground_truth``.
    data_range
        The peak-to-peak range of the signal. Default: 255 if ``ground_truth`` is
        uint8 (as in the PN2V paper), else ``ground_truth.max() - ground_truth.min()``.

    Returns
    -------
    float
        PSNR in dB; ``inf`` if the images are identical.

    Raises
    ------
    ValueError
        If the shapes differ, the images are empty, or the data range is not positive
        (e.g. a constant ground truth without an explicit ``data_range``).
    """
    gt = np.asarray(ground_truth)
    pred = np.asarray(prediction)
    _check_shapes(gt, pred)
    if data_range is None:
        if gt.dtype == np.uint8:
            data_range = 255.0
        else:
            gt64 = gt.astype(np.float64, copy=False)
            data_range = float(gt64.max() - gt64.min())
    data_range = float(data_range)
    if not data_range > 0:
        raise ValueError(
            f"data range must be positive, got {data_range} (is the ground truth constant?)"
        )
    diff = gt.astype(np.float64) - pred.astype(np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def normalize_percentile(
    image: np.ndarray,
    low: float = CARE_PERCENTILE_LOW,
    high: float = CARE_PERCENTILE_HIGH,
) -> np.ndarray:
    """Map the ``low`` and ``high`` percentiles of ``image`` to 0 and 1 (float64, unclipped).

    Raises
    ------
    ValueError
        If the two percentiles are equal (a (nearly) constant image).
    """
    x = np.asarray(image, dtype=np.float64)
    p_low, p_high = np.percentile(x, [low, high])
    if not p_high > p_low:
        raise ValueError(
            f"cannot normalise an image whose {low} and {high} percentiles are equal "
            f"({p_low}); is it constant?"
        )
    return (x - p_low) / (p_high - p_low)


def _affine_fit(source: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Return ``(a, b)`` minimising ``mean((a * source + b - target)**2)`` (float64)."""
    s = source.ravel()
    t = target.ravel()
    s_mean = s.mean()
    t_mean = t.mean()
    sc = s - s_mean
    var = float(np.dot(sc, sc))
    a = float(np.dot(sc, t - t_mean)) / var if var > 0 else 0.0
    b = float(t_mean - a * s_mean)
    return a, b


def scale_invariant_psnr(ground_truth: np.ndarray, prediction: np.ndarray) -> float:
    """Scale- and shift-invariant PSNR (Weigert et al. 2018, CARE), in dB.

    This is the metric of the PN2V paper's asterisked rows. Exactly what is computed,
    all in float64:

    1. The ground truth is percentile-normalised,
       ``gt_n = (gt - p0.1) / (p99.9 - p0.1)``, where ``p0.1`` and ``p99.9`` are its
       0.1st and 99.9th percentiles (``np.percentile``, linear interpolation); values
       are not clipped (as CSBDeep's ``normalize(..., clip=False)``).
    2. The prediction is replaced by the affine transform ``a * prediction + b`` whose
       ``a`` and ``b`` minimise the mean squared error to ``gt_n`` (ordinary least
       squares over all pixels, as CSBDeep's ``normalize_minmse``; ``a = 0`` for a
       constant prediction).
    3. The result is ``psnr(gt_n, a * prediction + b, data_range=gt_n.max() - gt_n.min())``.

    The value is therefore unchanged if the prediction is multiplied by a non-zero
    constant or shifted by a constant, and depends on the ground truth only through
    its shape up to a global gain and offset.

    Parameters
    ----------
    ground_truth
        The noise-free reference image.
    prediction
        The image to score, same shape as ``ground_truth``.

    Returns
    -------
    float
        The scale-invariant PSNR in dB (``inf`` for a perfect affine match).

    Raises
    ------
    ValueError
        If the shapes differ, the images are empty, or the ground truth is constant.
    """
    gt = np.asarray(ground_truth)
    pred = np.asarray(prediction)
    _check_shapes(gt, pred)
    gt_n = normalize_percentile(gt)
    pred64 = pred.astype(np.float64)
    a, b = _affine_fit(pred64, gt_n)
    fitted = a * pred64 + b
    return psnr(gt_n, fitted, data_range=float(gt_n.max() - gt_n.min()))


def mean_and_sem(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (``std(ddof=1) / sqrt(n)``) of ``values``.

    The SEM of a single value is 0.

    Raises
    ------
    ValueError
        If ``values`` is empty.
    """
    x = np.asarray(list(values), dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("cannot compute the mean of no values")
    mean = float(x.mean())
    if x.size == 1:
        return mean, 0.0
    sem = float(x.std(ddof=1) / math.sqrt(x.size))
    return mean, sem
