"""Tests for the Gaussian-mixture noise model: the density, its fit, stacks, bootstrapping."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

import pn2v_engine
from pn2v_engine.bootstrap import BOOTSTRAP_MIN_PSEUDO_ROWS, run_bootstrap_noise_model
from pn2v_engine.calibration import run_fit_gmm_calibration
from pn2v_engine.cli import main
from pn2v_engine.config import Settings
from pn2v_engine.demo import Camera, DemoData, make_demo_data
from pn2v_engine.errors import ConfigError, NoiseModelError
from pn2v_engine.noise_models import (
    GaussianMixtureNoiseModel,
    HistogramNoiseModel,
    gmm_fit,
    iter_fit_gmm,
    load_noise_model,
    noise_model_from_npz_bytes,
    run_fit_gmm,
)
from pn2v_engine.noise_models.smoothing import mean_row_count
from pn2v_engine.prediction import Denoiser, run_predict
from pn2v_engine.progress import Cancelled, CancelToken, StageProgress
from pn2v_engine.project import Project, load_project, save_project
from pn2v_engine.training import STARTED_FROM_BOOTSTRAP, run_train

CAMERA = Camera(gain=2.0, offset=100.0, read_noise=6.0, bit_depth=16, quantum_efficiency=1.0)


def _pairs(
    rng: np.random.Generator, n: int, low: float = 100.0, high: float = 500.0
) -> tuple[np.ndarray, np.ndarray]:
    """Clean signals uniform in [low, high] ADU and the camera's readings of them."""
    signal = rng.uniform(low, high, n).astype(np.float32)
    return signal, CAMERA.expose((signal - CAMERA.offset) / CAMERA.gain, rng)


def _random_model(seed: int = 0, components: int = 3, degree: int = 2):
    rng = np.random.default_rng(seed)
    parameters = rng.normal(0.0, 1.0, (3, components, degree + 1))
    return GaussianMixtureNoiseModel(parameters, (50.0, 600.0), (100.0, 500.0), 0.5, 20.0)


@pytest.fixture(scope="module")
def fitted() -> GaussianMixtureNoiseModel:
    """A default fit to 300k simulated Poisson-Gaussian pairs (gain 2, read noise 6 e-)."""
    signal, noisy = _pairs(np.random.default_rng(3), 300_000)
    return run_fit_gmm(signal, noisy)


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return make_demo_data(seed=2, size=64, n_calibration=20, n_images=2)


def _tiny(mode: str = "pn2v", **changes: object) -> Settings:
    base = {
        "network.depth": 2,
        "network.features": 8,
        "network.n_samples": 8 if mode == "pn2v" else 1,
        "training.patch_size": 32,
        "training.batch_size": 4,
        "training.epochs": 1,
        "training.steps_per_epoch": 2,
        "training.val_patches": 2,
        "training.learning_rate": 3e-3,
    }
    return Settings(mode=mode).with_changes(**(base | changes))


# ------------------------------------------------------------------------- the density


def test_density_integrates_to_one() -> None:
    model = _random_model()
    for s in (40.0, 100.0, 233.3, 499.0, 800.0):
        _, means, variances = model.components(torch.tensor(s, dtype=torch.float64))
        reach = 12 * float(variances.max().sqrt())
        x = torch.linspace(float(means.min()) - reach, float(means.max()) + reach, 200_001)
        x = x.double()
        p = model.likelihood(x, torch.full_like(x, s))
        assert float(torch.trapezoid(p, x)) == pytest.approx(1.0, abs=1e-6)


def test_mixture_mean_is_the_signal_and_std_respects_the_floor() -> None:
    model = _random_model(1)
    model.parameters[2] = -30.0  # vanishing variance polynomials: only the floor is left
    s = torch.linspace(0.0, 700.0, 101, dtype=torch.float64)
    log_weights, means, variances = model.components(s)
    weights = log_weights.exp()
    assert torch.allclose(weights.sum(-1), torch.ones_like(s))
    assert torch.allclose((weights * means).sum(-1), s)
    assert bool((variances.sqrt() >= model.min_sigma * (1 - 1e-9)).all())
    assert float(variances.min()) == pytest.approx(model.min_sigma**2, rel=1e-6)


