"""Tests for pn2v_engine.training on simulated microscope data (pn2v_engine.demo)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pn2v_engine.config import Settings, preset
from pn2v_engine.demo import DemoData, make_demo_data
from pn2v_engine.errors import ConfigError, InvalidImageError, NoiseModelError, ResourceError
from pn2v_engine.masking import stratified_pixels
from pn2v_engine.metrics import psnr
from pn2v_engine.noise_models import HistogramNoiseModel, histogram_from_pairs
from pn2v_engine.prediction import Denoiser, run_predict
from pn2v_engine.progress import CancelToken, TrainProgress
from pn2v_engine.training import TrainResult, _Trainer, iter_train, passes_per_step, run_train
from pn2v_engine.unet import UNet


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return make_demo_data(seed=1, size=128, n_calibration=30, n_images=2)


@pytest.fixture(scope="module")
def noise_model(demo: DemoData) -> HistogramNoiseModel:
    """The paper's recipe: the calibration stack's average is the signal of every frame."""
    signal = demo.calibration.mean(axis=0)
    return histogram_from_pairs([signal] * len(demo.calibration), list(demo.calibration))


def _settings(mode: str = "pn2v", **changes: object) -> Settings:
    base = {
        "network.depth": 2,
        "network.features": 8,
        "network.n_samples": 16 if mode == "pn2v" else 1,
        "training.patch_size": 32,
        "training.batch_size": 4,
        "training.epochs": 2,
        "training.steps_per_epoch": 3,
        "training.learning_rate": 3e-3,
        "training.val_patches": 4,
        "training.schedule": "cosine",
    }
    base.update(changes)
    return Settings(mode=mode).with_changes(**base)


def _images(demo: DemoData) -> list[np.ndarray]:
    return list(demo.images)


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _curves(result: TrainResult) -> tuple[list, list, list, list]:
    h = result.history
    return h.epoch, h.train_loss, h.val_loss, h.learning_rate


# ------------------------------------------------------------------------- denoising


def _psnr_gain(result: TrainResult, demo: DemoData, noise_model: HistogramNoiseModel | None):
    denoiser = Denoiser(
        result.settings, result.last_weights, result.normalisation, noise_model, "cpu"
    )
    gains = []
    for noisy, clean in zip(demo.images, demo.ground_truth, strict=True):
        denoised = run_predict(denoiser, noisy).mmse
        gains.append(psnr(clean, denoised) - psnr(clean, noisy))
    return gains


def test_pn2v_training_improves_psnr(demo: DemoData, noise_model: HistogramNoiseModel) -> None:
    settings = _settings(
        **{
            "network.features": 16,
            "network.n_samples": 32,
            "training.batch_size": 8,
            "training.epochs": 4,
            "training.steps_per_epoch": 25,
            "training.val_patches": 8,
        }
    )
    result = run_train(_images(demo), noise_model, settings, device="cpu")
    assert not result.stopped and result.epochs_done == 4
    assert result.warnings == []
    assert result.history.val_loss[-1] < result.history.val_loss[0]
    assert result.best_val_loss == min(result.history.val_loss)
    gains = _psnr_gain(result, demo, noise_model)
    print("PN2V PSNR gains (dB):", gains)
    assert min(gains) > 3.0, gains


def test_n2v_training_improves_psnr(demo: DemoData) -> None:
    settings = _settings(
        "n2v",
        **{
            "network.features": 16,
            "training.batch_size": 8,
            "training.epochs": 3,
            "training.steps_per_epoch": 25,
            "training.val_patches": 8,
        },
    )
    result = run_train(_images(demo), None, settings, device="cpu")
    assert result.epochs_done == 3
    assert all(math.isfinite(v) for v in result.history.val_loss)
    gains = _psnr_gain(result, demo, None)
    print("N2V PSNR gains (dB):", gains)
    assert min(gains) > 3.0, gains


@pytest.mark.parametrize("mode", ["n2v", "pn2v"])
def test_u_net_without_top_skip_learns(
    mode: str, demo: DemoData, noise_model: HistogramNoiseModel
) -> None:
    settings = _settings(
        mode,
        **{
            "network.features": 16,
            "network.top_skip": False,
            "training.batch_size": 8,
            "training.epochs": 6,
            "training.steps_per_epoch": 25,
            "training.val_patches": 8,
        },
    )
    model = noise_model if mode == "pn2v" else None
    result = run_train(_images(demo), model, settings, device="cpu")
    # the last decoder level reads the upsampled features only: 16 channels, not 32
    assert result.last_weights["up.0.0.weight"].shape[1] == 16
    gains = _psnr_gain(result, demo, model)
    print(f"{mode} PSNR gains without the top skip (dB):", gains)
    # it learns the demo's sharp shapes more slowly than the paper's U-Net (3 dB above)
    assert min(gains) > 1.5, gains


def test_bfloat16_training_learns_reproducibly_into_float32_weights(demo: DemoData) -> None:
    settings = _settings(
        "n2v",
        **{
            "network.features": 16,
            "network.precision": "bfloat16",
            "training.batch_size": 8,
            "training.epochs": 3,
            "training.steps_per_epoch": 25,
            "training.val_patches": 8,
        },
    )
    result = run_train(_images(demo), None, settings, device="cpu")
    for weights in (result.last_weights, result.best_weights):
        assert all(w.dtype == torch.float32 and w.is_contiguous() for w in weights.values())
    gains = _psnr_gain(result, demo, None)
    print("N2V PSNR gains in bfloat16 (dB):", gains)
    assert min(gains) > 3.0, gains
    again = run_train(_images(demo), None, settings, device="cpu")
    assert _same_weights(again.last_weights, result.last_weights)
    exact = run_train(
        _images(demo), None, settings.with_changes(**{"network.precision": "float32"}), device="cpu"
    )
    assert not _same_weights(exact.last_weights, result.last_weights)


@pytest.mark.parametrize("native", [True, False])
def test_emulated_bfloat16_is_pointed_out(
    native: bool, demo: DemoData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pn2v_engine.training.native_bfloat16", lambda _device: native)
    settings = _settings("n2v", **{"network.precision": "bfloat16", "training.epochs": 1})
    result = run_train(_images(demo), None, settings, device="cpu")
    assert any("emulation" in w for w in result.warnings) is not native


def test_resume_may_change_the_arithmetic(demo: DemoData, noise_model: HistogramNoiseModel) -> None:
    settings = _settings(**{"training.epochs": 2})
    partial = _cancel_after_first_epoch(settings, demo, noise_model)
    faster = settings.with_changes(**{"network.precision": "bfloat16"})
    resumed = run_train(_images(demo), noise_model, faster, resume=partial, device="cpu")
    assert resumed.epochs_done == 2 and resumed.settings.network.precision == "bfloat16"


def test_blind_spot_network_trains_on_unaltered_patches(
    demo: DemoData, noise_model: HistogramNoiseModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_masking(*args, **kwargs):
        raise AssertionError("the blind-spot network's input was masked")

    monkeypatch.setattr("pn2v_engine.training.replace_with_neighbours", no_masking)
    settings = _settings(
        **{
            "network.blind_spot": "network",
            "network.features": 16,
            "network.n_samples": 32,
            "masking.fraction": 0.5,
            "training.batch_size": 4,
            "training.epochs": 8,
            "training.steps_per_epoch": 25,
            "training.val_patches": 8,
        }
    )
    result = run_train(_images(demo), noise_model, settings, device="cpu")
    assert result.history.val_loss[-1] < result.history.val_loss[0]
    gains = _psnr_gain(result, demo, noise_model)
    print("blind-spot network PN2V PSNR gains (dB):", gains)
    assert min(gains) > 3.0, gains


# -------------------------------------------------------------------- reproducibility


def test_seeded_runs_are_reproducible(demo: DemoData, noise_model: HistogramNoiseModel) -> None:
    settings = _settings()
    a = run_train(_images(demo), noise_model, settings, device="cpu")
    b = run_train(_images(demo), noise_model, settings, device="cpu")
    assert _curves(a) == _curves(b)
    assert _same_weights(a.last_weights, b.last_weights)
    assert _same_weights(a.best_weights, b.best_weights)
    other = run_train(
        _images(demo), noise_model, settings.with_changes(**{"training.seed": 7}), device="cpu"
    )
    assert other.history.train_loss != a.history.train_loss
    assert not _same_weights(other.last_weights, a.last_weights)


def test_stack_and_list_of_frames_train_alike(demo: DemoData) -> None:
    settings = _settings("n2v", **{"training.epochs": 1})
    stack = run_train(demo.images, None, settings, device="cpu")
    frames = run_train(_images(demo), None, settings, device="cpu")
    assert _curves(stack) == _curves(frames)


def test_accumulate_splits_the_batch(demo: DemoData, noise_model: HistogramNoiseModel) -> None:
    settings = _settings(**{"training.epochs": 1, "training.accumulate": 2})
    result = run_train(_images(demo), noise_model, settings, device="cpu")
    assert result.epochs_done == 1 and math.isfinite(result.history.train_loss[0])


# ----------------------------------------------------------------- cancel and resume


def _cancel_after_first_epoch(settings: Settings, demo: DemoData, noise_model) -> TrainResult:
    token = CancelToken()

    def on_progress(report: TrainProgress) -> None:
        if report.epoch_finished:
            token.cancel()

    return run_train(
        _images(demo), noise_model, settings, cancel=token, on_progress=on_progress, device="cpu"
    )


def test_cancel_returns_partial_result(demo: DemoData, noise_model: HistogramNoiseModel) -> None:
    settings = _settings(**{"training.epochs": 3})
    result = _cancel_after_first_epoch(settings, demo, noise_model)
    assert result.stopped
    assert result.epochs_done == 1
    assert result.history.epoch == [1]
    assert len(result.history.val_loss) == 1
    network = UNet(depth=2, features=8, n_samples=16)
    network.load_state_dict(result.last_weights)  # complete and loadable
    network.load_state_dict(result.best_weights)
    assert {"optimizer", "scheduler", "sampler", "mask_generator"} <= set(result.checkpoint)


def test_cancel_before_start_returns_untrained(
    demo: DemoData, noise_model: HistogramNoiseModel
) -> None:
    token = CancelToken()
    token.cancel()
    result = run_train(_images(demo), noise_model, _settings(), cancel=token, device="cpu")
    assert result.stopped and result.epochs_done == 0 and result.history.epoch == []


@pytest.mark.parametrize(
    ("schedule", "bright"), [("plateau", 0.0), ("cosine", 0.0), ("cosine", 0.8)]
)
def test_resume_continues_exactly(
    schedule: str, bright: float, demo: DemoData, noise_model: HistogramNoiseModel
) -> None:
    """Cancel after epoch 1 of 3 and resume: the same as an uninterrupted run."""
    settings = _settings(
        **{
            "training.epochs": 3,
            "training.schedule": schedule,
            "training.bright_patches": bright,
        }
    )
    partial = _cancel_after_first_epoch(settings, demo, noise_model)
    resumed = run_train(_images(demo), noise_model, settings, resume=partial, device="cpu")
    assert not resumed.stopped and resumed.epochs_done == 3
    assert resumed.history.epoch == [1, 2, 3]
    assert not _same_weights(resumed.last_weights, partial.last_weights)
    straight = run_train(_images(demo), noise_model, settings, device="cpu")
    assert _curves(resumed) == _curves(straight)
    assert _same_weights(resumed.last_weights, straight.last_weights)
    # the partial result was not modified by resuming from it
    assert partial.history.epoch == [1]


def test_resume_with_more_epochs(demo: DemoData, noise_model: HistogramNoiseModel) -> None:
    settings = _settings(**{"training.epochs": 2})
    first = run_train(_images(demo), noise_model, settings, device="cpu")
    longer = settings.with_changes(**{"training.epochs": 4})
    reports: list[TrainProgress] = []
    second = run_train(
        _images(demo),
        noise_model,
        longer,
        resume=first,
        device="cpu",
        on_progress=reports.append,
    )
    assert second.epochs_done == 4
    assert second.history.epoch == [1, 2, 3, 4]
    assert second.history.train_loss[:2] == first.history.train_loss
    assert second.history.val_loss[:2] == first.history.val_loss
    elapsed = second.history.elapsed_s
    assert elapsed == sorted(elapsed) and elapsed[2] >= elapsed[1]
    assert not _same_weights(second.last_weights, first.last_weights)
    # the cosine schedule is stretched to the new length (it had reached 0 after epoch 2)
    assert first.history.learning_rate[-1] == pytest.approx(0.0, abs=1e-12)
    lr = settings.training.learning_rate
    expected = [lr * (1 + math.cos(math.pi * e / 4)) / 2 for e in (3, 4)]
    assert second.history.learning_rate[2:] == pytest.approx(expected, abs=1e-9)
    assert {r.epoch for r in reports} == {3, 4}
    assert reports[-1].fraction == pytest.approx(1.0)
    assert second.normalisation == first.normalisation


def test_resume_with_other_network_is_refused(
    demo: DemoData, noise_model: HistogramNoiseModel
) -> None:
    settings = _settings(**{"training.epochs": 1})
    first = run_train(_images(demo), noise_model, settings, device="cpu")
    for change in ({"network.features": 16}, {"network.n_samples": 8}, {"network.depth": 3}):
        other = _settings(**{"training.epochs": 2, **change})
        with pytest.raises(ConfigError):
            run_train(_images(demo), noise_model, other, resume=first, device="cpu")


# --------------------------------------------------------------------------- progress


def test_iter_train_progress(demo: DemoData, noise_model: HistogramNoiseModel) -> None:
    settings = _settings(**{"training.epochs": 2, "training.steps_per_epoch": 3})
    generator = iter_train(_images(demo), noise_model, settings, device="cpu")
    reports: list[TrainProgress] = []
    while True:
        try:
            reports.append(next(generator))
        except StopIteration as stop:
            result = stop.value
            break
    assert isinstance(result, TrainResult)
    assert all(isinstance(r, TrainProgress) for r in reports)
    finished = [r for r in reports if r.epoch_finished]
    assert [r.epoch for r in finished] == [1, 2]
    assert all(r.step == r.steps_per_epoch == 3 and r.epochs == 2 for r in finished)
    assert [r.val_loss for r in finished] == result.history.val_loss
    assert [r.train_loss for r in finished] == pytest.approx(result.history.train_loss)
    for r in reports:
        assert 1 <= r.epoch <= 2 and 1 <= r.step <= 3
        assert r.steps_per_s > 0
        assert math.isfinite(r.eta_s) and r.eta_s >= 0
        assert math.isfinite(r.train_loss)
        assert r.learning_rate > 0 or r is reports[-1]  # cosine reaches 0 at the end
        assert r.elapsed_s >= 0
        assert 0 < r.fraction <= 1
        if r.epoch == 1 and not r.epoch_finished:
            assert r.val_loss is None
    assert reports[-1].fraction == pytest.approx(1.0)
    assert reports[-1].eta_s == pytest.approx(0.0, abs=1e-9)
    fractions = [r.fraction for r in reports]
    assert fractions == sorted(fractions)
    elapsed = [r.elapsed_s for r in reports]
    assert elapsed == sorted(elapsed)


def test_cosine_schedule_decays(demo: DemoData) -> None:
    settings = _settings("n2v", **{"training.epochs": 3, "training.steps_per_epoch": 2})
    lrs = run_train(_images(demo), None, settings, device="cpu").history.learning_rate
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 3e-3 and lrs[-1] == pytest.approx(0)


# ----------------------------------------------------------------------------- errors


def test_pn2v_without_noise_model_is_a_config_error(demo: DemoData) -> None:
    with pytest.raises(ConfigError):
        run_train(_images(demo), None, _settings(), device="cpu")


def test_images_smaller_than_patch(noise_model: HistogramNoiseModel) -> None:
    small = np.full((20, 40), 150, np.uint16)
    with pytest.raises(InvalidImageError):
        run_train([small], noise_model, _settings(), device="cpu")
    with pytest.raises(InvalidImageError):
        run_train([], noise_model, _settings(), device="cpu")
    with pytest.raises(InvalidImageError):
        run_train([np.arange(100.0)], None, _settings("n2v"), device="cpu")


def test_data_outside_noise_model_range(demo: DemoData, noise_model: HistogramNoiseModel) -> None:
    bright = [image.astype(np.float32) + 5000 for image in demo.images]
    with pytest.raises(NoiseModelError) as info:
        run_train(bright, noise_model, _settings(), device="cpu")
    assert "outside" in info.value.message and info.value.hint
    result = run_train(
        bright,
        noise_model,
        _settings(**{"training.epochs": 1, "training.steps_per_epoch": 1}),
        device="cpu",
        allow_out_of_range=True,
    )
    assert result.epochs_done == 1
    assert any("outside" in w for w in result.warnings)
    # N2V has no noise model to check against
    run_train(bright, noise_model, _settings("n2v", **{"training.epochs": 1}), device="cpu")


def test_a_few_pixels_outside_range_only_warn(noise_model: HistogramNoiseModel) -> None:
    rng = np.random.default_rng(0)
    image = rng.poisson(150, (64, 64)).astype(np.float32)
    image[0, :10] = noise_model.high + 100  # 10 of 4096 pixels
    settings = _settings(**{"training.epochs": 1, "training.steps_per_epoch": 1})
    result = run_train([image], noise_model, settings, device="cpu")
    assert len(result.warnings) == 1 and "10 pixels" in result.warnings[0]


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:114] DefaultCPUAllocator: out of memory"),
        MemoryError(),
    ],
)
def test_out_of_memory_becomes_resource_error(
    error: BaseException,
    demo: DemoData,
    noise_model: HistogramNoiseModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(self, image, pixels):
        raise error

    monkeypatch.setattr(UNet, "samples_at", explode)
    with pytest.raises(ResourceError) as info:
        run_train(_images(demo), noise_model, _settings(), device="cpu")
    assert "memory" in info.value.message.lower()
    assert "batch size" in info.value.hint.lower()
    assert info.value.__cause__ is error
    assert info.value.exit_code == 3


def test_other_errors_are_not_disguised(
    demo: DemoData, noise_model: HistogramNoiseModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self, image, pixels):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(UNet, "samples_at", explode)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_train(_images(demo), noise_model, _settings(), device="cpu")


def test_divergence_is_reported(
    demo: DemoData, noise_model: HistogramNoiseModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Trainer, "step", lambda self: math.nan)
    with pytest.raises(ResourceError, match="diverged"):
        run_train(_images(demo), noise_model, _settings(), device="cpu")


# ------------------------------------------------------------------------ masked head


def test_samples_at_equals_forward_gathered() -> None:
    torch.manual_seed(0)
    network = UNet(depth=3, features=8, n_samples=12)
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(3, 1, 32, 40, generator=gen)
    pixels = stratified_pixels(3, 32, 40, 0.05, gen)
    with torch.no_grad():
        full = network(images)
        at = network.samples_at(images, pixels)
    assert at.shape == (len(pixels), 12)
    gathered = full[pixels.batch, :, pixels.y, pixels.x]
    assert torch.allclose(at, gathered, atol=1e-5, rtol=1e-5)
    # gradients agree too
    images.requires_grad_(True)
    (g1,) = torch.autograd.grad(network.samples_at(images, pixels).sum(), images)
    (g2,) = torch.autograd.grad(network(images)[pixels.batch, :, pixels.y, pixels.x].sum(), images)
    assert torch.allclose(g1, g2, atol=1e-5, rtol=1e-4)


def test_n2v_warmup_fits_the_mean_first(
    demo: DemoData, noise_model: HistogramNoiseModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pn2v_engine import training

    calls = {"mse": 0, "pn2v": 0}
    mse, pn2v = training.masked_mse, training.pn2v_loss

    def count_mse(*args, **kwargs):
        calls["mse"] += 1
        return mse(*args, **kwargs)

    def count_pn2v(*args, **kwargs):
        calls["pn2v"] += 1
        return pn2v(*args, **kwargs)

    monkeypatch.setattr(training, "masked_mse", count_mse)
    monkeypatch.setattr(training, "pn2v_loss", count_pn2v)
    settings = _settings(**{"training.n2v_warmup": 0.5, "training.epochs": 2})
    steps = settings.training.steps_per_epoch
    result = run_train(_images(demo), noise_model, settings)
    assert result.epochs_done == 2
    # the first half of the steps use the N2V loss on the samples' mean; validation is PN2V
    assert calls["mse"] == steps
    assert calls["pn2v"] >= steps


def test_output_scale_multiplies_the_samples() -> None:
    torch.manual_seed(0)
    plain = UNet(depth=2, features=8, n_samples=4)
    scaled = UNet(depth=2, features=8, n_samples=4, output_scale=10.0)
    scaled.load_state_dict(plain.state_dict())
    image = torch.randn(1, 1, 16, 16)
    torch.testing.assert_close(scaled(image), plain(image) * 10.0)


# ---------------------------------------------------------------------- live preview


def _reports(images, noise_model, settings: Settings, **kwargs) -> tuple[list, TrainResult]:
    reports: list[TrainProgress] = []
    result = run_train(
        images, noise_model, settings, device="cpu", on_progress=reports.append, **kwargs
    )
    return reports, result


def _denoised(result: TrainResult, noise_model, crop: np.ndarray) -> np.ndarray:
    """The crop as a user denoises it after the run, with the last weights."""
    denoiser = Denoiser(
        result.settings, result.last_weights, result.normalisation, noise_model, "cpu"
    )
    return run_predict(denoiser, crop).mmse


def test_preview_comes_at_the_right_epochs(demo: DemoData) -> None:
    settings = _settings("n2v", **{"training.epochs": 5, "training.steps_per_epoch": 1})
    crop = demo.images[0][10:55, 20:70]  # 45x50: not a multiple of the network's grid
    reports, result = _reports(_images(demo), None, settings, preview=crop, preview_every=2)
    with_preview = [r for r in reports if r.preview is not None]
    # every 2nd epoch and the last, on the report that finishes the epoch only
    assert [r.epoch for r in with_preview] == [2, 4, 5]
    assert all(r.epoch_finished for r in with_preview)
    assert [r.epoch for r in reports if r.epoch_finished] == [1, 2, 3, 4, 5]
    for r in with_preview:
        assert r.preview.shape == crop.shape and r.preview.dtype == np.float32
        assert np.isfinite(r.preview).all()
    assert not np.array_equal(with_preview[0].preview, with_preview[-1].preview)
    # the last preview is what prediction gives with the final weights
    np.testing.assert_allclose(
        with_preview[-1].preview, _denoised(result, None, crop), rtol=1e-5, atol=1e-3
    )
    # without a crop there is no preview
    plain, _ = _reports(_images(demo), None, settings.with_changes(**{"training.epochs": 1}))
    assert all(r.preview is None for r in plain)


def test_preview_denoises_the_crop(demo: DemoData, noise_model: HistogramNoiseModel) -> None:
    settings = _settings(
        **{
            "network.features": 16,
            "network.n_samples": 32,
            "training.batch_size": 8,
            "training.epochs": 4,
            "training.steps_per_epoch": 25,
        }
    )
    crop, clean = demo.images[0][:64, :64], demo.ground_truth[0][:64, :64]
    reports, result = _reports(_images(demo), noise_model, settings, preview=crop)
    previews = [r.preview for r in reports if r.preview is not None]
    assert [r.epoch for r in reports if r.preview is not None] == [1, 2, 3, 4]
    gains = [psnr(clean, preview) - psnr(clean, crop) for preview in previews]
    assert gains[-1] > 2.0 and gains[-1] > gains[0], gains  # about 4.4 dB after 4 epochs
    # the MMSE of the prediction code, with the run's noise model
    np.testing.assert_allclose(
        previews[-1], _denoised(result, noise_model, crop), rtol=1e-5, atol=1e-3
    )


def test_preview_leaves_training_unchanged(
    demo: DemoData, noise_model: HistogramNoiseModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(**{"training.epochs": 3, "training.steps_per_epoch": 2})
    plain = run_train(_images(demo), noise_model, settings, device="cpu")
    plain_rng = torch.random.get_rng_state()
    modes: list[bool] = []
    step = _Trainer.step

    def checked_step(self: _Trainer) -> float:
        modes.append(self.network.training)
        return step(self)

    monkeypatch.setattr(_Trainer, "step", checked_step)
    reports, previewed = _reports(
        _images(demo), noise_model, settings, preview=demo.images[1][:32, :48]
    )
    assert sum(r.preview is not None for r in reports) == 3
    # torch's global generator is where it would be without the preview
    assert torch.equal(torch.random.get_rng_state(), plain_rng)
    assert modes == [True] * 6  # the training network stays in train mode
    assert _curves(previewed) == _curves(plain)
    assert _same_weights(previewed.last_weights, plain.last_weights)
    assert _same_weights(previewed.best_weights, plain.best_weights)
    assert torch.equal(previewed.checkpoint["mask_generator"], plain.checkpoint["mask_generator"])


@pytest.mark.parametrize(
    ("crop", "every", "words"),
    [
        (np.zeros((2, 32, 32)), 1, "2-D"),
        (np.zeros(32), 1, "2-D"),
        (np.full((32, 32), np.nan), 1, "NaN"),
        (np.array([[np.inf] * 32] * 32), 1, "infinite"),
        (np.zeros((3, 64)), 1, "smaller"),
        (np.array([["a"] * 32] * 32), 1, "type"),
        (np.zeros((32, 32)), 0, "interval"),
    ],
)
def test_preview_crop_is_checked(crop: np.ndarray, every: int, words: str, demo: DemoData) -> None:
    settings = _settings("n2v", **{"network.depth": 3})
    with pytest.raises(ConfigError, match=words) as info:
        run_train(_images(demo), None, settings, device="cpu", preview=crop, preview_every=every)
    assert info.value.hint


def test_large_batches_train_in_cache_sized_passes_on_the_cpu() -> None:
    paper, cpu = preset("paper"), preset("cpu")
    assert passes_per_step(paper, torch.device("cpu")) == 8  # 10 patches of 100² a pass
    assert passes_per_step(paper, torch.device("cuda")) == 1  # a GPU takes the batch at once
    assert passes_per_step(cpu, torch.device("cpu")) == 1  # 16 x 64² fits
    odd = paper.with_changes(**{"training.batch_size": 7, "training.patch_size": 512})
    assert passes_per_step(odd, torch.device("cpu")) == 7  # one patch a pass at the least
    more = paper.with_changes(**{"training.accumulate": 16})
    assert passes_per_step(more, torch.device("cpu")) == 16  # never fewer than asked


def test_passes_split_the_batch(
    demo: DemoData, noise_model: HistogramNoiseModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    samples_at = UNet.samples_at

    def record(self, image, pixels):
        if self.training:
            batches.append(image.shape[0])
        return samples_at(self, image, pixels)

    monkeypatch.setattr(UNet, "samples_at", record)
    monkeypatch.setattr("pn2v_engine.training.CPU_PASS_PIXELS", 2 * 32 * 32)
    settings = _settings(**{"training.epochs": 1, "training.steps_per_epoch": 2})
    whole = run_train(_images(demo), noise_model, settings, device="cpu")
    assert batches == [2, 2, 2, 2]  # two steps of a batch of 4 in passes of 2 patches
    assert math.isfinite(whole.history.train_loss[0])
