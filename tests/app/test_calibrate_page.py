"""The Calibrate page builds, shows, loads, estimates and exports noise models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.pages.calibrate import CalibratePage
from pn2v_engine import make_demo_data


@pytest.fixture(scope="module")
def demo():
    return make_demo_data(seed=3, size=64, n_calibration=12, n_images=2)


@pytest.fixture
def stack(tmp_path: Path, demo) -> Path:
    path = tmp_path / "calibration.tif"
    tifffile.imwrite(path, demo.calibration, imagej=True, metadata={"axes": "TYX"})
    return path


@pytest.fixture
def page(qtbot, context) -> CalibratePage:
    page = CalibratePage(context)
    qtbot.addWidget(page)
    page.resize(1200, 800)
    return page


def drop(widget, paths: list[Path]) -> None:
    """Send ``widget`` the drop a file manager would send."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    widget.dropEvent(event)


def build(qtbot, page: CalibratePage) -> None:
    with qtbot.waitSignal(
        page.context.busy_changed, timeout=120_000, check_params_cb=lambda b: not b
    ):
        page.build_button.click()


def test_dropped_stack_builds_a_model_shown_like_figure_3(qtbot, page, stack, demo):
    assert not page.build_button.isEnabled()
    drop(page.files, [stack])
    assert page.files.files() == [stack]
    assert page.build_button.isEnabled()
    build(qtbot, page)
    state = page.context.state
    assert state.noise_model is not None
    assert state.calibration_files == [stack]
    np.testing.assert_allclose(
        state.calibration_signal, demo.calibration.astype(np.float64).mean(axis=0), rtol=1e-5
    )
    assert state.dirty
    assert page.model_view.model is state.noise_model
    assert len(page.model_view.curves) == 6
    assert "Frames: 12 of 64×64 pixels, uint16" in page.summary.text()
    assert "Coverage" in page.summary.text()
    assert page.next_button.isEnabled()
    assert page.export_button.isEnabled()
    # smoothed by default, drawn beside the histogram as measured
    assert state.noise_model.metadata["smoothing"]["method"] == "gaussian mixture"
    assert "by a 3-component Gaussian mixture" in page.summary.text()
    assert "smoothed" in page.summary.text()
    measured = page.model_view.comparison
    assert measured is not None and "smoothing" not in measured.metadata
    np.testing.assert_array_equal(measured.counts, state.noise_model.counts)
    assert "as measured" in page.model_view.caption.text()


def test_unsmoothed_histogram_is_shown_alone(qtbot, page, stack):
    page.files.set_files([stack])
    page.smooth.setChecked(False)
    build(qtbot, page)
    model = page.context.state.noise_model
    assert "smoothing" not in model.metadata
    assert page.model_view.comparison is None
    assert "smoothed" not in page.summary.text()


def test_few_frames_show_a_warning(qtbot, page, stack):
    page.files.set_files([stack])
    build(qtbot, page)
    assert page.warnings.isVisibleTo(page)
    assert "frames" in page.warnings.text()


@pytest.mark.parametrize("kind", ["text", "rgb", "single"])
def test_bad_calibration_input_gets_a_message_not_a_model(qtbot, page, tmp_path, kind, monkeypatch):
    shown = []
    monkeypatch.setattr(page.context, "error", lambda title, info: shown.append(info))
    if kind == "text":
        path = tmp_path / "notes.txt"
        path.write_text("not an image")
        drop(page.files, [path])
        assert page.files.count == 0
        assert "notes.txt" in page.files.message.text()
        return
    path = tmp_path / f"{kind}.tif"
    if kind == "rgb":
        tifffile.imwrite(path, np.zeros((32, 32, 3), np.uint8), photometric="rgb")
    else:
        tifffile.imwrite(path, np.zeros((32, 32), np.uint16))
    drop(page.files, [path])
    build(qtbot, page)
    assert page.context.state.noise_model is None
    assert len(shown) == 1
    assert shown[0].message and shown[0].hint
    assert page.build_button.isEnabled()


def test_cancel_leaves_no_model(qtbot, page, stack, monkeypatch):
    shown = []
    monkeypatch.setattr(page.context, "error", lambda title, info: shown.append(info))
    page.files.set_files([stack])
    page.build_button.click()
    page.cancel()
    qtbot.waitUntil(lambda: not page.context.busy, timeout=30_000)
    assert page.context.state.noise_model is None
    assert shown == []
    assert not page.progress.isVisibleTo(page)


def test_export_then_load_gives_the_same_model(qtbot, page, stack, tmp_path):
    page.files.set_files([stack])
    build(qtbot, page)
    first = page.context.state.noise_model
    path = tmp_path / "model.npz"
    page.export_model(path)
    page.context.state.new()
    assert page.context.state.noise_model is None
    assert page.summary.text().startswith("No noise model")
    page.load_model(path)
    loaded = page.context.state.noise_model
    np.testing.assert_array_equal(loaded.density.numpy(), first.density.numpy())
    assert "Frames: 12" in page.summary.text()


