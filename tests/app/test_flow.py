"""The whole flow through the real window: calibrate, train, stop, resume, denoise, reopen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow
from app.user_settings import UserSettings
from pn2v_engine import make_demo_data, preset, read_image, write_demo_data

TINY = {
    "network.depth": 2,
    "network.features": 8,
    "network.n_samples": 16,
    "training.patch_size": 32,
    "training.batch_size": 4,
    "training.epochs": 4,
    "training.steps_per_epoch": 6,
    "training.val_patches": 4,
    "preset": "custom",
}


def drop(widget, paths: list[Path]) -> None:
    """What a file manager sends: a drag entering the widget, then the drop."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(widget, event)


@pytest.fixture
def files(tmp_path: Path):
    data = make_demo_data(seed=5, size=64, n_calibration=16, n_images=3)
    return write_demo_data(tmp_path / "microscope", data)


@pytest.fixture
def window(qtbot):
    window = MainWindow(UserSettings())
    qtbot.addWidget(window)
    window.resize(1280, 840)
    window.show()
    yield window
    window.state.dirty = False
    window.close()


def _points(curve) -> int:
    x = curve.getData()[0]
    return 0 if x is None else len(x)


def idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.context.busy, timeout=120_000)


def test_calibrate_train_stop_resume_denoise_save_reopen(qtbot, window, files, tmp_path):
    # 1. calibrate from a dropped stack
    window.go_to_step(1)
    calibrate = window.calibrate_page
    drop(calibrate.files, [files.calibration_stack])
    calibrate.build_button.click()
    idle(qtbot, window)
    assert window.state.noise_model is not None
    assert "✓" in window.step_bar.buttons[1].text()

    # 2. train a few steps, stop, resume to the end
    calibrate.next_button.click()
    train = window.train_page
    assert window.pages.currentWidget() is train
    drop(train.files, [files.images[0].parent])
    assert train.files.files() == files.images
    window.state.set_settings(preset("cpu").with_changes(**TINY))
    qtbot.waitUntil(train.start_button.isEnabled, timeout=30_000)
    train.start_button.click()
    qtbot.waitUntil(lambda: _points(train.plots.val_curve) >= 1, timeout=60_000)
    train.stop_button.click()
    idle(qtbot, window)
    stopped = window.state.training
    assert stopped is not None and stopped.stopped
    assert 1 <= stopped.epochs_done < 4
    qtbot.waitUntil(train.resume_button.isEnabled, timeout=10_000)
    train.resume_button.click()
    idle(qtbot, window)
    finished = window.state.training
    assert finished.epochs_done == 4 and not finished.stopped
    assert len(finished.history.val_loss) == 4

    # 3. denoise two files and a folder, dropped together
    train.next_button.click()
    denoise = window.denoise_page
    extra = tmp_path / "more"
    extra.mkdir()
    tifffile.imwrite(extra / "late.tif", read_image(files.images[2]).data[0])
    originals = {p: p.read_bytes() for p in [*files.images, extra / "late.tif"]}
    drop(denoise.drop_zone, [files.images[0], files.images[1], extra])
    runnable = [row for row in denoise.model.rows() if row.runnable]
    assert {row.source for row in runnable} >= {
        files.images[0],
        files.images[1],
        extra / "late.tif",
    }
    denoise.start_button.click()
    idle(qtbot, window)
    rows = denoise.model.rows()
    assert all(row.status.value == "Done" for row in rows), [r.status_text for r in rows]
    outputs = [row.outputs[0] for row in rows]
    for output in outputs:
        assert output.is_file()
        assert output.parent not in {files.images[0].parent, extra}
        assert np.isfinite(read_image(output).data).all()
    assert {p: p.read_bytes() for p in originals} == originals

    # 4. save, start afresh, reopen: the trained network comes back
    path = tmp_path / "flow.pn2v"
    assert window._save_to(path)
    idle(qtbot, window)
    window.new_project()
    assert window.state.training is None
    window.open_project(path)
    qtbot.waitUntil(lambda: window.state.training is not None, timeout=60_000)
    assert window.state.training.epochs_done == 4
    assert window.state.training_images == files.images
    assert window.pages.currentWidget() is denoise


def test_error_paths_never_raise(qtbot, window, files, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(window.context, "error", lambda title, info: shown.append(info))
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    rgb = tmp_path / "colour.tif"
    tifffile.imwrite(rgb, np.zeros((64, 64, 3), np.uint8), photometric="rgb")

    # a non-image and an RGB file as calibration: messages, no model
    drop(window.calibrate_page.files, [text])
    assert "notes.txt" in window.calibrate_page.files.message.text()
    drop(window.calibrate_page.files, [rgb])
    window.calibrate_page.build_button.click()
    idle(qtbot, window)
    assert window.state.noise_model is None
    assert shown and "RGB" in shown[-1].message + shown[-1].hint

    # a cancelled training keeps nothing half-made and shows no error
    window.calibrate_page.files.set_files([files.calibration_stack])
    window.calibrate_page.build_button.click()
    idle(qtbot, window)
    errors_before = len(shown)
    window.train_page.files.set_files(files.images)
    window.state.set_settings(preset("cpu").with_changes(**TINY))
    qtbot.waitUntil(window.train_page.start_button.isEnabled, timeout=30_000)
    window.train_page.start_button.click()
    window.train_page.stop_button.click()
    idle(qtbot, window)
    assert window.state.training is None
    assert len(shown) == errors_before
    assert window.train_page.start_button.isEnabled()