def test_log_likelihood_finite_far_away_and_differentiable() -> None:
    model = _random_model(2)
    x = torch.tensor([[0.0], [300.0], [1e6], [-1e5]])
    s = torch.tensor([[-1e4, 0.0, 300.0, 1e5, 2e6]]).repeat(4, 1).requires_grad_(True)
    log_p = model.log_likelihood(x, s)
    assert log_p.shape == (4, 5) and bool(torch.isfinite(log_p).all())
    log_p.sum().backward()
    assert s.grad is not None and bool(torch.isfinite(s.grad).all())
    assert bool((s.grad.abs() > 0).all())  # samples far from x are pulled towards it
    weights = model.posterior_weights(torch.tensor([[1e6]]), torch.tensor([[100.0, 200.0]]))
    assert bool(torch.isfinite(weights).all())
    half = model.log_likelihood(torch.tensor([250.0]), torch.tensor([250.0]).half())
    assert half.dtype == torch.float32 and bool(torch.isfinite(half).all())
    assert model.log_likelihood(torch.tensor([1.0]), torch.tensor([2.0]).double()).dtype == (
        torch.float64
    )


@pytest.mark.parametrize(("components", "degree"), [(3, 2), (1, 0), (4, 5)])
def test_written_out_derivative_matches_autograd(components: int, degree: int) -> None:
    """Training and prediction skip autograd's graph; values and d/ds must not change."""
    model = _random_model(3, components, degree)
    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.uniform(0, 700, (200, 1)))
    s = torch.from_numpy(rng.uniform(0, 700, (200, 6)))
    s[0, :3] = torch.tensor([100.0, 500.0, 300.0])  # the ends of the fitted range
    for x_, s_ in ((x, s), (x, s[:1]), (x.float(), s.float())):
        a = s_.clone().requires_grad_(True)
        b = s_.clone().requires_grad_(True)
        reference = model._log_likelihood_autograd(x_, a)
        fast = model.log_likelihood(x_, b)
        assert fast.shape == reference.shape and fast.dtype == reference.dtype
        with torch.no_grad():
            plain = model.log_likelihood(x_, s_)
        tolerance = 1e-10 if s_.dtype == torch.float64 else 1e-3
        torch.testing.assert_close(fast, reference, rtol=tolerance, atol=tolerance)
        torch.testing.assert_close(plain, reference.detach(), rtol=tolerance, atol=tolerance)
        (reference**2).sum().backward()
        (fast**2).sum().backward()
        assert b.grad is not None and b.grad.shape == s_.shape
        torch.testing.assert_close(b.grad, a.grad, rtol=tolerance, atol=tolerance)


def test_clamp_signal_limits_to_the_range() -> None:
    model = _random_model()
    s = torch.tensor([0.0, 200.0, 1000.0])
    assert model.clamp_signal(s).tolist() == [50.0, 200.0, 600.0]


def test_save_and_load_give_identical_likelihoods(
    fitted: GaussianMixtureNoiseModel, tmp_path: Path
) -> None:
    path = fitted.save(tmp_path / "gmm")
    assert path.suffix == ".npz"
    loaded = load_noise_model(path)
    assert isinstance(loaded, GaussianMixtureNoiseModel)
    from_bytes = noise_model_from_npz_bytes(fitted.to_npz_bytes())
    x = torch.linspace(50, 700, 301)[:, None]
    s = torch.linspace(80, 520, 7)[None, :]
    reference = fitted.log_likelihood(x, s)
    for other in (loaded, from_bytes, loaded.to("cpu")):
        assert torch.equal(other.log_likelihood(x, s), reference)
    assert loaded.metadata == fitted.metadata
    assert loaded.describe() == fitted.describe()
    assert loaded.signal_range == fitted.signal_range


