"""Every setting explains itself, buttons are reachable by keyboard, and projects are
shared with the command line."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QLineEdit,
)

from app.main_window import MainWindow
from app.user_settings import UserSettings
from pn2v_engine import cli, make_demo_data, preset, run_calibrate, run_train


@pytest.fixture
def window(qtbot):
    window = MainWindow(UserSettings())
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()


def _pages(window):
    return [window.start_page, window.calibrate_page, window.train_page, window.denoise_page]


def test_every_setting_has_a_tooltip(window):
    missing, checked = [], 0
    for page in _pages(window):
        for kind in (QAbstractSpinBox, QComboBox, QCheckBox, QLineEdit):
            for widget in page.findChildren(kind):
                owner = widget.parent()
                if isinstance(owner, QAbstractSpinBox | QComboBox):  # their inner line edit
                    continue
                checked += 1
                if not (widget.toolTip() or (owner is not None and owner.toolTip())):
                    missing.append(
                        f"{type(page).__name__}: {type(widget).__name__} "
                        f"{widget.objectName() or getattr(widget, 'text', str)()}"
                    )
    assert checked >= 15
    assert missing == []


def test_buttons_take_keyboard_focus_and_explain_themselves(window):
    silent, checked = [], 0
    for page in _pages(window):
        for button in page.findChildren(QAbstractButton):
            if not button.text():
                continue
            checked += 1
            assert button.focusPolicy() & Qt.FocusPolicy.TabFocus, button.text()
            if not button.toolTip() and not button.text().endswith("…"):
                silent.append(button.text())
    assert checked >= 20
    assert silent == []


def test_a_project_from_the_app_is_read_by_the_command_line(window, tmp_path, capsys):
    demo = make_demo_data(seed=2, size=64, n_calibration=10, n_images=1)
    model = run_calibrate(demo.calibration).noise_model
    settings = preset("cpu").with_changes(
        **{
            "network.depth": 2,
            "network.features": 8,
            "network.n_samples": 8,
            "training.patch_size": 32,
            "training.batch_size": 4,
            "training.epochs": 1,
            "training.steps_per_epoch": 2,
            "training.val_patches": 4,
        }
    )
    window.state.set_noise_model(model, [])
    window.state.set_settings(settings)
    window.state.set_training(run_train(list(demo.images), model, settings))
    path = tmp_path / "from_the_app.pn2v"
    assert window._save_to(path)
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "histogram" in out.lower()
