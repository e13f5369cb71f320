"""NoiseModelView: the p(x|s) image and curves match the model they draw."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pn2v_engine as engine
from app.widgets.noise_model_view import LOG_DECADES, N_CURVES, NoiseModelView

GAIN, READ_NOISE = 2.0, 15.0


@pytest.fixture(scope="module")
def histogram_model() -> engine.HistogramNoiseModel:
    """A histogram from synthetic Poisson-Gaussian pairs (signal 100 to 3000)."""
    rng = np.random.default_rng(1)
    signal = np.tile(np.linspace(100.0, 3000.0, 64), (48, 1))
    noisy = [
        np.round(rng.poisson(signal / GAIN) * GAIN + rng.normal(0.0, READ_NOISE, signal.shape))
        for _ in range(12)
    ]
    return engine.histogram_from_pairs([signal] * len(noisy), noisy)


@pytest.fixture
def view(qtbot) -> NoiseModelView:
    widget = NoiseModelView()
    qtbot.addWidget(widget)
    widget.resize(900, 380)
    return widget


def _image_rect(view: NoiseModelView) -> tuple[float, float, float, float]:
    rect = view.image_item.mapRectToParent(view.image_item.boundingRect())
    return rect.x(), rect.y(), rect.width(), rect.height()


def test_histogram_image_is_the_log_density_in_camera_units(view, histogram_model):
    view.set_noise_model(histogram_model)

    n = histogram_model.bins
    low, high = histogram_model.signal_range
    assert view.model is histogram_model
    assert view.image_item.image.shape == (n, n)
    assert _image_rect(view) == pytest.approx((low, low, high - low, high - low))
    # sampled at the bin centres, the image is the histogram itself: [signal, observation]
    density = histogram_model.density.numpy().astype(np.float64)
    peak = np.log10(density.max())
    expected = np.clip(np.log10(np.maximum(density, 1e-300)), peak - LOG_DECADES, peak)
    np.testing.assert_allclose(view.log_density, expected, atol=1e-5)
    assert view.colorbar.levels() == pytest.approx((peak - LOG_DECADES, peak), abs=1e-5)
    assert view.image_plot.getAxis("bottom").labelText == "signal s (camera units)"
    assert view.image_plot.getAxis("left").labelText == "observation x (camera units)"


def test_histogram_curves_are_densities_moving_up_with_the_signal(view, histogram_model):
    view.set_noise_model(histogram_model)

    low, high = histogram_model.signal_range
    levels = np.array(view.signal_levels)
    assert len(view.curves) == N_CURVES
    assert np.all((levels > low) & (levels < high))
    assert np.ptp(np.diff(levels)) <= 1.0  # evenly spread (rounded to whole units)
    labels = [label.text for _, label in view.legend.items]
    assert labels == [f"s = {level:.0f}" for level in levels]
    peaks = []
    for level, curve in zip(levels, view.curves, strict=True):
        x, p = curve.getData()
        assert np.sum(p) * (x[1] - x[0]) == pytest.approx(1.0, abs=2e-3)
        peaks.append(x[np.argmax(p)])
        assert abs(peaks[-1] - level) < 4 * np.sqrt(GAIN * level + READ_NOISE**2)
    assert np.all(np.diff(peaks) > 0)


def test_curves_stay_within_the_signals_a_calibration_measured(view, histogram_model):
    """Readings reach beyond the brightest signal; no curve is drawn where none was seen."""
    calibrated = engine.HistogramNoiseModel(
        histogram_model.density,
        histogram_model.low,
        histogram_model.high,
        metadata={"calibration": {"signal_range": [500.0, 1500.0]}},
    )
    view.set_noise_model(calibrated)
    levels = np.array(view.signal_levels)
    assert np.all((levels > 500) & (levels < 1500)) and np.ptp(levels) > 600


def test_poisson_gaussian_model_on_the_default_grid(view):
    model = engine.PoissonGaussianNoiseModel(GAIN, READ_NOISE**2, 0.0, 3000.0)
    view.set_noise_model(model)

    assert view.image_item.image.shape == (256, 256)
    assert _image_rect(view) == pytest.approx((0.0, 0.0, 3000.0, 3000.0))
    assert view.caption.text() == model.describe()
    widths = []
    for curve in view.curves:
        x, p = curve.getData()
        assert np.trapezoid(p, x) == pytest.approx(1.0, abs=0.01)
        widths.append(1.0 / p.max())
    assert np.all(np.diff(widths) > 0)  # noise grows with the signal: lower, wider curves


def test_clear_removes_the_model(view, histogram_model):
    view.set_noise_model(histogram_model)
    view.clear()

    assert view.model is None
    assert view.curves == []
    assert view.curve_plot.listDataItems() == []
    assert view.image_item.image is None
    assert not view.legend.isVisible()
    assert "No noise model" in view.caption.text()


def test_importing_and_showing_the_view_does_not_import_torch():
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from app.widgets.noise_model_view import NoiseModelView\n"
        "app = QApplication([])\n"
        "NoiseModelView().grab()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
