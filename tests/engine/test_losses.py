"""Tests for pn2v_engine.losses: the PN2V loss (Eq. 7) and the MSE losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pn2v_engine.losses import masked_mse, pn2v_loss, supervised_mse
from pn2v_engine.noise_models import HistogramNoiseModel, PoissonGaussianNoiseModel
from pn2v_engine.noise_models.base import DENSITY_FLOOR


def _gaussian_p(x: np.ndarray, s: np.ndarray, model: PoissonGaussianNoiseModel) -> np.ndarray:
    var = np.maximum(model.gain * s + model.offset_variance, model.min_variance)
    return np.exp(-0.5 * (x - s) ** 2 / var) / np.sqrt(2 * np.pi * var)


def _histogram_p(x: np.ndarray, s: np.ndarray, model: HistogramNoiseModel) -> np.ndarray:
    """p(x|s) by explicit loops in float64: linear interpolation between row centres."""
    d = model.density.numpy().astype(np.float64)
    w, low, n = model.width, model.low, model.bins
    out = np.empty(np.broadcast(x, s).shape)
    xb, sb = np.broadcast_arrays(x, s)
    for idx in np.ndindex(out.shape):
        j = min(max(math.floor((xb[idx] - low) / w), 0), n - 1)
        pos = (sb[idx] - low) / w - 0.5
        i = min(max(math.floor(pos), 0), n - 2)
        f = min(max(pos - i, 0.0), 1.0)
        out[idx] = max((1 - f) * d[i, j] + f * d[i + 1, j], DENSITY_FLOOR)
    return out


def _eq7(p: np.ndarray) -> float:
    """-ln(1/K sum_k p(x_i|s_i^k)) averaged over pixels i, in float64."""
    return float(np.mean(-np.log(p.mean(axis=1))))


@pytest.fixture(scope="module")
def histogram() -> HistogramNoiseModel:
    """A smooth random histogram model over [0, 200) with 40 bins."""
    rng = np.random.default_rng(0)
    centres = 2.5 + 5.0 * np.arange(40)
    var = 30.0 + 0.8 * centres
    density = np.exp(-0.5 * (centres[None, :] - centres[:, None]) ** 2 / var[:, None])
    density *= rng.uniform(0.8, 1.2, density.shape)
    density /= density.sum(1, keepdims=True) * 5.0
    return HistogramNoiseModel(density, 0.0, 200.0)


def test_pn2v_loss_equals_eq7_poisson_gaussian() -> None:
    model = PoissonGaussianNoiseModel(1.5, 20.0, 0.0, 1000.0)
    rng = np.random.default_rng(1)
    s = rng.uniform(100, 300, (50, 16))
    x = rng.uniform(120, 280, 50)
    expected = _eq7(_gaussian_p(x[:, None], s, model))
    got = pn2v_loss(torch.from_numpy(s).float(), torch.from_numpy(x).float(), model)
    assert got.dtype == torch.float32 and got.ndim == 0
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # float64 in gives float64 accuracy
    got64 = pn2v_loss(torch.from_numpy(s), torch.from_numpy(x), model)
    assert float(got64) == pytest.approx(expected, rel=1e-12)


def test_pn2v_loss_equals_eq7_histogram(histogram: HistogramNoiseModel) -> None:
    rng = np.random.default_rng(2)
    s = rng.uniform(-5, 205, (40, 12))  # some beyond the outermost centres
    x = rng.uniform(0, 200, 40)
    expected = _eq7(_histogram_p(x[:, None], s, histogram))
    got = pn2v_loss(torch.from_numpy(s).float(), torch.from_numpy(x).float(), histogram)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_pn2v_loss_gradient_matches_eq8(histogram: HistogramNoiseModel) -> None:
    """d loss / d s_k = -(1/n) p'(x|s_k) / sum_j p(x|s_j) (the paper's Eq. 8)."""
    rng = np.random.default_rng(3)
    s = torch.from_numpy(rng.uniform(20, 180, (10, 8))).requires_grad_(True)
    x = torch.from_numpy(rng.uniform(20, 180, 10))
    (grad,) = torch.autograd.grad(pn2v_loss(s, x, histogram), s)
    p = histogram.likelihood(x[:, None], s.detach())
    h = 1e-6
    slope = (histogram.likelihood(x[:, None], s.detach() + h) - p) / h
    expected = -slope / p.sum(1, keepdim=True) / len(x)
    assert torch.allclose(grad, expected, rtol=1e-4, atol=1e-10)


def _exact_gaussian_loss(x: np.ndarray, s: np.ndarray) -> float:
    """Eq. 7 for N(x; s, 1) in float64 log space."""
    log_p = -0.5 * (math.log(2 * math.pi) + (x[:, None] - s) ** 2)
    return float(-(np.logaddexp.reduce(log_p, axis=1) - math.log(s.shape[1])).mean())


def test_far_samples_stay_finite_poisson_gaussian() -> None:
    """Samples far from x: the product of densities underflows, the loss does not."""
    model = PoissonGaussianNoiseModel(0.0, 1.0, 0.0, 1e4)  # sd 1
    x = torch.tensor([100.0, 5000.0])
    s = torch.tensor([[140.0, 150.0, 160.0], [5100.0, 5200.0, 4000.0]], requires_grad=True)
    # a naive float32 evaluation of the Gaussian underflows to 0 and the log to inf
    var = model.variance(s)
    naive_p = torch.exp(-0.5 * (x[:, None] - s) ** 2 / var) / torch.sqrt(2 * math.pi * var)
    naive = -torch.log(naive_p.mean(1)).mean()
    assert not torch.isfinite(naive)
    loss = pn2v_loss(s, x, model)
    expected = _exact_gaussian_loss(x.numpy().astype(np.float64), s.detach().numpy())
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    (grad,) = torch.autograd.grad(loss, s)
    assert torch.all(torch.isfinite(grad))
    # the nearest sample of each pixel is still pulled towards its observation
    assert float(grad[0, 0]) > 0 and float(grad[1, 0]) > 0


def test_log_space_loss_where_naive_float32_underflows() -> None:
    """Densities of ~1e-33 underflow a float32 product but not the log-space loss."""
    model = PoissonGaussianNoiseModel(0.0, 1.0, 0.0, 1e4)
    x = torch.tensor([0.0])
    s = torch.tensor([[11.0, 11.5, 30.0]], requires_grad=True)  # log p ~ -61, -67, -451
    loss = pn2v_loss(s, x, model)
    expected = _exact_gaussian_loss(np.array([0.0]), s.detach().numpy().astype(np.float64))
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    (grad,) = torch.autograd.grad(loss, s)
    assert torch.all(torch.isfinite(grad))
    # the nearest sample is pulled towards x (positive gradient: decreasing s lowers the loss)
    assert float(grad[0, 0]) > 0
    # the naive product of K=3 such densities in float32 underflows
    p = model.likelihood(x[:, None], s.detach())
    assert float(p.prod()) == 0.0


def test_far_samples_finite_with_nonzero_slope_histogram() -> None:
    """A row where p is tiny but sloped: finite loss, non-zero finite gradient."""
    density = np.full((4, 4), 1e-29)
    density[:, 0] = [1e-29, 4e-29, 1e-28, 1e-27]  # rising with s for x in bin 0
    density[:, 1:] = 0.3
    model = HistogramNoiseModel(density, 0.0, 4.0)
    x = torch.tensor([0.2, 0.7])
    s = torch.tensor([[1.2, 1.7], [2.1, 2.4]], requires_grad=True)
    loss = pn2v_loss(s, x, model)
    assert torch.isfinite(loss)
    expected = _eq7(_histogram_p(x.numpy()[:, None], s.detach().numpy(), model))
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-4)
    (grad,) = torch.autograd.grad(loss, s)
    assert torch.all(torch.isfinite(grad))
    assert torch.all(grad < 0)  # raising s raises p: the loss falls
    # the naive evaluation in float32 agrees here (the floor keeps it finite) ...
    naive = -torch.log(model.likelihood(x[:, None], s.detach()).mean(1)).mean()
    assert float(naive) == pytest.approx(float(loss.detach()), rel=1e-4)


def test_samples_on_a_zero_density_row_give_floor_not_inf() -> None:
    density = np.array([[0.5, 0.5], [1.0, 0.0]])
    model = HistogramNoiseModel(density, 0.0, 2.0)
    s = torch.tensor([[1.5, 1.5]], requires_grad=True)  # the row with p(x=1.5)=0
    loss = pn2v_loss(s, torch.tensor([1.5]), model)
    assert float(loss.detach()) == pytest.approx(-math.log(DENSITY_FLOOR), rel=1e-6)
    (grad,) = torch.autograd.grad(loss, s)
    assert torch.all(torch.isfinite(grad))


def test_pn2v_loss_prefers_samples_near_the_observation() -> None:
    model = PoissonGaussianNoiseModel(0.0, 4.0, 0.0, 100.0)
    x = torch.tensor([50.0])
    near = pn2v_loss(torch.tensor([[49.0, 50.0, 51.0]]), x, model)
    far = pn2v_loss(torch.tensor([[40.0, 45.0, 60.0]]), x, model)
    assert float(near) < float(far)


def test_masked_mse() -> None:
    prediction = torch.tensor([[1.0], [2.0], [4.0]])
    target = torch.tensor([1.0, 0.0, 1.0])
    assert float(masked_mse(prediction, target)) == pytest.approx((0 + 4 + 9) / 3)
    assert float(masked_mse(prediction.view(-1), target.view(3, 1))) == pytest.approx(13 / 3)
    p = prediction.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(masked_mse(p, target), p)
    assert torch.allclose(grad.view(-1), 2 * (prediction.view(-1) - target) / 3)


def test_supervised_mse() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(2, 1, 5, 5, generator=gen)
    b = torch.rand(2, 1, 5, 5, generator=gen)
    assert float(supervised_mse(a, b)) == pytest.approx(float(((a - b) ** 2).mean()))
    assert float(supervised_mse(a, a)) == 0.0