def test_damaged_file_is_refused(fitted: GaussianMixtureNoiseModel, tmp_path: Path) -> None:
    arrays = fitted._arrays()
    arrays["parameters"][0, 0, 0] = np.nan
    np.savez(tmp_path / "bad.npz", kind=np.array("gmm"), metadata=np.array("{}"), **arrays)
    with pytest.raises(NoiseModelError, match="damaged"):
        load_noise_model(tmp_path / "bad.npz")


# ------------------------------------------------------------------------------ fitting


def test_fit_recovers_gain_and_read_noise(fitted: GaussianMixtureNoiseModel) -> None:
    # var(x|s) = gain (s - offset) + gain^2 read_noise^2 + 1/12 (rounding to integers)
    s = torch.linspace(120.0, 480.0, 50, dtype=torch.float64)
    variance = fitted.variance(s).numpy()
    design = np.stack([s.numpy() - CAMERA.offset, np.ones(50)], axis=1)
    (gain, intercept), *_ = np.linalg.lstsq(design, variance - 1 / 12, rcond=None)
    read_noise = math.sqrt(intercept) / gain  # electrons
    assert gain == pytest.approx(CAMERA.gain, rel=0.03)
    assert read_noise == pytest.approx(CAMERA.read_noise, rel=0.05)
    truth = CAMERA.gain * (s.numpy() - CAMERA.offset) + (CAMERA.gain * CAMERA.read_noise) ** 2
    np.testing.assert_allclose(variance, truth + 1 / 12, rtol=0.04)
    low, high = fitted.signal_range
    assert low < 100 and high > 500  # the readings' range, beyond the signals'


def test_initial_variance_line_is_not_taken_over_by_a_quiet_background() -> None:
    """The fit starts from var(x|s) = a s + b. Here most pairs are dark and clipped at a
    floor (their spread far below the line), as in confocal FISH. Weighting signal levels
    by their measured variance let them pull the gain to 9.3 (true 20); weighted by the
    fitted line, the start is 14.9 (the clipping does narrow the dark levels)."""
    rng = np.random.default_rng(0)
    dark = rng.random(200_000) < 0.7
    s = np.where(dark, rng.uniform(100.0, 104.0, dark.size), rng.uniform(100.0, 250.0, dark.size))
    x = np.round(s + np.sqrt(20 * (s - 100) + 1) * rng.standard_normal(s.size))
    gain, _ = gmm_fit._variance_line(s, np.maximum(x, 101))
    assert 13 < gain < 21


def test_fit_is_seeded_and_reports_progress() -> None:
    signal, noisy = _pairs(np.random.default_rng(4), 20_000)
    reports: list[StageProgress] = []
    options = {"steps": 30, "batch": 1024}
    a = run_fit_gmm(signal, noisy, on_progress=reports.append, **options)
    b = run_fit_gmm(signal, noisy, **options)
    c = run_fit_gmm(signal, noisy, seed=1, **options)
    with torch.no_grad():  # e.g. a caller predicting: the fit still has its gradients
        d = run_fit_gmm(signal, noisy, **options)
    assert torch.equal(a.parameters, b.parameters) and torch.equal(a.parameters, d.parameters)
    assert not torch.equal(a.parameters, c.parameters)
    assert all(r.stage == "fitting" and r.total == 30 for r in reports)
    assert reports[0].done == 0 and reports[-1].done == 30
    assert [r.done for r in reports] == sorted(r.done for r in reports)
    fit = a.metadata["fit"]
    assert fit["pairs"] == 20_000 and fit["steps"] == 30
    # a clean image and a stack of noisy frames of it broadcast into pairs
    photons = np.broadcast_to((signal[:2500] - CAMERA.offset) / CAMERA.gain, (4, 2500))
    frames = CAMERA.expose(photons, np.random.default_rng(0))
    model = run_fit_gmm(signal[:2500], frames, steps=5)
    assert model.metadata["fit"]["pairs"] == 10_000


