"""Tests for pn2v_engine.prediction: MMSE (Eq. 11), tiling, stacks, progress, cancel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pn2v_engine.config import ORIENTATIONS, Settings
from pn2v_engine.data import Normalisation
from pn2v_engine.errors import InvalidImageError
from pn2v_engine.noise_models import (
    HistogramNoiseModel,
    NoiseModel,
    PoissonGaussianNoiseModel,
    histogram_from_pairs,
)
from pn2v_engine.prediction import Denoiser, Prediction, iter_predict, run_predict
from pn2v_engine.progress import Cancelled, CancelToken, PredictProgress
from pn2v_engine.training import build_network

NORMALISATION = Normalisation(mean=500.0, std=100.0)
PG = PoissonGaussianNoiseModel(gain=1.0, offset_variance=50.0, low=0.0, high=2000.0)


#: The U-Net without its first level's skip connection (as N2V2).
NO_TOP_SKIP = {"network.top_skip": False}


def _settings(
    mode: str = "pn2v",
    depth: int = 2,
    k: int = 32,
    tile: int = 256,
    blind_spot: str = "masking",
    architecture: dict | None = None,
) -> Settings:
    return Settings(mode=mode).with_changes(
        **(architecture or {}),
        **{
            "network.blind_spot": blind_spot,
            "network.depth": depth,
            "network.features": 8,
            "network.n_samples": k,
            "prediction.tile_size": tile,
            "prediction.pixel_chunk": 256,
        },
    )


def _weights(settings: Settings, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights whose K samples spread over ~tens of camera units."""
    torch.manual_seed(seed)
    network = build_network(settings)
    with torch.no_grad():
        network.head.weight.mul_(3.0)
        network.head.bias.copy_(torch.linspace(-0.5, 0.5, settings.network.n_samples))
    return network.state_dict()


