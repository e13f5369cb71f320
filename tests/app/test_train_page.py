"""TrainPage: images, settings, device, Start/Stop/Resume, live curves and preview.

The data are tiny (two 64x64 demo images) and the network small, so that every
training here takes a second or two on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

import pn2v_engine as engine
from app import dialogs
from app.context import AppContext
from app.pages.train import TrainPage
from app.pages.train_jobs import centred_crop
from app.state import DemoInfo
from app.user_settings import load_settings

TIMEOUT_MS = 60_000
TINY = {
    "network.depth": 2,
    "network.features": 8,
    "network.n_samples": 16,
    "training.patch_size": 32,
    "training.batch_size": 4,
    "training.epochs": 3,
    "training.steps_per_epoch": 3,
    "training.val_patches": 4,
    "preset": "custom",
}


def tiny(**changes: object) -> engine.Settings:
    return engine.preset("cpu").with_changes(**{**TINY, **changes})


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two noisy demo images, a 3x brighter one, and a noise model fitted to the first two."""
    folder = tmp_path_factory.mktemp("train_data")
    demo = engine.make_demo_data(seed=3, size=64, n_calibration=2, n_images=2)
    images = []
    for index, image in enumerate(demo.images):
        path = folder / f"noisy_{index}.tif"
        tifffile.imwrite(path, image)
        images.append(path)
    bright = folder / "bright.tif"
    tifffile.imwrite(bright, (demo.images[0] * 3).astype(np.uint16))
    model = engine.histogram_from_pairs(list(demo.ground_truth), list(demo.images))
    return {"folder": folder, "images": images, "bright": bright, "model": model}


@pytest.fixture
def page(qtbot, context: AppContext):
    widget = TrainPage(context)
    qtbot.addWidget(widget)
    widget.resize(1280, 840)
    widget.show()
    yield widget
    for job in context.jobs():
        job.cancel()
    qtbot.waitUntil(lambda: not context.busy, timeout=TIMEOUT_MS)


def ready(qtbot, page: TrainPage, context: AppContext, images: list[Path], model=None) -> None:
    """Give the project images (and a noise model), and wait until the page checked them."""
    if model is not None:
        context.state.set_noise_model(model, [])
    context.state.set_training_images(images)
    qtbot.waitUntil(lambda: page._check is not None, timeout=TIMEOUT_MS)


def shown(widget) -> bool:
    return not widget.isHidden()


def choose(combo, data: str) -> None:
    """Pick an item of a combo box as a user does (``activated`` follows)."""
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def test_centred_crop_fits_the_network_grid() -> None:
    frame = np.arange(300 * 200, dtype=np.uint16).reshape(300, 200)
    crop = centred_crop(frame, 8)
    assert crop.shape == (128, 128) and crop.dtype == np.float32
    assert crop[0, 0] == frame[86, 36]
    assert centred_crop(frame[:50, :70], 4).shape == (48, 68)
    assert centred_crop(frame[:3, :3], 4) is None


