"""Tests for pn2v_engine.demo, the simulated demo microscope."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pn2v_engine.demo import (
    Camera,
    DemoData,
    gaussian_blur,
    make_demo_data,
    write_demo_data,
)
from pn2v_engine.metrics import psnr


@pytest.fixture(scope="module")
def data() -> DemoData:
    return make_demo_data(seed=0, size=128, n_calibration=40, n_images=3)


# ------------------------------------------------------------------------- camera


def test_camera_defaults() -> None:
    cam = Camera()
    assert (cam.gain, cam.offset, cam.read_noise, cam.bit_depth) == (2.0, 100.0, 1.6, 12)
    assert cam.quantum_efficiency == 0.8
    assert cam.saturation == 4095


def test_camera_expose_statistics() -> None:
    cam = Camera()
    rng = np.random.default_rng(0)
    photons = np.full((200, 200), 50.0, dtype=np.float32)
    frame = cam.expose(photons, rng)
    assert frame.dtype == np.uint16
    assert frame.shape == photons.shape
    expected = cam.expected_adu(photons)
    assert expected.dtype == np.float32
    assert float(expected[0, 0]) == pytest.approx(100 + 2 * 0.8 * 50)
    mean = frame.mean()
    var = frame.var(ddof=1)
    model_var = cam.gain * (expected[0, 0] - cam.offset) + cam.gain**2 * cam.read_noise**2
    assert mean == pytest.approx(expected[0, 0], abs=4 * float(np.sqrt(model_var / frame.size)))
    assert var == pytest.approx(model_var, rel=0.03)


def test_camera_clips_to_bit_depth() -> None:
    cam = Camera(bit_depth=10, offset=5.0, read_noise=3.0)
    rng = np.random.default_rng(0)
    frame = cam.expose(np.array([[0.0, 1e6]]), rng)
    assert frame.dtype == np.uint16
    assert frame[0, 1] == 1023
    assert frame.min() >= 0


def test_camera_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Camera(bit_depth=17)
    with pytest.raises(ValueError):
        Camera(gain=0.0)
    with pytest.raises(ValueError):
        Camera().expose(np.array([-1.0]), np.random.default_rng(0))


# ------------------------------------------------------------------- gaussian_blur


def test_gaussian_blur_keeps_constant_and_sum() -> None:
    flat = np.full((40, 50), 7.0, dtype=np.float32)
    np.testing.assert_allclose(gaussian_blur(flat, 3.0), flat, rtol=1e-5)
    spot = np.zeros((64, 64), dtype=np.float32)
    spot[32, 32] = 1.0
    blurred = gaussian_blur(spot, 2.0)
    assert blurred.sum() == pytest.approx(1.0, rel=1e-4)
    assert blurred[32, 32] == pytest.approx(1 / (2 * np.pi * 4.0), rel=0.02)
    assert blurred[0, 0] < 1e-6  # nothing wraps around


# --------------------------------------------------------------------- demo data


def test_shapes_and_dtypes(data: DemoData) -> None:
    assert data.calibration.shape == (40, 128, 128)
    assert data.calibration.dtype == np.uint16
    assert data.images.shape == (3, 128, 128)
    assert data.images.dtype == np.uint16
    assert data.ground_truth.shape == (3, 128, 128)
    assert data.ground_truth.dtype == np.float32
    assert data.calibration_ground_truth is not None
    assert data.calibration_ground_truth.shape == (128, 128)
    assert data.calibration_ground_truth.dtype == np.float32
    assert data.camera == Camera()


def test_deterministic_by_seed() -> None:
    a = make_demo_data(seed=5, size=48, n_calibration=3, n_images=2)
    b = make_demo_data(seed=5, size=48, n_calibration=3, n_images=2)
    c = make_demo_data(seed=6, size=48, n_calibration=3, n_images=2)
    np.testing.assert_array_equal(a.calibration, b.calibration)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.ground_truth, b.ground_truth)
    assert not np.array_equal(a.images, c.images)
    assert not np.allclose(a.ground_truth, c.ground_truth)


def test_images_show_different_content(data: DemoData) -> None:
    # Compare the fine structure (ground truth minus its blur): unrelated fields of cells.
    detail = np.stack([g - gaussian_blur(g, 4.0) for g in data.ground_truth])
    corr = np.corrcoef(detail.reshape(len(detail), -1))
    off_diagonal = corr[~np.eye(len(detail), dtype=bool)]
    assert np.all(np.abs(off_diagonal) < 0.5)
    # and the images have structure, not just a flat background
    assert all(g.std() > 5.0 for g in data.ground_truth)


def test_custom_camera_is_used() -> None:
    cam = Camera(gain=1.0, offset=500.0, read_noise=1.0, bit_depth=16)
    d = make_demo_data(seed=1, size=32, n_calibration=2, n_images=1, camera=cam)
    assert d.camera is cam
    assert d.ground_truth.min() > 500.0


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        make_demo_data(size=8)
    with pytest.raises(ValueError):
        make_demo_data(size=32, n_calibration=0)


def test_calibration_is_static_scene(data: DemoData) -> None:
    cam = data.camera
    truth = data.calibration_ground_truth
    assert truth is not None
    frames = data.calibration.astype(np.float64)
    n = frames.shape[0]
    mean = frames.mean(axis=0)
    var = frames.var(axis=0, ddof=1)
    model_var = cam.gain * (truth - cam.offset) + cam.gain**2 * cam.read_noise**2
    # Temporal mean agrees with the expected ADU of the scene, within its standard error.
    z = (mean - truth) / np.sqrt(model_var / n)
    assert abs(z.mean()) < 0.05
    assert z.std() == pytest.approx(1.0, rel=0.1)
    # Temporal variance follows the Poisson-Gaussian model on bins of signal level.
    edges = np.quantile(truth, np.linspace(0, 1, 11))
    checked = 0
    for lo, hi in itertools.pairwise(edges):
        sel = (truth >= lo) & (truth < hi)
        if sel.sum() < 200:
            continue
        level = mean[sel].mean()
        expected = cam.gain * (level - cam.offset) + cam.gain**2 * cam.read_noise**2
        assert var[sel].mean() == pytest.approx(expected, rel=0.1)
        checked += 1
    assert checked >= 5


def test_calibration_covers_image_range(data: DemoData) -> None:
    truth = data.calibration_ground_truth
    assert truth is not None
    p1, p99 = np.percentile(data.ground_truth, [1, 99])
    assert truth.min() <= p1
    assert truth.max() >= p99
    assert truth.max() > data.ground_truth.max()  # slightly exceeds the brightest image
    temporal_mean = data.calibration.mean(axis=0)
    assert temporal_mean.min() <= p1
    assert temporal_mean.max() >= p99
    # smooth coverage: every level between background and bright is well populated
    counts, _ = np.histogram(truth, bins=20, range=(p1, p99))
    assert counts.min() >= 50
    # brightest region well below saturation
    assert data.calibration.max() < data.camera.saturation


def test_images_are_noisy_but_not_saturated(data: DemoData) -> None:
    for truth, image in zip(data.ground_truth, data.images, strict=True):
        value = psnr(truth, image.astype(np.float32))
        assert 20.0 <= value <= 28.0
    assert np.mean(data.images >= data.camera.saturation) < 1e-4
    assert np.mean(data.images == 0) < 1e-4


def test_default_size_is_fast() -> None:
    start = time.perf_counter()
    d = make_demo_data(size=256, n_calibration=50)
    elapsed = time.perf_counter() - start
    assert d.calibration.shape == (50, 256, 256)
    assert d.images.shape == (4, 256, 256)
    assert elapsed < 5.0  # typically ~0.3 s; generous for slow CI machines


# ------------------------------------------------------------------ write_demo_data


def test_write_demo_data_round_trip(tmp_path: Path) -> None:
    d = make_demo_data(seed=2, size=40, n_calibration=5, n_images=2)
    folder = tmp_path / "demo"
    files = write_demo_data(folder, d)
    assert files.folder == folder
    assert files.calibration_stack == folder / "calibration" / "field_diaphragm.tif"
    assert files.images == [folder / "images" / f"cells_0{i}.tif" for i in (1, 2)]
    assert files.ground_truth == [folder / "ground_truth" / f"cells_0{i}.tif" for i in (1, 2)]

    with tifffile.TiffFile(files.calibration_stack) as tif:
        assert tif.is_imagej
        stack = tif.asarray()
    np.testing.assert_array_equal(stack, d.calibration)
    assert stack.dtype == np.uint16
    for i, (image_path, truth_path) in enumerate(
        zip(files.images, files.ground_truth, strict=True)
    ):
        image = tifffile.imread(image_path)
        truth = tifffile.imread(truth_path)
        assert image.dtype == np.uint16
        assert truth.dtype == np.float32
        np.testing.assert_array_equal(image, d.images[i])
        np.testing.assert_array_equal(truth, d.ground_truth[i])

    readme = (folder / "README.txt").read_text(encoding="utf-8")
    assert "gain" in readme and "offset" in readme and "read noise" in readme
    assert "scoring" in readme


def test_write_demo_data_keeps_unrelated_files(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    (folder / "images").mkdir(parents=True)
    notes = folder / "my_notes.txt"
    notes.write_text("keep me")
    extra = folder / "images" / "mine.tif"
    tifffile.imwrite(extra, np.ones((4, 4), np.uint16))
    d = make_demo_data(seed=3, size=24, n_calibration=2, n_images=1)
    write_demo_data(folder, d)
    files = write_demo_data(folder, d)  # writing the same files again is fine
    assert notes.read_text() == "keep me"
    np.testing.assert_array_equal(tifffile.imread(extra), np.ones((4, 4), np.uint16))
    np.testing.assert_array_equal(tifffile.imread(files.images[0]), d.images[0])


def test_write_demo_data_generates_from_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pn2v_engine.demo as demo

    calls: list[int] = []
    original = demo.make_demo_data

    def small(seed: int = 0, **_: object) -> DemoData:
        calls.append(seed)
        return original(seed=seed, size=24, n_calibration=2, n_images=1)

    monkeypatch.setattr(demo, "make_demo_data", small)
    files = write_demo_data(tmp_path / "d", seed=7)
    assert calls == [7]
    np.testing.assert_array_equal(
        tifffile.imread(files.images[0]),
        original(seed=7, size=24, n_calibration=2, n_images=1).images[0],
    )
    assert "seed 7" in (tmp_path / "d" / "README.txt").read_text(encoding="utf-8")
