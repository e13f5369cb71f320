"""Tests for pn2v_engine.calibration: histogram noise models from calibration frames."""

from __future__ import annotations

import json
import logging
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from pn2v_engine.calibration import (
    CalibrationResult,
    CalibrationSummary,
    iter_calibrate,
    iter_calibrate_pairs,
    run_calibrate,
    run_calibrate_pairs,
)
from pn2v_engine.calibration.checks import range_warning
from pn2v_engine.calibration.matching import fit_intensity_line, needs_mapping
from pn2v_engine.calibration.sources import image_io
from pn2v_engine.demo import Camera, DemoData, make_demo_data
from pn2v_engine.errors import CalibrationError, ConfigError, InvalidImageError
from pn2v_engine.noise_models import load_noise_model
from pn2v_engine.progress import Cancelled, CancelToken, StageProgress

N_FRAMES = 30


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return make_demo_data(seed=0, size=96, n_calibration=N_FRAMES, n_images=1)


@pytest.fixture(scope="module")
def result(demo: DemoData) -> CalibrationResult:
    return run_calibrate(demo.calibration)


def _density(model) -> np.ndarray:  # type: ignore[no-untyped-def]
    return model.density.cpu().numpy()


def _flat_frames(n: int, size: int, photons: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return Camera().expose(np.full((n, size, size), photons), rng)


# ------------------------------------------------------------------------------ signal


def test_signal_is_mean_of_frames(demo: DemoData, result: CalibrationResult) -> None:
    reference = demo.calibration.astype(np.float64).mean(axis=0)
    assert result.signal.dtype == np.float32
    assert result.signal.shape == reference.shape
    np.testing.assert_allclose(result.signal, reference, rtol=1e-6)


def test_summary(demo: DemoData, result: CalibrationResult) -> None:
    s = result.summary
    assert isinstance(s, CalibrationSummary)
    assert s.frames == N_FRAMES
    assert s.shape == (96, 96)
    assert s.dtype == "uint16"
    mean = demo.calibration.astype(np.float64).mean(axis=0)
    assert s.signal_range == pytest.approx((mean.min(), mean.max()))
    assert s.observation_range == (demo.calibration.min(), demo.calibration.max())
    assert s.saturated_pixels == 0
    assert s.warnings == []  # a good calibration (30 frames) raises no warning
    assert len(s.counts_per_bin) == result.noise_model.bins
    assert sum(s.counts_per_bin) == N_FRAMES * 96 * 96
    data = s.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert result.noise_model.metadata["calibration"] == data


def test_model_round_trips_with_summary(result: CalibrationResult, tmp_path: Path) -> None:
    path = result.noise_model.save(tmp_path / "model.npz")
    loaded = load_noise_model(path)
    assert loaded.metadata["calibration"] == result.summary.to_dict()


def test_sequence_of_frames_equals_stack(demo: DemoData, result: CalibrationResult) -> None:
    other = run_calibrate(list(demo.calibration))
    np.testing.assert_array_equal(other.signal, result.signal)
    np.testing.assert_array_equal(_density(other.noise_model), _density(result.noise_model))


def test_files_give_the_same_model(
    demo: DemoData, result: CalibrationResult, tmp_path: Path
) -> None:
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, demo.calibration, imagej=True, metadata={"axes": "TYX"})
    folder = tmp_path / "frames"
    folder.mkdir()
    singles = []
    for i, frame in enumerate(demo.calibration):
        singles.append(folder / f"frame_{i}.tif")
        tifffile.imwrite(singles[-1], frame)
    from_stack = run_calibrate([stack])
    from_singles = run_calibrate(singles)
    from_folder = run_calibrate([folder])  # natural order, same frames
    from_str = run_calibrate(str(stack))
    for other in (from_stack, from_singles, from_folder, from_str):
        assert other.summary.frames == N_FRAMES
        np.testing.assert_array_equal(other.signal, result.signal)
        np.testing.assert_array_equal(_density(other.noise_model), _density(result.noise_model))
        assert other.summary == result.summary


def test_integer_valued_floats_use_integer_bins(demo: DemoData, result: CalibrationResult) -> None:
    other = run_calibrate(demo.calibration.astype(np.float32))
    assert other.noise_model.bins == result.noise_model.bins
    assert other.noise_model.low == result.noise_model.low
    np.testing.assert_allclose(_density(other.noise_model), _density(result.noise_model))


# ------------------------------------------------------------------------------ model