def test_the_best_parameters_are_returned_not_the_last(monkeypatch) -> None:
    signal, noisy = _pairs(np.random.default_rng(5), 20_000)
    seen: list[tuple[float, torch.Tensor]] = []
    score = gmm_fit._held_out_nll

    def recording(model, s, x):  # type: ignore[no-untyped-def]
        value = score(model, s, x)
        seen.append((value, model.parameters.detach().clone()))
        return value

    monkeypatch.setattr(gmm_fit, "_held_out_nll", recording)
    # a rate far too high: the fit wanders off after its best point
    model = run_fit_gmm(signal, noisy, steps=40, batch=256, learning_rate=1.0)
    scores = [value for value, _ in seen]
    best = int(np.argmin(scores))
    assert scores[-1] > scores[best]
    assert torch.equal(model.parameters, seen[best][1])
    fit = model.metadata["fit"]
    assert fit["held_out_nll"][str(fit["best_step"])] == min(scores)
    assert min(scores) <= fit["held_out_nll"]["40"]


def test_cancel_stops_the_fit() -> None:
    signal, noisy = _pairs(np.random.default_rng(6), 5_000)
    token = CancelToken()
    generator = iter_fit_gmm(signal, noisy, steps=1000, cancel=token)
    next(generator)
    token.cancel()
    with pytest.raises(Cancelled):
        next(generator)


def test_bad_input_is_refused() -> None:
    signal, noisy = _pairs(np.random.default_rng(7), 5_000)
    with pytest.raises(ConfigError, match="components"):
        run_fit_gmm(signal, noisy, n_components=0)
    with pytest.raises(ConfigError, match="range"):
        run_fit_gmm(signal, noisy, value_range=(10.0, 5.0))
    with pytest.raises(NoiseModelError, match="do not match"):
        run_fit_gmm(signal, noisy[:100])
    with pytest.raises(NoiseModelError, match="NaN"):
        run_fit_gmm(np.full(5000, np.nan, np.float32), noisy)
    with pytest.raises(NoiseModelError, match="at least"):
        run_fit_gmm(signal[:500], noisy[:500])


# ------------------------------------------------------------- stacks and bootstrapping


def test_fit_from_a_calibration_stack(demo: DemoData) -> None:
    stages: set[str] = set()
    model = run_fit_gmm_calibration(
        demo.calibration, max_pairs=50_000, steps=150, on_progress=lambda r: stages.add(r.stage)
    )
    assert stages == {"averaging", "sampling", "fitting"}
    summary = model.metadata["calibration"]
    assert summary["frames"] == 20 and summary["shape"] == [64, 64]
    assert model.metadata["fit"]["pairs"] == 50_000
    low, high = model.signal_range
    assert low <= float(demo.calibration.min()) and high >= float(demo.calibration.max())
    camera = demo.camera
    s = torch.linspace(120.0, 200.0, 5, dtype=torch.float64)
    truth = camera.gain * (s - camera.offset) + (camera.gain * camera.read_noise) ** 2
    # the mean of 20 frames is itself noisy: the spread around it is 5% smaller
    np.testing.assert_allclose(model.variance(s).numpy(), 0.95 * truth.numpy(), rtol=0.1)


def test_gmm_trains_pn2v_denoises_and_is_saved_in_projects(demo: DemoData, tmp_path: Path) -> None:
    model = run_fit_gmm_calibration(demo.calibration, max_pairs=20_000, steps=30)
    result = run_train(list(demo.images), model, _tiny(), device="cpu")
    assert result.epochs_done == 1 and math.isfinite(result.best_val_loss)
    denoiser = Denoiser(result.settings, result.best_weights, result.normalisation, model, "cpu")
    denoised = run_predict(denoiser, demo.images[0]).mmse
    assert denoised.shape == demo.images[0].shape and np.isfinite(denoised).all()
    project = Project(settings=result.settings, name="gmm")
    project.noise_model, project.training = model, result
    loaded = load_project(save_project(project, tmp_path / "gmm.pn2v"))
    assert isinstance(loaded.noise_model, GaussianMixtureNoiseModel)
    again = run_predict(loaded.denoiser(device="cpu"), demo.images[0]).mmse
    np.testing.assert_array_equal(again, denoised)