def _denoiser(
    noise_model: NoiseModel | None = PG,
    mode: str = "pn2v",
    depth: int = 2,
    k: int = 32,
    blind_spot: str = "masking",
    architecture: dict | None = None,
) -> Denoiser:
    settings = _settings(mode, depth, k, blind_spot=blind_spot, architecture=architecture)
    return Denoiser(settings, _weights(settings), NORMALISATION, noise_model, device="cpu")


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Noisy-looking float32 data around the normalisation mean."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    clean = 500 + 150 * np.sin(yy / 7.0) * np.cos(xx / 5.0)
    return (clean + rng.normal(0, 25, clean.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def histogram() -> HistogramNoiseModel:
    rng = np.random.default_rng(1)
    signal = rng.uniform(150, 900, 400_000)
    noisy = np.round(signal + rng.normal(0, 1, signal.size) * np.sqrt(signal + 50))
    return histogram_from_pairs([signal], [noisy.astype(np.uint16)], bins=128)


def _full_samples(denoiser: Denoiser, image: np.ndarray) -> np.ndarray:
    """All K samples of every pixel, (K, Y, X) float64 camera units, from forward()."""
    m = denoiser.network.size_multiple
    height, width = image.shape
    pad = ((0, -height % m), (0, -width % m))
    mode = "reflect" if pad[0][1] < height and pad[1][1] < width else "edge"
    padded = np.pad(image.astype(np.float32), pad, mode=mode)
    with torch.no_grad():
        net_in = NORMALISATION.apply(torch.from_numpy(padded))[None, None]
        out = denoiser.network(net_in)[0, :, :height, :width]
    return NORMALISATION.invert(out.double()).numpy()


def _likelihood64(noise_model: NoiseModel, x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """p(x|s) in float64 by an independent implementation of each model."""
    if isinstance(noise_model, PoissonGaussianNoiseModel):
        var = np.maximum(
            noise_model.gain * s + noise_model.offset_variance, noise_model.min_variance
        )
        return np.exp(-0.5 * (x - s) ** 2 / var) / np.sqrt(2 * np.pi * var)
    assert isinstance(noise_model, HistogramNoiseModel)
    d = noise_model.density.numpy().astype(np.float64)
    n, w, low = noise_model.bins, noise_model.width, noise_model.low
    col = np.clip(np.floor((x - low) / w), 0, n - 1).astype(int)
    pos = (s - low) / w - 0.5
    row = np.clip(np.floor(pos), 0, n - 2).astype(int)
    frac = np.clip(pos - row, 0, 1)
    return np.maximum((1 - frac) * d[row, col] + frac * d[row + 1, col], 1e-30)


def _brute_force(
    denoiser: Denoiser, image: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eq. 11 pixel by pixel: MMSE, prior mean and posterior std, float64."""
    samples = _full_samples(denoiser, image)
    _, height, width = samples.shape
    mmse, prior, std = (np.empty((height, width)) for _ in range(3))
    for y in range(height):
        s = samples[:, y, :]  # (K, X)
        p = _likelihood64(denoiser.noise_model, image[y].astype(np.float64)[None, :], s)
        mmse[y] = (p * s).sum(0) / p.sum(0)
        prior[y] = s.mean(0)
        std[y] = np.sqrt((p * (s - mmse[y]) ** 2).sum(0) / p.sum(0))
    return mmse, prior, std


# --------------------------------------------------------------------------- Eq. 11


@pytest.mark.parametrize("model", ["poisson_gaussian", "histogram"])
def test_mmse_equals_brute_force_eq11(model: str, histogram: HistogramNoiseModel) -> None:
    noise_model = PG if model == "poisson_gaussian" else histogram
    denoiser = _denoiser(noise_model)
    image = _image(37, 45)
    result = run_predict(denoiser, image, prior_mean=True, uncertainty=True)
    mmse, prior, std = _brute_force(denoiser, image)
    assert result.mmse.shape == image.shape and result.mmse.dtype == np.float32
    np.testing.assert_allclose(result.mmse, mmse, atol=1e-2, rtol=0)
    np.testing.assert_allclose(result.prior_mean, prior, atol=1e-2, rtol=0)
    np.testing.assert_allclose(result.posterior_std, std, atol=1e-2, rtol=1e-4)
    # the test is not vacuous: the weighting moves the estimate and the samples spread
    assert np.abs(mmse - prior).mean() > 1.0
    assert std.mean() > 1.0
    # the posterior is narrower than the prior (the observation is informative)
    prior_std = _full_samples(denoiser, image).std(0)
    assert np.mean(std) < np.mean(prior_std)


def test_only_requested_outputs() -> None:
    denoiser = _denoiser()
    image = _image(20, 24)
    plain = run_predict(denoiser, image)
    assert plain.prior_mean is None and plain.posterior_std is None
    both = run_predict(denoiser, image, prior_mean=True, uncertainty=True)
    np.testing.assert_array_equal(plain.mmse, both.mmse)
    assert np.all(np.isfinite(both.posterior_std)) and np.all(both.posterior_std >= 0)


def test_n2v_mode_returns_the_network_output() -> None:
    denoiser = _denoiser(None, mode="n2v", k=1)
    assert not denoiser.probabilistic
    image = _image(33, 29)
    result = run_predict(denoiser, image, prior_mean=True, uncertainty=True)
    expected = _full_samples(denoiser, image)[0]
    np.testing.assert_allclose(result.mmse, expected, atol=1e-3)
    np.testing.assert_array_equal(result.prior_mean, result.mmse)
    assert result.posterior_std is None


def test_pn2v_denoiser_needs_noise_model() -> None:
    settings = _settings()
    with pytest.raises(ValueError):
        Denoiser(settings, _weights(settings), NORMALISATION, None, device="cpu")


# --------------------------------------------------------------------------- tiling


@pytest.mark.parametrize(
    "shape, depth, blind_spot, architecture",
    [
        ((77, 53), 2, "masking", None),
        ((130, 101), 2, "masking", None),
        ((77, 53), 3, "masking", None),
        ((64, 96), 3, "masking", None),
        ((77, 53), 2, "network", None),
        ((150, 131), 3, "network", None),
        ((77, 53), 2, "masking", NO_TOP_SKIP),
        ((130, 101), 3, "masking", NO_TOP_SKIP),
    ],
)
def test_tiled_equals_untiled(
    shape: tuple[int, int], depth: int, blind_spot: str, architecture: dict | None
) -> None:
    denoiser = _denoiser(depth=depth, blind_spot=blind_spot, architecture=architecture)
    image = _image(*shape, seed=2)
    whole = run_predict(denoiser, image, tile_size=1024, prior_mean=True, uncertainty=True)
    tiles = []
    tiled = run_predict(
        denoiser, image, tile_size=32, prior_mean=True, uncertainty=True, on_progress=tiles.append
    )
    assert tiles[-1].tiles > 4  # really cut into tiles
    scale = NORMALISATION.std
    for name in ("mmse", "prior_mean", "posterior_std"):
        np.testing.assert_allclose(getattr(tiled, name), getattr(whole, name), atol=1e-4 * scale)
    # a tile size off the pooling grid is rounded down, with the same result
    odd = run_predict(denoiser, image, tile_size=37)
    np.testing.assert_allclose(odd.mmse, whole.mmse, atol=1e-4 * scale)


@pytest.mark.parametrize("shape", [(9, 13), (5, 7), (3, 3), (1, 6), (1, 1), (40, 2)])
def test_images_smaller_than_a_tile(shape: tuple[int, int]) -> None:
    denoiser = _denoiser(depth=3)
    image = _image(*shape, seed=3)
    result = run_predict(denoiser, image, prior_mean=True)
    assert result.mmse.shape == shape
    assert np.all(np.isfinite(result.mmse))
    mmse, prior, _ = _brute_force(denoiser, image)
    np.testing.assert_allclose(result.mmse, mmse, atol=1e-2)
    np.testing.assert_allclose(result.prior_mean, prior, atol=1e-2)


def test_chunking_does_not_change_the_result() -> None:
    settings = _settings()
    weights = _weights(settings)
    image = _image(40, 50, seed=4)
    results = []
    for chunk in (256, 100_000):
        s = settings.with_changes(**{"prediction.pixel_chunk": chunk})
        results.append(run_predict(Denoiser(s, weights, NORMALISATION, PG, "cpu"), image).mmse)
    np.testing.assert_allclose(results[0], results[1], atol=1e-5 * NORMALISATION.std)


def test_stack_equals_frame_by_frame() -> None:
    denoiser = _denoiser()
    stack = np.stack([_image(45, 38, seed=i) for i in range(3)])
    reports: list[PredictProgress] = []
    result = run_predict(
        denoiser, stack, prior_mean=True, uncertainty=True, tile_size=32, on_progress=reports.append
    )
    assert result.mmse.shape == stack.shape
    assert result.posterior_std.shape == stack.shape
    for i, frame in enumerate(stack):
        single = run_predict(denoiser, frame, prior_mean=True, uncertainty=True, tile_size=32)
        np.testing.assert_array_equal(result.mmse[i], single.mmse)
        np.testing.assert_array_equal(result.prior_mean[i], single.prior_mean)
        np.testing.assert_array_equal(result.posterior_std[i], single.posterior_std)
    assert {r.frame for r in reports} == {0, 1, 2}
    assert all(r.frames == 3 for r in reports)


def test_integer_input_is_accepted() -> None:
    denoiser = _denoiser()
    image = _image(30, 30)
    as_uint16 = np.round(image).astype(np.uint16)
    a = run_predict(denoiser, as_uint16).mmse
    b = run_predict(denoiser, as_uint16.astype(np.float32)).mmse
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4, 5), (0, 5), (3, 0, 4)])
def test_bad_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidImageError):
        run_predict(_denoiser(), np.zeros(shape, np.float32))


# ------------------------------------------------------------------ progress, cancel


def test_progress_reports_reach_one() -> None:
    denoiser = _denoiser()
    generator = iter_predict(denoiser, _image(70, 70), tile_size=32)
    reports = []
    while True:
        try:
            reports.append(next(generator))
        except StopIteration as stop:
            result = stop.value
            break
    assert isinstance(result, Prediction)
    assert reports and all(isinstance(r, PredictProgress) for r in reports)
    fractions = [r.fraction for r in reports]
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)
    assert all(0 < f <= 1 for f in fractions)
    assert reports[-1].tile == reports[-1].tiles == 9
    assert all(r.elapsed_s >= 0 for r in reports)


def test_cancel_before_start_raises() -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_predict(_denoiser(), _image(40, 40), cancel=token)


def test_cancel_during_prediction_raises() -> None:
    token = CancelToken()
    seen = []

    def on_progress(report: PredictProgress) -> None:
        seen.append(report)
        token.cancel()

    stack = np.stack([_image(40, 40, seed=i) for i in range(3)])
    with pytest.raises(Cancelled):
        run_predict(_denoiser(), stack, tile_size=32, cancel=token, on_progress=on_progress)
    assert len(seen) == 1


def test_mmse_is_finite_when_every_sample_is_far_from_the_observation() -> None:
    """Gaussian likelihoods of far samples underflow to 0; the weights must not be 0/0."""
    from pn2v_engine.noise_models import PoissonGaussianNoiseModel

    model = PoissonGaussianNoiseModel(0.0, 1.0, 0.0, 1e4)
    x = torch.tensor([[0.0]])
    s = torch.tensor([[100.0, 101.0, 150.0]])
    assert float(model.likelihood(x, s).sum()) == 0.0
    weights = model.posterior_weights(x, s)
    assert torch.all(torch.isfinite(weights))
    assert float(weights.sum()) == pytest.approx(1.0)
    assert float(weights[0, 0]) > 0.99  # the nearest sample dominates


def test_samples_beyond_the_histogram_are_clamped_to_its_range(
    histogram: HistogramNoiseModel,
) -> None:
    """A sample below the calibrated range must not be weighted as the edge yet count as itself."""
    settings = _settings()
    far_below = Normalisation(mean=histogram.low - 5000.0, std=1.0)
    denoiser = Denoiser(settings, _weights(settings), far_below, histogram, device="cpu")
    result = run_predict(denoiser, _image(24, 24), prior_mean=True)
    lowest = histogram.bin_centres[0]
    np.testing.assert_allclose(result.mmse, lowest, rtol=1e-6)
    np.testing.assert_allclose(result.prior_mean, lowest, rtol=1e-6)


# --------------------------------------------------------------------------- orientations


def _turned(image: np.ndarray, k: int) -> np.ndarray:
    turned = np.rot90(image, k % 4)
    return np.ascontiguousarray(turned[:, ::-1] if k >= 4 else turned)


def _turned_back(image: np.ndarray, k: int) -> np.ndarray:
    return np.rot90(image[:, ::-1] if k >= 4 else image, -(k % 4))


@pytest.mark.parametrize("orientations", [2, 4, 8])
def test_orientations_average_the_turned_images_results(orientations: int) -> None:
    denoiser = _denoiser()
    image = _image(48, 64, seed=5)  # on the pooling grid: no padding to turn with the image
    result = run_predict(
        denoiser, image, prior_mean=True, uncertainty=True, orientations=orientations
    )
    turns = ORIENTATIONS[orientations]
    each = [
        run_predict(denoiser, _turned(image, k), prior_mean=True, uncertainty=True) for k in turns
    ]

    def back(name: str) -> np.ndarray:
        return np.stack(
            [_turned_back(getattr(p, name), k) for p, k in zip(each, turns, strict=True)]
        )

    mmse, prior, std = back("mmse"), back("prior_mean"), back("posterior_std")
    mmse, prior, std = (a.astype(np.float64) for a in (mmse, prior, std))
    scale = NORMALISATION.std
    np.testing.assert_allclose(result.mmse, mmse.mean(0), atol=1e-4 * scale)
    np.testing.assert_allclose(result.prior_mean, prior.mean(0), atol=1e-4 * scale)
    # the equal mixture of the orientations' posteriors: within plus between
    mixture = np.sqrt((std**2).mean(0) + mmse.var(0))
    np.testing.assert_allclose(result.posterior_std, mixture, atol=1e-4 * scale)
    # not vacuous: the orientations disagree, and their spread adds to the uncertainty
    assert mmse.std(0).mean() > 0.1
    assert np.all(result.posterior_std >= np.sqrt((std**2).mean(0)) - 1e-3)


def test_one_orientation_is_the_plain_prediction() -> None:
    denoiser = _denoiser()
    image = _image(30, 41, seed=6)
    plain = run_predict(denoiser, image, uncertainty=True)
    one = run_predict(denoiser, image, uncertainty=True, orientations=1)
    np.testing.assert_array_equal(one.mmse, plain.mmse)
    np.testing.assert_allclose(one.posterior_std, plain.posterior_std, rtol=1e-5)


@pytest.mark.parametrize("mode", ["pn2v", "n2v"])
def test_oriented_prediction_tiled_equals_untiled(mode: str) -> None:
    denoiser = _denoiser(
        None if mode == "n2v" else PG, mode=mode, depth=3, k=1 if mode == "n2v" else 32
    )
    image = _image(77, 53, seed=7)
    whole = run_predict(denoiser, image, tile_size=1024, uncertainty=True, orientations=8)
    tiled = run_predict(denoiser, image, tile_size=32, uncertainty=True, orientations=8)
    np.testing.assert_allclose(tiled.mmse, whole.mmse, atol=1e-4 * NORMALISATION.std)
    if mode == "pn2v":
        np.testing.assert_allclose(
            tiled.posterior_std, whole.posterior_std, atol=1e-4 * NORMALISATION.std
        )
    else:
        assert tiled.posterior_std is None
    plain = run_predict(denoiser, image)
    assert np.abs(whole.mmse - plain.mmse).mean() > 0.01


def test_bfloat16_prediction_is_float32_up_to_its_rounding() -> None:
    image = _image(77, 53, seed=8)
    results = {}
    for precision in ("float32", "bfloat16"):
        settings = _settings(depth=3).with_changes(**{"network.precision": precision})
        denoiser = Denoiser(settings, _weights(settings), NORMALISATION, PG, "cpu")
        assert denoiser.network.compute_dtype == getattr(torch, precision)
        results[precision] = run_predict(denoiser, image, prior_mean=True, uncertainty=True)
    for name in ("mmse", "prior_mean", "posterior_std"):
        exact, rounded = getattr(results["float32"], name), getattr(results["bfloat16"], name)
        assert rounded.dtype == np.float32
        error = np.abs(rounded - exact)
        print(name, error.mean(), error.max())
        assert 0 < error.mean() < 0.05 and error.max() < 0.5  # camera units; the std is 100


@pytest.mark.parametrize("orientations", [0, 3, 16])
def test_other_numbers_of_orientations_are_refused(orientations: int) -> None:
    with pytest.raises(ValueError, match="orientations must be one of"):
        run_predict(_denoiser(), _image(8, 8), orientations=orientations)