def test_histogram_matches_poisson_gaussian(demo: DemoData) -> None:
    """Rows of the measured histogram follow the simulated camera's Poisson-Gaussian noise."""
    model = run_calibrate(demo.calibration, bins=64).noise_model  # 4 ADU per bin
    cam = demo.camera
    counts = model.row_counts()
    assert counts is not None
    centres = model.bin_centres
    edges = model.low + model.width * np.arange(model.bins + 1)
    # well-populated rows on the ramp and the plateau (the lowest rows hold the
    # background, whose signals are not centred in their bins)
    rows = np.flatnonzero((counts >= 3000) & (centres >= 110))
    assert centres[rows].max() - centres[rows].min() > 100
    for i in rows:
        s = centres[i]
        sd = np.sqrt(cam.gain * (s - cam.offset) + cam.gain**2 * cam.read_noise**2)
        columns = np.flatnonzero(np.abs(centres - s) <= sd)
        x = torch.tensor(centres[columns])
        measured = model.likelihood(x, torch.full(x.shape, s)).numpy()
        cdf = torch.special.ndtr(torch.tensor((edges - s) / sd)).numpy()
        analytic = np.diff(cdf)[columns] / model.width  # mean density over each bin
        np.testing.assert_allclose(measured, analytic, rtol=0.25)
        assert measured.mean() == pytest.approx(analytic.mean(), rel=0.1)


def test_rows_are_distributions(result: CalibrationResult) -> None:
    model = result.noise_model
    np.testing.assert_allclose(_density(model).sum(axis=1) * model.width, 1.0, rtol=1e-5)


def test_value_range_and_bins(demo: DemoData) -> None:
    r = run_calibrate(demo.calibration, bins=64, value_range=(0.0, 1023.0))
    assert (r.noise_model.low, r.noise_model.high) == (-0.5, 1023.5)
    assert r.noise_model.bins == 64
    assert not any("outside" in w for w in r.summary.warnings)
    narrow = run_calibrate(demo.calibration, value_range=(120.0, 200.0))
    assert any("outside the chosen histogram range" in w for w in narrow.summary.warnings)
    with pytest.raises(ConfigError):
        run_calibrate(demo.calibration, bins=1)
    with pytest.raises(ConfigError):
        run_calibrate(demo.calibration, value_range=(5.0, 5.0))


# ------------------------------------------------------------------------------ streaming