@pytest.mark.parametrize("kind", ["gmm", "histogram", "smoothed"])
def test_bootstrap_makes_a_usable_model(kind: str, demo: DemoData) -> None:
    reports = []
    options = {"gmm": {"steps": 30}, "histogram": {"bins": 64}, "smoothed": {"bins": 64}}[kind]
    model = run_bootstrap_noise_model(
        list(demo.images),
        _tiny("n2v", **{"prediction.n2v_share": 0.5}),
        kind=kind,
        device="cpu",
        on_progress=reports.append,
        **options,
    )
    expected = GaussianMixtureNoiseModel if kind == "gmm" else HistogramNoiseModel
    assert isinstance(model, expected)
    assert model.metadata["bootstrap"]["kind"] == kind
    assert model.metadata["bootstrap"]["frames"] == 2
    assert "applied" in model.metadata["bootstrap"]["deflation"]  # the default
    stages = {getattr(r, "stage", "training") for r in reports}
    assert {"training", "predicting"} <= stages
    if kind == "smoothed":
        assert "smoothing" in stages and model.metadata["smoothing"]["components"] == 3
        # the bootstrap's rows are shrunk by at least its floor of pseudo-counts
        floor = BOOTSTRAP_MIN_PSEUDO_ROWS * mean_row_count(model.counts)
        alpha = model.metadata["smoothing"]["pseudo_counts"]
        assert alpha is None or alpha >= floor * (1 - 1e-6)
        tried = model.metadata["smoothing"]["pseudo_count_scores"]
        lowest = min(float(key) for key in tried)
        assert len(tried) == 4 and lowest == pytest.approx(floor, rel=1e-5)
        assert model.bins <= 64 and model.row_counts().sum() == demo.images.size
    # the model keeps the Noise2Void network, and PN2V training starts from it
    assert model.source_network is not None and model.source_network.network["depth"] == 2
    assert not model.source_network.network["top_skip"]  # averaged in: N2V2's U-Net
    result = run_train(list(demo.images), model, _tiny(), device="cpu")
    assert math.isfinite(result.best_val_loss)
    assert result.started_from == STARTED_FROM_BOOTSTRAP and result.warnings == []


def test_bootstrap_can_be_cancelled(demo: DemoData) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_bootstrap_noise_model(list(demo.images), _tiny("n2v"), cancel=token, device="cpu")


def test_bootstrap_options_are_checked(demo: DemoData) -> None:
    with pytest.raises(ConfigError, match="kind"):
        run_bootstrap_noise_model(list(demo.images), kind="poisson")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="mixture"):
        run_bootstrap_noise_model(list(demo.images), kind="histogram", steps=5)


def test_public_api() -> None:
    for name in (
        "GaussianMixtureNoiseModel",
        "iter_fit_gmm",
        "run_fit_gmm",
        "iter_fit_gmm_calibration",
        "run_fit_gmm_calibration",
        "iter_bootstrap_noise_model",
        "run_bootstrap_noise_model",
    ):
        assert name in pn2v_engine.__all__
        assert getattr(pn2v_engine, name) is not None


# ---------------------------------------------------------------------------------- CLI


