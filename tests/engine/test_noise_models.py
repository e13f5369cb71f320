"""Tests for pn2v_engine.noise_models: the histogram and Poisson-Gaussian models."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pn2v_engine.demo import Camera, gaussian_blur, make_demo_data
from pn2v_engine.errors import CalibrationError, NoiseModelError
from pn2v_engine.noise_models import (
    HistogramAccumulator,
    HistogramNoiseModel,
    NoiseModel,
    PoissonGaussianNoiseModel,
    estimate_poisson_gaussian,
    histogram_from_pairs,
    histogram_grid,
    load_noise_model,
    noise_model_from_npz_bytes,
)
from pn2v_engine.noise_models.base import DENSITY_FLOOR

CAMERA = Camera(gain=2.0, offset=100.0, read_noise=3.0, bit_depth=16, quantum_efficiency=1.0)


def _true_variance(camera: Camera, s: np.ndarray) -> np.ndarray:
    """var(x | s) of the simulated camera, rounding to integers included."""
    return camera.gain * (s - camera.offset) + camera.gain**2 * camera.read_noise**2 + 1 / 12


def _gauss(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)


def _calibration_pairs(
    rng: np.random.Generator, n: int, s_low: float, s_high: float, camera: Camera = CAMERA
) -> tuple[np.ndarray, np.ndarray]:
    """Clean signals (expected ADU) uniform in [s_low, s_high] and camera readings."""
    signal = rng.uniform(s_low, s_high, n)
    photons = (signal - camera.offset) / (camera.gain * camera.quantum_efficiency)
    return signal.astype(np.float32), camera.expose(photons, rng)


@pytest.fixture(scope="module")
def calibrated() -> tuple[HistogramNoiseModel, np.ndarray, np.ndarray]:
    signal, noisy = _calibration_pairs(np.random.default_rng(0), 3_000_000, 150.0, 1000.0)
    model = histogram_from_pairs([signal], [noisy])
    return model, signal, noisy


@pytest.fixture(scope="module")
def small_model() -> HistogramNoiseModel:
    signal, noisy = _calibration_pairs(np.random.default_rng(1), 200_000, 120.0, 400.0)
    return histogram_from_pairs([signal], [noisy], bins=64)


def _lerp_reference(model: HistogramNoiseModel, x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """p(x|s) by the documented rule, in float64 with plain numpy."""
    d = model.density.numpy().astype(np.float64)
    n, w, low = model.bins, model.width, model.low
    col = np.clip(np.floor((x - low) / w), 0, n - 1).astype(int)
    pos = (s - low) / w - 0.5
    row = np.clip(np.floor(pos), 0, n - 2).astype(int)
    frac = np.clip(pos - row, 0.0, 1.0)
    p = (1 - frac) * d[row, col] + frac * d[row + 1, col]
    return np.maximum(p, DENSITY_FLOOR)


# ------------------------------------------------------------------- histogram basics


def test_histogram_rows_are_densities(
    calibrated: tuple[HistogramNoiseModel, np.ndarray, np.ndarray],
) -> None:
    model = calibrated[0]
    assert model.density.shape == (model.bins, model.bins)
    assert torch.all(model.density >= 0)
    sums = model.density.double().sum(1) * model.width
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-4)
    # p(x|s) integrates to one over x for signals between centres too
    x = torch.from_numpy(model.bin_centres).float()
    for s in (300.3, 512.77, 877.1):
        p = model.likelihood(x, torch.full_like(x, s)).double()
        assert float(p.sum() * model.width) == pytest.approx(1.0, abs=1e-4)


def test_histogram_likelihood_matches_reference_rule(small_model: HistogramNoiseModel) -> None:
    rng = np.random.default_rng(2)
    low, high = small_model.signal_range
    x = rng.uniform(low - 20, high + 20, 5000)
    s = rng.uniform(low - 20, high + 20, 5000)
    got = small_model.likelihood(torch.from_numpy(x), torch.from_numpy(s)).numpy()
    np.testing.assert_allclose(got, _lerp_reference(small_model, x, s), rtol=1e-5)
    log_p = small_model.log_likelihood(torch.from_numpy(x), torch.from_numpy(s))
    np.testing.assert_allclose(np.exp(log_p.numpy()), got, rtol=1e-5)


def test_histogram_likelihood_broadcasts_and_keeps_precision(
    small_model: HistogramNoiseModel,
) -> None:
    rng = np.random.default_rng(8)
    x = torch.from_numpy(rng.uniform(150, 350, 7)).float()
    s = torch.from_numpy(rng.uniform(150, 350, (5, 1))).float()
    full = small_model.likelihood(x.expand(5, 7), s.expand(5, 7))
    assert torch.equal(small_model.likelihood(x, s), full)  # x broadcast over s
    assert torch.equal(small_model.likelihood(x[:, None], s.T), full.T)  # s over x
    assert small_model.likelihood(x, s.double()).dtype == torch.float64
    assert torch.allclose(small_model.likelihood(x, s.double()).float(), full)
    # half-precision samples (mixed precision) are evaluated in float32: the floor
    # is not flushed to zero
    half = small_model.log_likelihood(torch.tensor([1e4]), torch.tensor([200.0]).half())
    assert half.dtype == torch.float32 and torch.isfinite(half).all()


def test_histogram_likelihood_at_bin_centres_is_the_row(small_model: HistogramNoiseModel) -> None:
    centres = torch.from_numpy(small_model.bin_centres)
    for i in (0, 5, 31, small_model.bins - 1):
        p = small_model.likelihood(centres, centres[i].expand_as(centres))
        assert torch.allclose(p.float(), small_model.density[i].clamp_min(DENSITY_FLOOR))


def test_histogram_continuous_and_piecewise_linear_in_s(small_model: HistogramNoiseModel) -> None:
    model = small_model
    w = model.width
    d = model.density.double()
    centres = model.bin_centres
    # fine grid over the whole range, crossing every bin centre
    step = w / 400
    s = torch.arange(model.low - 2 * w, model.high + 2 * w, step, dtype=torch.float64)
    largest_slope = float((d[1:] - d[:-1]).abs().max()) / w
    for x in (centres[10], centres[30], centres[40] + 0.3 * w):
        p = model.likelihood(torch.full_like(s, x), s).double()
        jumps = (p[1:] - p[:-1]).abs()
        # Lipschitz with the steepest row-to-row slope: no jumps anywhere
        assert float(jumps.max()) <= largest_slope * step * 1.01 + 1e-7
        # piecewise linear: zero second difference away from bin centres
        second = (p[2:] - 2 * p[1:-1] + p[:-2]).abs()
        mid = s[1:-1].numpy()
        near_centre = np.min(np.abs(mid[:, None] - centres[None, :]), axis=1) < 1.5 * step
        assert float(second[torch.from_numpy(~near_centre)].max()) < 1e-6 * float(d.max())
    # exactly across one centre: left and right limits agree
    c = centres[20]
    x = torch.tensor(centres[21])
    eps = 1e-7 * w
    left = model.likelihood(x, torch.tensor(c - eps, dtype=torch.float64))
    right = model.likelihood(x, torch.tensor(c + eps, dtype=torch.float64))
    assert float(abs(left - right)) < 1e-6 * float(d.max())


def test_histogram_gradient_wrt_s_is_finite_and_the_slope(small_model: HistogramNoiseModel) -> None:
    model = small_model
    w, centres = model.width, model.bin_centres
    d = model.density.double()
    rng = np.random.default_rng(3)
    i = rng.integers(0, model.bins - 1, 500)
    j = rng.integers(0, model.bins, 500)
    frac = rng.uniform(0.05, 0.95, 500)
    s = torch.tensor(centres[i] + frac * w, requires_grad=True)
    x = torch.tensor(centres[j])
    p = model.likelihood(x, s)
    (grad,) = torch.autograd.grad(p.sum(), s)
    assert torch.all(torch.isfinite(grad))
    expected = (d[i + 1, j] - d[i, j]) / w
    np.testing.assert_allclose(grad.numpy(), expected.numpy(), rtol=1e-4, atol=1e-9)
    assert np.count_nonzero(grad.numpy()) > 100
    # log-likelihood gradient: finite everywhere, also at the range ends
    s = torch.linspace(model.low - 50, model.high + 50, 2001, dtype=torch.float64)
    s.requires_grad_(True)
    (grad,) = torch.autograd.grad(model.log_likelihood(torch.full_like(s, centres[30]), s).sum(), s)
    assert torch.all(torch.isfinite(grad))
    # beyond the outermost centres the outermost rows are used: flat in s
    outside = (s.detach() < centres[0]) | (s.detach() > centres[-1])
    assert torch.all(grad[outside] == 0)


def test_histogram_agrees_with_gaussian_approximation_near_peak(
    calibrated: tuple[HistogramNoiseModel, np.ndarray, np.ndarray],
) -> None:
    model = calibrated[0]
    for s in (250.0, 400.0, 600.0, 850.0):
        var = _true_variance(CAMERA, np.array(s))
        sd = math.sqrt(var)
        x = np.arange(s - 0.75 * sd, s + 0.75 * sd, 1.0)
        measured = model.likelihood(
            torch.from_numpy(x), torch.full((x.size,), s, dtype=torch.float64)
        ).numpy()
        analytic = _gauss(x, s, var)
        # averaged over the peak (a few bins) the counting noise is ~1%; a 20% error
        # in the variance would move this mean by ~7%
        assert measured.mean() == pytest.approx(analytic.mean(), rel=0.04)
        # and point by point, with room for the counting noise of single bins
        np.testing.assert_allclose(measured, analytic, rtol=0.15)
        # the peak sits at the signal
        grid = torch.from_numpy(model.bin_centres)
        p = model.likelihood(grid, torch.full_like(grid, s)).numpy()
        assert abs(model.bin_centres[np.argmax(p)] - s) < 0.5 * sd


def test_histogram_regularising_fit_recovers_camera(
    calibrated: tuple[HistogramNoiseModel, np.ndarray, np.ndarray],
) -> None:
    model = calibrated[0]
    fit = model.metadata["poisson_gaussian_fit"]
    assert fit["gain"] == pytest.approx(CAMERA.gain, rel=0.05)
    b = CAMERA.gain**2 * CAMERA.read_noise**2 - CAMERA.gain * CAMERA.offset
    assert fit["offset_variance"] == pytest.approx(b, rel=0.15)
    assert model.metadata["pixels"] == calibrated[1].size
    assert model.row_counts() is not None and model.row_counts().sum() == calibrated[1].size


# ------------------------------------------------------------------------ grid rules


@pytest.mark.parametrize(
    "vmin, vmax, bins", [(100, 1000, 256), (0, 4095, 256), (88, 337, 256), (7, 20, 256), (3, 4, 8)]
)
def test_integer_grid_holds_whole_integers(vmin: int, vmax: int, bins: int) -> None:
    low, high, n = histogram_grid(vmin, vmax, bins=bins, integer=True)
    width = (high - low) / n
    assert n <= bins
    assert width == round(width) and width >= 1
    assert low % 1 == 0.5 and high % 1 == 0.5
    values = np.arange(vmin, vmax + 1)
    index = np.floor((values - low) / width).astype(int)
    assert index.min() == 0 and index.max() == n - 1
    per_bin = np.bincount(index, minlength=n)
    # every bin holds `width` integers (the last may reach past the data)
    assert np.all(per_bin[:-1] == width)
    assert 1 <= per_bin[-1] <= width


def test_grid_for_float_data() -> None:
    low, high, n = histogram_grid(0.25, 1.75, bins=64)
    assert n == 64 and low == 0.25
    assert high > 1.75 and high - 1.75 < 1e-3
    width = (high - low) / n
    assert math.floor((1.75 - low) / width) == n - 1
    with pytest.raises(CalibrationError):
        histogram_grid(0.0, math.nan)


def test_histogram_from_integer_pairs_uses_integer_grid(small_model: HistogramNoiseModel) -> None:
    assert small_model.low % 1 == 0.5
    assert small_model.width == round(small_model.width)
    rng = np.random.default_rng(4)
    s = rng.uniform(0, 1, 10_000)
    float_model = histogram_from_pairs([s], [s + rng.normal(0, 0.05, s.size)], bins=32)
    assert float_model.bins == 32 and float_model.low % 1 != 0.5


def test_histogram_from_pairs_rejects_bad_input() -> None:
    with pytest.raises(CalibrationError):
        histogram_from_pairs([], [])
    with pytest.raises(CalibrationError):
        histogram_from_pairs([np.zeros((4, 4))], [np.zeros((4, 5))])
    acc = HistogramAccumulator(0.0, 10.0, 10)
    with pytest.raises(CalibrationError):
        acc.build()
    with pytest.raises(CalibrationError):
        acc.add(np.zeros(3), np.zeros(4))


def test_observations_outside_range_are_clamped_and_counted(
    small_model: HistogramNoiseModel,
) -> None:
    model = small_model
    low, high = model.signal_range
    s = torch.full((3,), 250.0, dtype=torch.float64)
    far = model.likelihood(torch.tensor([low - 1e4, low - 1.0, low + 0.1]), s)
    assert torch.all(torch.isfinite(far)) and torch.all(far > 0)
    assert far[0] == far[1] == far[2]
    far = model.likelihood(torch.tensor([high + 1e6, high + 1.0, high - 0.1]), s)
    assert far[0] == far[1] == far[2]
    assert torch.all(torch.isfinite(model.log_likelihood(torch.tensor([-1e9, 1e9]), s[:2])))
    data = np.array([low - 5, low - 0.1, low, 200.0, high, high + 3, high + 100])
    report = model.check_range(data)
    assert (report.n_pixels, report.n_below, report.n_above) == (7, 2, 2)
    assert report.fraction_outside == pytest.approx(4 / 7)
    assert (report.low, report.high) == (low, high)
    assert model.check_range(np.array([])).fraction_outside == 0.0


def test_calibration_observations_outside_value_range_are_counted() -> None:
    rng = np.random.default_rng(5)
    signal, noisy = _calibration_pairs(rng, 20_000, 200.0, 300.0)
    model = histogram_from_pairs([signal], [noisy], value_range=(210.0, 290.0), bins=32)
    expected = int(np.count_nonzero((noisy < model.low) | (noisy >= model.high)))
    assert expected > 0
    assert model.metadata["pixels_outside_range"] == expected


# --------------------------------------------------------------------- prior strength


def _gapped_pairs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(6)
    s1, x1 = _calibration_pairs(rng, 400_000, 150.0, 300.0)
    s2, x2 = _calibration_pairs(rng, 400_000, 600.0, 900.0)
    return np.concatenate([s1, s2]), np.concatenate([x1, x2])


def test_empty_row_falls_back_to_poisson_gaussian_fit() -> None:
    signal, noisy = _gapped_pairs()
    model = histogram_from_pairs([signal], [noisy], bins=128, prior_strength=10.0)
    counts = model.row_counts()
    centres = model.bin_centres
    empty = np.flatnonzero(counts == 0)
    assert empty.size > 10
    i = empty[np.argmin(np.abs(centres[empty] - 450))]
    s = centres[i]
    fit = model.metadata["poisson_gaussian_fit"]
    fit_var = fit["gain"] * s + fit["offset_variance"]
    assert fit_var == pytest.approx(_true_variance(CAMERA, np.array(s)), rel=0.1)
    row = model.density[i].double().numpy()
    assert row.sum() * model.width == pytest.approx(1.0, abs=1e-4)
    # the peak of the row is where the fit says, and it is a Gaussian, not zero
    assert abs(centres[np.argmax(row)] - s) <= model.width
    peak = np.abs(centres - s) < math.sqrt(fit_var)
    np.testing.assert_allclose(row[peak], _gauss(centres[peak], s, fit_var), rtol=0.05)
    x = torch.tensor(s + 3.0)
    assert float(model.likelihood(x, torch.tensor(s))) > 1e-3


def test_prior_keeps_populated_rows() -> None:
    signal, noisy = _gapped_pairs()
    with_prior = histogram_from_pairs([signal], [noisy], bins=128, prior_strength=10.0)
    plain = histogram_from_pairs([signal], [noisy], bins=128, prior_strength=0.0)
    counts = plain.row_counts()
    full = counts > 5000
    assert np.count_nonzero(full) > 20
    diff = (with_prior.density[full] - plain.density[full]).abs().max()
    assert float(diff) < 10 / 5000 * float(plain.density[full].max()) * 2
    # without the prior a populated row is the plain normalised histogram
    i = int(np.flatnonzero(full)[3])
    expected = plain.counts[i] / counts[i] / plain.width
    np.testing.assert_allclose(plain.density[i].numpy(), expected, rtol=1e-6)


def test_without_prior_an_empty_row_is_uniform() -> None:
    signal, noisy = _gapped_pairs()
    model = histogram_from_pairs([signal], [noisy], bins=128, prior_strength=0.0)
    empty = np.flatnonzero(model.row_counts() == 0)
    assert empty.size > 10
    uniform = 1.0 / (model.bins * model.width)
    np.testing.assert_allclose(model.density[empty].numpy(), uniform, rtol=1e-6)
    assert model.metadata["prior_strength"] == 0.0


# ------------------------------------------------------------------ Poisson-Gaussian


def test_poisson_gaussian_likelihood_is_the_gaussian() -> None:
    model = PoissonGaussianNoiseModel(2.0, -150.0, 0.0, 4095.0, min_variance=4.0)
    rng = np.random.default_rng(7)
    s = rng.uniform(100, 4000, 1000)
    x = s + rng.normal(0, 1, 1000) * np.sqrt(np.maximum(2 * s - 150, 4))
    got = model.likelihood(torch.from_numpy(x), torch.from_numpy(s)).numpy()
    np.testing.assert_allclose(got, _gauss(x, s, np.maximum(2 * s - 150, 4.0)), rtol=1e-9)
    # the variance is floored at min_variance (here below s = 77)
    assert float(model.variance(torch.tensor(10.0))) == 4.0
    # far observations: finite, floored log-likelihood
    log_p = model.log_likelihood(torch.tensor([1e6]), torch.tensor([100.0]))
    assert torch.isfinite(log_p).all()
    assert model.to("cpu") is model
    assert "Poisson-Gaussian" in model.describe()


def test_estimate_poisson_gaussian_on_demo_images() -> None:
    data = make_demo_data(seed=0, size=256, n_calibration=1, n_images=4)
    cam = data.camera
    model = estimate_poisson_gaussian(list(data.images))
    b = cam.gain**2 * cam.read_noise**2 - cam.gain * cam.offset
    assert model.gain == pytest.approx(cam.gain, rel=0.1)
    assert model.offset_variance == pytest.approx(b, rel=0.1)
    assert model.signal_range == (float(data.images.min()), float(data.images.max()))
    assert model.metadata["images"] == 4


def test_estimate_poisson_gaussian_on_smooth_blobs() -> None:
    camera = Camera(gain=1.0, offset=0.0, read_noise=10.0, bit_depth=16, quantum_efficiency=1.0)
    rng = np.random.default_rng(0)
    images = []
    for _ in range(3):
        field = gaussian_blur(rng.random((192, 192)), 5, periodic=True)
        field = (field - field.min()) / (field.max() - field.min())
        images.append(camera.expose(20 + 1500 * field**2, rng))
    stack = np.stack(images)
    model = estimate_poisson_gaussian([stack])  # a stack is split into frames
    b = camera.gain**2 * camera.read_noise**2 + 1 / 12
    assert model.gain == pytest.approx(camera.gain, rel=0.1)
    assert model.offset_variance == pytest.approx(b, rel=0.15)
    for s in (100.0, 500.0, 1200.0):
        assert float(model.variance(torch.tensor(s))) == pytest.approx(camera.gain * s + b, rel=0.1)


def test_estimate_poisson_gaussian_with_a_dark_quiet_background() -> None:
    """Like confocal FISH: sparse bright structures on a background with almost no noise.

    The dark levels' measured variance is near zero (quantised values, MAD 0); weighting
    levels by it gave a gain of 0.3 here (true 20) and 2.3 on FMD FISH (true about 21).
    """
    rng = np.random.default_rng(0)
    images = []
    for _ in range(3):
        field = gaussian_blur(rng.random((256, 256)), 8, periodic=True)
        field = (field - field.min()) / (field.max() - field.min())
        s = 101 + 150 * (np.clip(field - 0.5, 0, None) / 0.5) ** 1.5
        variance = np.maximum(20 * (s - 100) - 40, 0.3)
        images.append(np.round(s + np.sqrt(variance) * rng.standard_normal(s.shape)))
    assert np.mean(np.stack(images) <= 102) > 0.6
    model = estimate_poisson_gaussian(images)
    assert model.gain == pytest.approx(20.0, rel=0.3)


def test_estimate_poisson_gaussian_refuses_too_little_data() -> None:
    with pytest.raises(NoiseModelError):
        estimate_poisson_gaussian([])
    with pytest.raises(NoiseModelError):
        estimate_poisson_gaussian([np.random.default_rng(0).normal(100, 3, (20, 20))])
    with pytest.raises(NoiseModelError):  # constant: no unclipped pixels, no levels
        estimate_poisson_gaussian([np.full((64, 64), 7.0)])


# ------------------------------------------------------------------------ persistence


def _probe(model: NoiseModel) -> tuple[torch.Tensor, torch.Tensor]:
    low, high = model.signal_range
    gen = torch.Generator().manual_seed(0)
    x = low + (high - low) * torch.rand(2000, generator=gen)
    s = low + (high - low) * torch.rand(2000, generator=gen)
    return x, s


@pytest.mark.parametrize("kind", ["histogram", "poisson_gaussian"])
def test_save_load_round_trip(kind: str, small_model: HistogramNoiseModel, tmp_path: Path) -> None:
    model: NoiseModel
    if kind == "histogram":
        model = small_model
    else:
        model = PoissonGaussianNoiseModel(1.7, -30.5, 90.0, 3000.0, 2.5, metadata={"note": "x"})
    path = model.save(tmp_path / "model")  # the suffix is added
    assert path.suffix == ".npz" and path.exists()
    loaded = load_noise_model(path)
    assert type(loaded) is type(model)
    assert loaded.kind == kind
    assert loaded.signal_range == model.signal_range
    assert loaded.metadata == model.metadata
    x, s = _probe(model)
    assert torch.equal(loaded.likelihood(x, s), model.likelihood(x, s))
    assert torch.equal(loaded.log_likelihood(x, s), model.log_likelihood(x, s))
    from_bytes = noise_model_from_npz_bytes(model.to_npz_bytes())
    assert torch.equal(from_bytes.likelihood(x, s), model.likelihood(x, s))
    if kind == "histogram":
        assert np.array_equal(loaded.counts, small_model.counts)


def test_load_missing_or_corrupt_file(tmp_path: Path) -> None:
    with pytest.raises(NoiseModelError):
        load_noise_model(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file at all" * 10)
    with pytest.raises(NoiseModelError):
        load_noise_model(bad)
    with pytest.raises(NoiseModelError):
        load_noise_model(tmp_path)  # a folder
    with pytest.raises(NoiseModelError):
        noise_model_from_npz_bytes(b"")


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_load_unknown_kind_or_damaged_contents() -> None:
    with pytest.raises(NoiseModelError, match="unknown kind"):
        noise_model_from_npz_bytes(_npz(kind=np.array("wavelet"), metadata=np.array("{}")))
    with pytest.raises(NoiseModelError):
        noise_model_from_npz_bytes(_npz(density=np.ones((4, 4))))  # no kind at all
    with pytest.raises(NoiseModelError):  # no range
        noise_model_from_npz_bytes(_npz(kind=np.array("histogram"), density=np.ones((4, 4))))
    negative = -np.ones((4, 4))
    with pytest.raises(NoiseModelError):
        noise_model_from_npz_bytes(
            _npz(kind=np.array("histogram"), density=negative, range=np.array([0.0, 4.0]))
        )
    with pytest.raises(NoiseModelError):
        noise_model_from_npz_bytes(
            _npz(
                kind=np.array("histogram"),
                density=np.ones((4, 4)),
                range=np.array([0.0, 4.0]),
                metadata=np.array("{not json"),
            )
        )
    with pytest.raises(NoiseModelError):  # too few parameters
        noise_model_from_npz_bytes(
            _npz(kind=np.array("poisson_gaussian"), parameters=np.array([1.0, 2.0]))
        )
    with pytest.raises(NoiseModelError):  # pickled objects are refused
        noise_model_from_npz_bytes(
            _npz(kind=np.array("histogram"), density=np.array([{"a": 1}], dtype=object))
        )