def test_files_are_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n, size = 200, 128
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, _flat_frames(n, size, 40.0) + np.arange(size, dtype=np.uint16))
    calls = []
    original = image_io.read_frames

    def spy(paths):  # type: ignore[no-untyped-def]
        calls.append(list(paths))
        for frame in original(paths):
            assert frame.ndim == 2
            yield frame

    monkeypatch.setattr(image_io, "read_frames", spy)
    tracemalloc.start()
    try:
        # the mixture fit's sample is bounded by MAX_PAIRS, not by the stack: left out here
        r = run_calibrate([stack], bins=64, smooth=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.summary.frames == n
    assert len(calls) == 2  # two passes, both from disk
    raw_stack = n * size * size * 2  # the whole stack in uint16 (float64: 4 times more)
    assert peak < raw_stack / 2, f"peak {peak} bytes vs {raw_stack} for the raw stack"


# ------------------------------------------------------------------------------ warnings


def test_few_frames_warn(demo: DemoData, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pn2v_engine.calibration"):
        r = run_calibrate(demo.calibration[:5])
    assert any("Only 5 calibration frames" in w for w in r.summary.warnings)
    assert any("Only 5 calibration frames" in m for m in caplog.messages)


def test_moving_scene_warns(demo: DemoData) -> None:
    moved = demo.calibration.copy()
    moved[N_FRAMES // 2 :] = np.roll(moved[N_FRAMES // 2 :], 3, axis=2)
    warnings = run_calibrate(moved).summary.warnings
    assert any("scene changed" in w for w in warnings)
    assert not any("brightness rose" in w or "brightness fell" in w for w in warnings)


def test_drift_warns(demo: DemoData) -> None:
    scale = np.linspace(1.0, 1.1, N_FRAMES)[:, None, None]
    drifting = np.rint(demo.calibration * scale).astype(np.uint16)
    warnings = run_calibrate(drifting).summary.warnings
    assert any("brightness rose by" in w for w in warnings)
    assert not any("scene changed" in w for w in warnings)
    fading = np.rint(demo.calibration / scale).astype(np.uint16)
    assert any("brightness fell by" in w for w in run_calibrate(fading).summary.warnings)


def test_thin_calibration_warns() -> None:
    frames = _flat_frames(4, 48, 40.0) + np.arange(48, dtype=np.uint16) * 8
    thin = run_calibrate(frames, smooth=False).summary.warnings  # 9,216 readings
    assert any("too few to trust" in w and "9216 readings" in w for w in thin)
    enough = run_calibrate(np.concatenate([frames, frames + 1]), smooth=False)
    assert not any("too few to trust" in w for w in enough.summary.warnings)


def test_narrow_range_warns() -> None:
    flat = _flat_frames(100, 32, 50.0)
    warnings = run_calibrate(flat).summary.warnings
    assert any("narrow range of brightness" in w and "diaphragm" in w for w in warnings)


def test_few_populated_bins_warn() -> None:
    counts = np.zeros(256, np.int64)
    counts[:10] = 1000
    warning = range_warning((0.0, 100.0), (0.0, 120.0), counts)
    assert warning is not None and "only 10 brightness levels" in warning
    counts[:20] = 1000
    assert range_warning((0.0, 100.0), (0.0, 120.0), counts) is None


def test_saturation_is_counted_and_warns(demo: DemoData) -> None:
    frames = demo.calibration.copy()
    frames[:, :20, :20] = 4095  # a 12-bit camera stored as uint16
    frames[: N_FRAMES // 2 - 1, 20, :20] = 4095  # saturated in fewer than half the frames
    r = run_calibrate(frames)
    assert r.summary.saturated_pixels == 400
    assert any("saturated" in w and "exposure" in w for w in r.summary.warnings)
    eight_bit = (demo.calibration // 2).astype(np.uint8)
    eight_bit[:, :5, :5] = 255
    assert run_calibrate(eight_bit).summary.saturated_pixels == 25
    assert run_calibrate(demo.calibration).summary.saturated_pixels == 0


def test_identical_frames_warn(demo: DemoData) -> None:
    copies = np.repeat(demo.calibration[:1], 20, axis=0)
    warnings = run_calibrate(copies).summary.warnings
    assert any("identical" in w for w in warnings)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("sources", [[], np.zeros((0, 16, 16), np.uint16), None])
def test_no_frames(sources: object) -> None:
    with pytest.raises(CalibrationError, match="No calibration frames"):
        run_calibrate(sources)  # type: ignore[arg-type]


def test_single_frame(demo: DemoData, tmp_path: Path) -> None:
    one = tmp_path / "one.tif"
    tifffile.imwrite(one, demo.calibration[0])
    for sources in (demo.calibration[:1], demo.calibration[0], [demo.calibration[0]], [one]):
        with pytest.raises(CalibrationError, match="one frame cannot give a noise model") as e:
            run_calibrate(sources)
        assert "100 is ideal" in e.value.hint


def test_mismatched_shapes(demo: DemoData, tmp_path: Path) -> None:
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    tifffile.imwrite(a, demo.calibration[:4], photometric="minisblack")
    tifffile.imwrite(b, demo.calibration[:4, :80, :90], photometric="minisblack")
    with pytest.raises(InvalidImageError) as e:
        run_calibrate([a, b])
    assert "(96, 96)" in e.value.message and "(80, 90)" in e.value.message
    frames = [demo.calibration[:2], demo.calibration[2], demo.calibration[3, :80, :90]]
    with pytest.raises(CalibrationError) as e2:
        run_calibrate(frames)
    assert "(96, 96)" in e2.value.message and "(80, 90)" in e2.value.message


def test_not_finite(demo: DemoData, tmp_path: Path) -> None:
    frames = demo.calibration.astype(np.float32)
    frames[3, 5, 5] = np.nan
    with pytest.raises(CalibrationError, match="NaN or infinite"):
        run_calibrate(frames)
    frames[3, 5, 5] = np.inf
    with pytest.raises(CalibrationError, match="NaN or infinite"):
        run_calibrate(list(frames))
    path = tmp_path / "nan.tif"
    tifffile.imwrite(path, frames)
    with pytest.raises(InvalidImageError, match="not finite"):
        run_calibrate([path])


# ------------------------------------------------------------------------------ progress


def test_progress_reports(demo: DemoData, tmp_path: Path) -> None:
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, demo.calibration)
    reports = []
    run_calibrate([stack], on_progress=reports.append)
    assert all(isinstance(r, StageProgress) for r in reports)
    stages = [r.stage for r in reports]
    assert stages[0] == "averaging" and stages[-1] == "smoothing"
    order = ["averaging", "histogram", "smoothing"]
    assert stages == sorted(stages, key=order.index)  # each stage done before the next
    frames = [r for r in reports if r.stage != "smoothing"]
    assert all(r.total == N_FRAMES for r in frames)  # counted from the file header
    last = {r.stage: r for r in reports}
    assert last["averaging"].done == last["histogram"].done == N_FRAMES
    assert last["smoothing"].done == last["smoothing"].total > 0  # fitting steps


def test_cancel(demo: DemoData) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_calibrate(demo.calibration, cancel=token)
    token = CancelToken()
    generator = iter_calibrate(demo.calibration, cancel=token)
    assert next(generator).stage == "averaging"
    token.cancel()
    with pytest.raises(Cancelled):
        for _ in generator:
            pass


# ------------------------------------------------------------------------------ pairs


def test_pairs(demo: DemoData, result: CalibrationResult) -> None:
    truth = demo.calibration_ground_truth
    assert truth is not None
    reports: list[StageProgress] = []
    r = run_calibrate_pairs(truth, demo.calibration, on_progress=reports.append)
    assert {p.stage for p in reports} == {"checking", "histogram", "smoothing"}
    np.testing.assert_array_equal(r.signal, truth)
    assert r.summary.frames == N_FRAMES
    assert r.summary.signal_range == pytest.approx((truth.min(), truth.max()))
    assert r.summary.warnings == []
    model = r.noise_model
    np.testing.assert_allclose(_density(model).sum(axis=1) * model.width, 1.0, rtol=1e-5)
    # the same camera: same noise as the averaged calibration near the background
    s = torch.full((5,), 104.0)
    x = torch.arange(100.0, 110.0, 2.0)
    np.testing.assert_allclose(
        model.likelihood(x, s).numpy(), result.noise_model.likelihood(x, s).numpy(), rtol=0.2
    )
    as_list = run_calibrate_pairs(truth, [demo.calibration[:10], *demo.calibration[10:]])
    np.testing.assert_array_equal(_density(as_list.noise_model), _density(model))
    single = run_calibrate_pairs(truth, demo.calibration[0])
    assert single.summary.frames == 1
    line = r.summary.intensity_line
    assert line is not None and not line["applied"]
    assert line["gain"] == pytest.approx(1.0, abs=0.01)


def test_pairs_map_a_clean_image_off_the_noisy_scale(demo: DemoData) -> None:
    truth = demo.calibration_ground_truth
    assert truth is not None
    on_scale = run_calibrate_pairs(truth, demo.calibration)
    exported = 0.8 * truth - 5.0  # e.g. rescaled and background-subtracted elsewhere
    r = run_calibrate_pairs(exported, demo.calibration)
    line = r.summary.intensity_line
    assert line is not None and line["applied"]
    assert line["gain"] == pytest.approx(1 / 0.8, rel=0.01)
    assert line["offset"] == pytest.approx(5 / 0.8, abs=1.0)
    np.testing.assert_allclose(r.signal, truth, rtol=0.01)
    assert any("--keep-clean-scale" in w for w in r.summary.warnings)
    s = torch.full((5,), 104.0)
    x = torch.arange(100.0, 110.0, 2.0)
    np.testing.assert_allclose(
        r.noise_model.likelihood(x, s).numpy(),
        on_scale.noise_model.likelihood(x, s).numpy(),
        rtol=0.1,
    )
    assert r.noise_model.metadata["calibration"]["intensity_line"]["applied"] is True
    kept = run_calibrate_pairs(exported, demo.calibration, match_intensity=False)
    assert kept.summary.intensity_line is None
    assert kept.summary.warnings == []
    np.testing.assert_array_equal(kept.signal, exported.astype(np.float32))


def test_intensity_line_leaves_saturated_bins_out() -> None:
    rng = np.random.default_rng(0)
    signal = rng.uniform(0, 300, size=(256, 256))
    readings = np.minimum(np.round(1.1 * signal + 3 + rng.normal(0, 4, signal.shape)), 255)
    line = fit_intensity_line(signal, readings, readings**2, 1, float(readings.max()))
    assert line is not None
    assert line.gain == pytest.approx(1.1, rel=0.01)
    assert line.offset == pytest.approx(3, abs=0.5)
    assert needs_mapping(line, 0, 300)
    assert (
        fit_intensity_line(np.zeros((8, 8)), readings[:8, :8], readings[:8, :8] ** 2, 1, 255)
        is None
    )


def test_pairs_refuse_mismatched_shapes(demo: DemoData) -> None:
    truth = demo.calibration_ground_truth
    assert truth is not None
    with pytest.raises(CalibrationError) as e:
        run_calibrate_pairs(truth, demo.calibration[:, :80, :90])
    assert "(96, 96)" in e.value.message and "(80, 90)" in e.value.message
    with pytest.raises(CalibrationError, match="No noisy images"):
        run_calibrate_pairs(truth, [])
    bad = truth.copy()
    bad[0, 0] = np.nan
    with pytest.raises(CalibrationError, match="NaN or infinite"):
        run_calibrate_pairs(bad, demo.calibration)
    generator = iter_calibrate_pairs(truth, demo.calibration)
    assert isinstance(next(generator), StageProgress)