def test_cli_fit_gmm_and_bootstrap(demo: DemoData, tmp_path: Path, capsys) -> None:
    stack = tmp_path / "calibration.tif"
    tifffile.imwrite(stack, demo.calibration, imagej=True, metadata={"axes": "TYX"})
    clean = tmp_path / "clean.tif"
    tifffile.imwrite(clean, demo.calibration.mean(axis=0).astype(np.float32))
    images = tmp_path / "images"
    images.mkdir()
    for index, image in enumerate(demo.images):
        tifffile.imwrite(images / f"{index}.tif", image)
    runs = {
        "stack.npz": ["fit-gmm", str(stack), "--steps", "20", "--components", "2"],
        "pairs.npz": ["fit-gmm", str(stack), "--signal", str(clean), "--steps", "20"],
        "boot.npz": [
            "bootstrap",
            str(images),
            *("--kind", "gmm", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4"),
            *("--patch-size", "32", "--steps", "20", "--device", "cpu"),
        ],
        "boot_hist.npz": [
            "bootstrap",
            str(images),
            *("--kind", "histogram", "--bins", "32", "--epochs", "1", "--steps-per-epoch", "1"),
            *("--batch-size", "4", "--patch-size", "32", "--device", "cpu", "--no-deflate"),
        ],
        "boot_smooth.npz": [
            "bootstrap",
            str(images),
            *("--bins", "32", "--epochs", "1", "--steps-per-epoch", "1", "--steps", "20"),
            *("--batch-size", "4", "--patch-size", "32", "--device", "cpu"),
        ],
    }
    for name, args in runs.items():
        assert main(["noise-model", *args, "-o", str(tmp_path / name)]) == 0, name
        model = load_noise_model(tmp_path / name)
        assert ("histogram" if "boot_" in name else "gmm") == model.kind
    smoothed = load_noise_model(tmp_path / "boot_smooth.npz")
    assert smoothed.metadata["bootstrap"]["kind"] == "smoothed"  # the default
    assert smoothed.metadata["smoothing"]["method"] == "gaussian mixture"
    assert "applied" in smoothed.metadata["bootstrap"]["deflation"]
    assert "deflation" not in load_noise_model(tmp_path / "boot_hist.npz").metadata["bootstrap"]
    assert load_noise_model(tmp_path / "stack.npz").n_components == 2
    out = capsys.readouterr().out
    assert "Noise model written to" in out
    assert "Noise2Void's own error taken out" in out or "Pairs kept as they are" in out
    assert main(["info", str(tmp_path / "boot.npz")]) == 0
    assert "bootstrap" in capsys.readouterr().out
    # PN2V training starts from the bootstrap's Noise2Void network, unless told otherwise
    train = ["train", str(images), "--noise-model", str(tmp_path / "boot_smooth.npz")]
    train += ["--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4"]
    train += ["--patch-size", "32", "--device", "cpu"]
    for extra, started in (([], True), (["--from-scratch"], False)):
        output = tmp_path / f"warm_{started}.pn2v"
        assert main([*train, *extra, "-o", str(output)]) == 0
        said = capsys.readouterr().out
        assert ("Started from the Noise2Void network" in said) is started, said
        training = load_project(output).training
        assert training is not None and (training.started_from is not None) is started
        assert main(["info", str(output)]) == 0
        assert ("started from the Noise2Void network" in capsys.readouterr().out) is started
    assert main(["info", str(tmp_path / "boot_smooth.npz")]) == 0
    assert "keeps its Noise2Void network (depth 3, 32 features)" in capsys.readouterr().out


def test_cli_fit_gmm_errors(demo: DemoData, tmp_path: Path, capsys) -> None:
    stack = tmp_path / "calibration.tif"
    tifffile.imwrite(stack, demo.calibration[:, :32, :32])
    clean = tmp_path / "clean.tif"
    tifffile.imwrite(clean, np.zeros((16, 16), np.float32))
    assert main(["noise-model", "fit-gmm", str(stack), "--signal", str(clean), "-o", "x"]) == 1
    assert "same size" in capsys.readouterr().err
    code = main(["noise-model", "fit-gmm", str(stack), "--components", "0", "-o", "x"])
    assert code == 1
    err = capsys.readouterr().err
    assert "components" in err and "Traceback" not in err