def test_trains_shows_curves_and_preview_then_asks_before_replacing(
    qtbot, page: TrainPage, context: AppContext, data: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    context.state.set_settings(tiny())
    assert not page.start_button.isEnabled()  # no images yet
    ready(qtbot, page, context, data["images"], data["model"])
    assert page.start_button.isEnabled()
    assert not page.stop_button.isEnabled()
    assert not page.resume_button.isEnabled()
    assert not page.next_button.isEnabled()
    saves = []
    context.save_requested.connect(lambda: saves.append(True))

    page.start_button.click()
    assert page.running and shown(page.progress)
    assert page.stop_button.isEnabled()
    assert not page.start_button.isEnabled() and not page.resume_button.isEnabled()
    assert not page.files.isEnabled() and not page.settings_form.isEnabled()
    qtbot.waitUntil(lambda: not page.running, timeout=TIMEOUT_MS)

    training = context.state.training
    assert training is not None and training.epochs_done == 3 and not training.stopped
    assert saves == [True]
    assert page.plots.val_points.size == 3 and page.plots.train_points.size >= 3
    # the preview: the whole 64x64 image (smaller than 128) next to its denoised version
    assert page.compare.before_view.title == "Noisy"
    assert page.compare.after_view.title == "Denoised (epoch 3)"
    assert page.compare.after_view.image.shape == (1, 64, 64)
    assert "Finished 3 epochs" in page.summary_label.text()
    assert "raise Epochs" in page.summary_label.text()  # all epochs done: Resume is off
    assert page.next_button.isEnabled() and not page.resume_button.isEnabled()
    assert page.files.isEnabled() and page.settings_form.isEnabled()
    assert not shown(page.progress)
    with qtbot.waitSignal(context.go_to_step) as step:
        page.next_button.click()
    assert step.args == [3]

    # a new training would replace this one: the user is asked, and may cancel
    questions = []

    def answer(*args: object) -> QMessageBox.StandardButton:
        questions.append(args[2])
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(dialogs, "ask", answer)
    page.start_button.click()
    assert len(questions) == 1 and "3 epochs" in questions[0]
    assert not page.running and context.state.training is training


def test_stop_keeps_the_weights_and_resume_continues(
    qtbot, page: TrainPage, context: AppContext, data: dict
) -> None:
    context.state.set_settings(tiny(**{"training.epochs": 500, "training.steps_per_epoch": 2}))
    ready(qtbot, page, context, data["images"], data["model"])
    page.start_button.click()
    qtbot.waitUntil(lambda: page.plots.val_points.size >= 1, timeout=TIMEOUT_MS)
    page.stop_button.click()
    assert not page.stop_button.isEnabled()  # stopping
    qtbot.waitUntil(lambda: not page.running, timeout=TIMEOUT_MS)

    stopped = context.state.training
    assert stopped is not None and stopped.stopped
    done = stopped.epochs_done
    assert 1 <= done < 500 and stopped.last_weights
    assert f"Stopped after {done} of 500 epochs; weights kept" in page.summary_label.text()
    assert page.resume_button.isEnabled() and page.start_button.isEnabled()
    assert page.next_button.isEnabled()

    # train a little longer than was done: Custom, Epochs = done + 2, Resume
    choose(page.settings_form.preset_combo, "custom")
    page.settings_form.epochs_spin.setValue(done + 2)
    assert context.state.settings.training.epochs == done + 2
    assert f"Resume continues to {done + 2} epochs" in page.summary_label.text()
    # another width cannot resume these weights; another arithmetic can
    form = page.settings_form
    form.features_spin.setValue(form.features_spin.value() + 4)
    assert not page.resume_button.isEnabled()
    form.features_spin.setValue(form.features_spin.value() - 4)
    form.precision_combo.setCurrentIndex(form.precision_combo.findData("bfloat16"))
    assert context.state.settings.network.precision == "bfloat16"
    assert page.resume_button.isEnabled()
    page.resume_button.click()
    assert page.running
    qtbot.waitUntil(lambda: not page.running, timeout=TIMEOUT_MS)

    resumed = context.state.training
    assert resumed.epochs_done == done + 2 and not resumed.stopped
    assert resumed.settings.network.precision == "bfloat16"
    assert resumed.history.epoch == list(range(1, done + 3))
    assert page.plots.val_points.size == done + 2
    assert not page.resume_button.isEnabled()


def test_images_out_of_the_noise_models_range_need_train_anyway(
    qtbot, page: TrainPage, context: AppContext, data: dict
) -> None:
    context.state.set_settings(tiny())
    ready(qtbot, page, context, [data["bright"]], data["model"])
    assert shown(page.range_label)
    text = page.range_label.text()
    assert "outside the noise model's calibrated range" in text
    assert "Recalibrate" in text and "Train anyway" in text
    assert shown(page.train_anyway) and shown(page.calibrate_button)
    assert not page.start_button.isEnabled()
    with qtbot.waitSignal(context.go_to_step) as step:
        page.calibrate_button.click()
    assert step.args == [1]

    page.train_anyway.setChecked(True)
    assert page.start_button.isEnabled()
    page.start_button.click()
    qtbot.waitUntil(lambda: not page.running, timeout=TIMEOUT_MS)
    training = context.state.training
    assert training is not None and training.epochs_done == 3
    assert any("outside" in warning for warning in training.warnings)
    assert "Note:" in page.summary_label.text()

    # images inside the range: no warning, no box
    context.state.set_training_images(data["images"])
    qtbot.waitUntil(lambda: page._check is not None, timeout=TIMEOUT_MS)
    assert not shown(page.notices) and not page.train_anyway.isChecked()


def test_without_a_noise_model_start_is_blocked(
    qtbot, page: TrainPage, context: AppContext, data: dict
) -> None:
    ready(qtbot, page, context, data["images"])
    assert shown(page.notices)
    assert "no noise model" in page.range_label.text()
    assert shown(page.calibrate_button) and not shown(page.train_anyway)
    assert not page.start_button.isEnabled()
    assert "noise model" in page.start_button.toolTip()
    with qtbot.waitSignal(context.go_to_step) as step:
        page.calibrate_button.click()
    assert step.args == [1]

    context.state.set_noise_model(data["model"], [])
    qtbot.waitUntil(lambda: page._check is not None, timeout=TIMEOUT_MS)
    assert not shown(page.notices)
    assert page.start_button.isEnabled()


def test_presets_and_custom_settings(
    qtbot, page: TrainPage, context: AppContext, data: dict
) -> None:
    state = context.state
    form = page.settings_form
    assert form.preset_combo.currentText() == "CPU quick (minutes)"
    assert not form.custom_box.isEnabled() and shown(form.custom_note)
    assert "Resolution levels of the U-Net." in form.depth_spin.toolTip()
    spins = (
        form.samples_spin,
        form.depth_spin,
        form.features_spin,
        form.patch_spin,
        form.batch_spin,
        form.epochs_spin,
        form.steps_spin,
        form.rate_spin,
        form.val_spin,
    )
    assert all(spin.toolTip() for spin in spins)

    choose(form.preset_combo, "paper")
    assert state.settings == engine.preset("paper")
    assert form.samples_spin.value() == 800 and form.patch_spin.value() == 100

    # Custom starts from the preset's values
    choose(form.preset_combo, "custom")
    assert form.custom_box.isEnabled() and not shown(form.custom_note)
    assert state.settings.preset == "custom"
    assert state.settings.network == engine.preset("paper").network
    form.epochs_spin.setValue(7)
    form.val_spin.setValue(25)
    form.rate_spin.stepBy(1)  # 1e-4 -> 2e-4 on the 1-2-5 ladder
    assert state.settings.training.epochs == 7
    assert state.settings.training.val_fraction == pytest.approx(0.25)
    assert state.settings.training.learning_rate == pytest.approx(2e-4)
    assert form.rate_spin.text() == "0.0002"

    # depth 4 needs patches of a multiple of 8: shown in red, the settings stay valid
    form.depth_spin.setValue(4)
    assert shown(form.error_label)
    assert "multiple of 8" in form.error_label.text()
    assert state.settings.network.depth == 3
    assert "Correct the settings" in page.start_button.toolTip()
    form.patch_spin.setValue(96)
    assert not shown(form.error_label)
    assert (state.settings.network.depth, state.settings.training.patch_size) == (4, 96)

    # an engine ConfigError (a batch that accumulate does not divide) is shown, not raised
    state.set_settings(state.settings.with_changes(**{"training.accumulate": 4}))
    form.batch_spin.setValue(10)
    assert shown(form.error_label) and "accumulate" in form.error_label.text()
    assert state.settings.training.batch_size == 80

    # patches larger than the images: Start says so
    form.batch_spin.setValue(8)
    ready(qtbot, page, context, data["images"], data["model"])
    assert not page.start_button.isEnabled()
    assert "larger than the smallest image (64×64" in page.hint_label.text()


def test_device_choice_is_remembered(page: TrainPage, context: AppContext) -> None:
    combo = page.settings_form.device_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["auto", "cpu"]
    assert combo.currentData() == "auto"
    choose(combo, "cpu")
    assert context.settings.device == "cpu"
    assert load_settings().device == "cpu"
    context.set_devices([("auto", "Automatic: GPU"), ("cpu", "CPU"), ("cuda:0", "GPU")])
    assert combo.count() == 3 and combo.currentData() == "cpu"


def test_demo_fills_images_and_shows_its_preset(
    qtbot, page: TrainPage, context: AppContext, data: dict
) -> None:
    demo = DemoInfo(folder=data["folder"], calibration_stack=data["bright"], images=data["images"])
    demo_settings = tiny(preset="demo")
    context.state.load_demo(demo, demo_settings)
    assert context.state.training_images == data["images"]
    assert page.files.files() == data["images"]
    assert page.settings_form.preset_combo.currentText() == "Demo (short)"
    assert not page.settings_form.custom_box.isEnabled()
    choose(page.settings_form.preset_combo, "cpu")
    assert context.state.settings == engine.preset("cpu")
    choose(page.settings_form.preset_combo, "demo")
    assert context.state.settings == demo_settings
    qtbot.waitUntil(lambda: page.image_view.image is not None, timeout=TIMEOUT_MS)

    context.state.new()  # a new project has no demo preset
    assert page.settings_form.preset_combo.findData("demo") < 0
    assert page.files.count == 0


def test_dropped_files_are_added_and_previewed(
    qtbot, page: TrainPage, context: AppContext, data: dict
) -> None:
    busy = []
    context.busy_changed.connect(busy.append)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in data["images"]])
    copy, left, no_keys = (
        Qt.DropAction.CopyAction,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    # Qt delivers a drop only to the widget that accepted the drag's entry
    enter = QDragEnterEvent(QPoint(20, 20), copy, mime, left, no_keys)
    assert QApplication.sendEvent(page.files, enter) and enter.isAccepted()
    QApplication.sendEvent(page.files, QDropEvent(QPointF(20, 20), copy, mime, left, no_keys))
    assert context.state.training_images == data["images"]
    qtbot.waitUntil(lambda: page.image_view.image is not None, timeout=TIMEOUT_MS)
    assert page.image_view.image.shape == (1, 64, 64)
    assert page.image_view.title.startswith("noisy_0.tif")
    qtbot.waitUntil(lambda: page._check is not None, timeout=TIMEOUT_MS)
    assert busy == []  # reading and checking images leave the window free


def test_a_trained_project_shows_its_history(qtbot, context: AppContext, data: dict) -> None:
    settings = tiny(**{"training.epochs": 2, "training.steps_per_epoch": 1})
    images = [engine.read_image(p).as_float32() for p in data["images"]]
    result = engine.run_train(images, data["model"], settings, device="cpu")
    context.state.set_settings(settings)
    context.state.set_training(result)  # as when a project is opened

    page = TrainPage(context)
    qtbot.addWidget(page)
    assert page.plots.val_points.size == 2
    assert page.plots.epoch_label.text() == "Epoch 2/2"
    summary = page.summary_label.text()
    assert "Finished 2 epochs" in summary and f"{result.best_val_loss:.4g}" in summary
    assert page.next_button.isEnabled()

    context.state.new()
    assert page.plots.val_points.size == 0 and not page.next_button.isEnabled()
    assert page.summary_label.text() == ""


def test_a_failed_training_reports_and_returns_to_idle(
    qtbot,
    page: TrainPage,
    context: AppContext,
    data: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = tmp_path / "soon_damaged.tif"
    image.write_bytes(data["images"][0].read_bytes())
    context.state.set_settings(tiny())
    ready(qtbot, page, context, [image], data["model"])
    errors = []
    monkeypatch.setattr(context, "error", lambda title, info: errors.append((title, info)))
    image.write_bytes(b"II*\x00 not a tiff any more")
    page.start_button.click()
    qtbot.waitUntil(lambda: not page.running, timeout=TIMEOUT_MS)
    assert [title for title, _ in errors] == ["Training failed"]
    assert context.state.training is None
    assert page.hint_label.text().startswith("Training failed:")
    assert page.start_button.isEnabled() and not page.stop_button.isEnabled()
    assert page.files.isEnabled()


def test_a_bootstrapped_models_network_is_where_training_starts(
    qtbot, page: TrainPage, context: AppContext, data: dict
) -> None:
    from pn2v_engine.bootstrap import source_network

    images = [tifffile.imread(path) for path in data["images"]]
    n2v = engine.run_train(images, None, tiny(mode="n2v", **{"network.n_samples": 1}), device="cpu")
    model = engine.HistogramNoiseModel(data["model"].density, data["model"].low, data["model"].high)
    model.source_network = source_network(n2v)
    context.state.set_settings(tiny())
    ready(qtbot, page, context, data["images"], model)
    page.start_button.click()
    qtbot.waitUntil(lambda: not page.running, timeout=TIMEOUT_MS)
    training = context.state.training
    assert training is not None and training.started_from is not None
    summary = page.summary_label.text()
    assert "Finished 3 epochs" in summary
    assert "Started from the Noise2Void network of the bootstrapped noise model." in summary
