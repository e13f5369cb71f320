"""Tests for pn2v_engine.metrics."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pn2v_engine.metrics import mean_and_sem, psnr, scale_invariant_psnr


def _smooth_image(rng: np.random.Generator, shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    y, x = np.mgrid[: shape[0], : shape[1]]
    img = 50.0 + 40.0 * np.sin(x / 7.0) * np.cos(y / 5.0) + 10.0 * rng.random(shape)
    return img.astype(np.float32)


# --------------------------------------------------------------------------- psnr


def test_psnr_known_value() -> None:
    gt = np.zeros((10, 10))
    gt[0, 0] = 10.0  # range 10
    pred = gt + 1.0  # MSE 1
    assert psnr(gt, pred) == pytest.approx(20.0)
    assert psnr(gt, pred, data_range=100.0) == pytest.approx(40.0)


def test_psnr_uint8_defaults_to_255() -> None:
    gt = np.full((8, 8), 100, dtype=np.uint8)
    gt[0, 0] = 110  # range 10, but the default for uint8 is 255
    pred = gt.astype(np.float64) + 2.0  # MSE 4
    assert psnr(gt, pred) == pytest.approx(10 * math.log10(255.0**2 / 4.0))


def test_psnr_uint8_no_wraparound() -> None:
    gt = np.array([[0, 255]], dtype=np.uint8)
    pred = np.array([[255, 0]], dtype=np.uint8)  # differences must not wrap in uint8
    assert psnr(gt, pred) == pytest.approx(0.0)


def test_psnr_identical_is_inf() -> None:
    gt = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert psnr(gt, gt.copy()) == math.inf


def test_psnr_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(4, 5\)"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))


def test_psnr_constant_ground_truth_needs_range() -> None:
    gt = np.ones((4, 4))
    with pytest.raises(ValueError, match="data range"):
        psnr(gt, gt + 1)
    assert psnr(gt, gt + 1, data_range=1.0) == pytest.approx(0.0)


# ------------------------------------------------------------ scale_invariant_psnr


def test_scale_invariant_psnr_invariant_to_affine_prediction() -> None:
    rng = np.random.default_rng(1)
    gt = _smooth_image(rng)
    pred = gt + rng.normal(0, 5, gt.shape)
    ref = scale_invariant_psnr(gt, pred)
    assert scale_invariant_psnr(gt, pred * 3 + 7) == pytest.approx(ref, abs=1e-9)
    assert scale_invariant_psnr(gt, pred * -0.5 - 2) == pytest.approx(ref, abs=1e-9)
    # and to a gain/offset of the ground truth
    assert scale_invariant_psnr(gt * 2.0 + 100.0, pred) == pytest.approx(ref, abs=1e-6)


def test_scale_invariant_psnr_equals_psnr_after_explicit_fit() -> None:
    rng = np.random.default_rng(2)
    gt = _smooth_image(rng).astype(np.float64)
    pred = 0.3 * gt + 12 + rng.normal(0, 2, gt.shape)
    lo, hi = np.percentile(gt, [0.1, 99.9])
    gt_n = (gt - lo) / (hi - lo)
    a, b = np.polyfit(pred.ravel(), gt_n.ravel(), 1)
    expected = psnr(gt_n, a * pred + b)  # default range = range of gt_n
    assert scale_invariant_psnr(gt, pred) == pytest.approx(expected, abs=1e-6)


def test_scale_invariant_psnr_increases_as_noise_decreases() -> None:
    rng = np.random.default_rng(3)
    gt = _smooth_image(rng)
    noise = rng.normal(0, 1, gt.shape)
    values = [scale_invariant_psnr(gt, gt + s * noise) for s in (20.0, 5.0, 1.0, 0.1)]
    assert all(b > a for a, b in itertools.pairwise(values))


def test_scale_invariant_psnr_perfect_affine_match() -> None:
    gt = _smooth_image(np.random.default_rng(4))
    assert scale_invariant_psnr(gt, 2 * gt.astype(np.float64) - 5) > 100


def test_scale_invariant_psnr_constant_prediction() -> None:
    gt = _smooth_image(np.random.default_rng(5))
    value = scale_invariant_psnr(gt, np.zeros_like(gt))
    assert np.isfinite(value)


def test_scale_invariant_psnr_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"\(8, 8\).*\(8, 9\)"):
        scale_invariant_psnr(np.zeros((8, 8)), np.zeros((8, 9)))


def test_scale_invariant_psnr_constant_ground_truth() -> None:
    with pytest.raises(ValueError, match="constant"):
        scale_invariant_psnr(np.ones((8, 8)), np.random.default_rng(0).random((8, 8)))


# ------------------------------------------------------------------- mean_and_sem


def test_mean_and_sem() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    mean, sem = mean_and_sem(values)
    assert mean == pytest.approx(2.5)
    assert sem == pytest.approx(np.std(values, ddof=1) / 2.0)


def test_mean_and_sem_single_value() -> None:
    assert mean_and_sem([27.5]) == (27.5, 0.0)


def test_mean_and_sem_empty() -> None:
    with pytest.raises(ValueError):
        mean_and_sem([])