def test_loading_a_broken_model_says_so(page, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(page.context, "error", lambda title, info: shown.append(info))
    path = tmp_path / "broken.npz"
    path.write_bytes(b"garbage")
    page.load_model(path)
    assert page.context.state.noise_model is None
    assert shown and shown[0].message


def test_a_mixture_fitted_to_a_calibration_stack_is_shown_with_its_summary(page, stack):
    from pn2v_engine import run_fit_gmm_calibration

    model = run_fit_gmm_calibration([stack], steps=20)
    assert "calibration" in model.metadata
    page.context.state.set_noise_model(model, [])
    assert page.model_view.model is model
    assert len(page.model_view.curves) == 6
    summary = page.summary.text()
    assert "Gaussian-mixture" in summary and "Frames: 12 of 64×64 pixels" in summary
    assert page.coverage_plot.isHidden()


def test_a_deflated_bootstrap_says_what_was_taken_out(page, demo):
    from pn2v_engine import BootstrapPairs

    truth = [image.astype(np.float32) for image in demo.ground_truth]
    readings = list(demo.images.astype(np.float32))

    def neighbours_mean(frame):  # a blind-spot denoiser standing in for Noise2Void
        padded = np.pad(frame.astype(np.float64), 1, mode="reflect")
        shifts = [(dy, dx) for dy in (0, 1, 2) for dx in (0, 1, 2) if (dy, dx) != (1, 1)]
        total = sum(padded[dy : dy + frame.shape[0], dx : dx + frame.shape[1]] for dy, dx in shifts)
        return (total / 8).astype(np.float32)

    signals = [neighbours_mean(x) for x in readings]
    pairs = BootstrapPairs(signals, readings, {"frames": 2})
    model = pairs.deflated(neighbours_mean).histogram(bins=64)
    page.context.state.set_noise_model(model, [])
    assert model.metadata["bootstrap"]["deflation"]["applied"]
    assert "Noise2Void's own error taken out" in page.summary.text()
    oracle = iter(truth)  # a network that always knows the truth: nothing to take out
    exact = BootstrapPairs(truth, readings, {"frames": 2}).deflated(lambda frame: next(oracle))
    page.context.state.set_noise_model(exact.histogram(bins=64), [])
    assert "Pairs kept as measured" in page.summary.text()
    assert "includes Noise2Void's error" not in page.warnings.text()
    flat = [np.full((64, 64), 7.0, np.float32)] * 2
    kept = BootstrapPairs(flat, flat, {"frames": 2}).deflated(neighbours_mean).histogram(bins=16)
    page.context.state.set_noise_model(kept, [])
    assert "includes Noise2Void's error" in page.warnings.text()


def test_estimate_from_training_images_warns_it_is_estimated(qtbot, page, tmp_path, demo):
    paths = []
    for i, image in enumerate(demo.images):
        paths.append(tmp_path / f"noisy{i}.tif")
        tifffile.imwrite(paths[-1], image)
    page.context.state.set_training_images(paths)
    with qtbot.waitSignal(page.context.state.noise_model_changed, timeout=30_000):
        page.estimate_button.click()
    model = page.context.state.noise_model
    assert model is not None and model.kind != "histogram"
    assert "Estimated from noisy images" in page.warnings.text()
    assert len(page.model_view.curves) == 6


TINY_N2V = {
    "network.depth": 2,
    "network.features": 8,
    "training.patch_size": 32,
    "training.batch_size": 4,
    "training.epochs": 1,
    "training.steps_per_epoch": 3,
    "training.val_patches": 4,
}


def bootstrap(qtbot, page: CalibratePage, tmp_path: Path, demo) -> None:
    from pn2v_engine import preset

    paths = []
    for i, image in enumerate(demo.images):
        paths.append(tmp_path / f"noisy{i}.tif")
        tifffile.imwrite(paths[-1], image)
    state = page.context.state
    state.set_training_images(paths)
    state.set_settings(preset("cpu").with_changes(**TINY_N2V))
    with qtbot.waitSignal(state.noise_model_changed, timeout=60_000):
        page.bootstrap_button.click()


def test_bootstrap_from_training_images_gives_a_smoothed_histogram(qtbot, page, tmp_path, demo):
    formats = []
    page.progress.valueChanged.connect(lambda _: formats.append(page.progress.format()))
    bootstrap(qtbot, page, tmp_path, demo)
    state = page.context.state
    model = state.noise_model
    assert model.kind == "histogram" and model.metadata["bootstrap"]["kind"] == "smoothed"
    assert model.metadata["smoothing"]["method"] == "gaussian mixture"
    assert any(f.startswith("Smoothing") for f in formats)
    assert any(f.startswith("Training N2V") for f in formats)
    assert "Bootstrapped from a Noise2Void prediction" in page.warnings.text()
    assert model.source_network is not None  # kept for training to start from
    assert "Keeps its Noise2Void network" in page.summary.text()
    assert len(page.model_view.curves) == 6
    # beside it, the histogram of the same (prediction, noisy) pairs, curves dashed
    view = page.model_view
    comparison = view.comparison
    assert comparison is not None and comparison.metadata == {"measured_counts": True}
    np.testing.assert_array_equal(comparison.counts, model.counts)
    assert view.compare_plot.scene() is view.graphics.scene()
    assert view.compare_log_density.shape == view.log_density.shape
    assert not np.array_equal(view.compare_log_density, view.log_density)
    assert len(view.compare_curves) == 6
    assert all(c.opts["pen"].style() == Qt.PenStyle.DashLine for c in view.compare_curves)
    assert "histogram of the same (N2V prediction, noisy) pairs" in view.caption.text()


def test_bootstrap_after_calibrating_compares_with_the_measured_histogram(
    qtbot, page, tmp_path, stack, demo
):
    drop(page.files, [stack])
    build(qtbot, page)
    calibrated = page.context.state.noise_model
    bootstrap(qtbot, page, tmp_path, demo)
    assert "bootstrap" in page.context.state.noise_model.metadata
    assert page.model_view.comparison is calibrated
    assert "calibrated histogram it replaces" in page.model_view.caption.text()
    # a model from anywhere else (here: plain counts) is shown alone, in the two-plot layout
    page.context.state.set_noise_model(calibrated.measured(), [])
    assert page.model_view.comparison is None
    assert page.model_view.compare_plot.scene() is None
    assert page.model_view.compare_curves == []
