"""The main window: project menu, unsaved changes, closing, status bar."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app import dialogs
from app.main_window import MainWindow
from app.user_settings import UserSettings, load_settings
from app.workers import Job
from pn2v_engine import make_demo_data, run_calibrate


@pytest.fixture(scope="module")
def noise_model():
    demo = make_demo_data(seed=1, size=64, n_calibration=10, n_images=1)
    return run_calibrate(demo.calibration).noise_model


@pytest.fixture
def window(qtbot):
    window = MainWindow(UserSettings())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: bool(window.context.devices), timeout=30_000)
    yield window
    window.state.dirty = False
    window.close()


@pytest.fixture
def answers(monkeypatch):
    """Scripted answers to the window's questions, in order; records each question."""
    script: list[QMessageBox.StandardButton] = []
    asked: list[str] = []

    def ask(parent, title, text, buttons, default):
        asked.append(title)
        return script.pop(0)

    monkeypatch.setattr(dialogs, "ask", ask)
    return script, asked


def test_status_bar_names_device_project_and_unsaved_changes(window, noise_model):
    assert window.device_label.text().startswith("Device: CPU")
    assert window.project_label.text() == "Not saved yet"
    assert window.dirty_label.text() == ""
    window.state.set_noise_model(noise_model, [])
    assert window.dirty_label.text() == "Unsaved changes"
    assert window.windowTitle().startswith("Untitled project*")
    assert "✓" in window.step_bar.buttons[1].text()


def test_save_and_reopen_a_project(qtbot, window, noise_model, tmp_path):
    window.state.set_noise_model(noise_model, [])
    path = tmp_path / "mine.pn2v"
    assert window._save_to(path)
    assert not window.state.dirty
    assert window.project_label.text() == str(path)
    assert load_settings().recent_projects[0] == str(path.resolve())

    window.state.new()
    assert window.state.noise_model is None
    window.open_project(path)
    qtbot.waitUntil(lambda: window.state.path is not None, timeout=30_000)
    assert window.state.noise_model is not None
    assert window.state.noise_model.signal_range == noise_model.signal_range
    assert not window.state.dirty
    assert window.pages.currentWidget() is window.calibrate_page


def test_opening_a_broken_project_shows_an_error_and_keeps_the_current_one(
    qtbot, window, noise_model, tmp_path, monkeypatch
):
    shown = []
    monkeypatch.setattr(window.context, "error", lambda title, info: shown.append(info))
    window.state.set_noise_model(noise_model, [])
    window.state.dirty = False
    broken = tmp_path / "broken.pn2v"
    broken.write_bytes(b"not a zip")
    window.open_project(broken)
    qtbot.waitUntil(lambda: bool(shown), timeout=30_000)
    assert "broken.pn2v" in shown[0].message or shown[0].hint
    assert window.state.noise_model is noise_model


def test_save_failure_keeps_the_work_unsaved(window, noise_model, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(window.context, "error", lambda title, info: shown.append(info))
    window.state.set_noise_model(noise_model, [])
    target = tmp_path / "file_not_folder"
    target.write_text("")
    assert not window._save_to(target / "x.pn2v")
    assert window.state.dirty
    assert shown


def test_new_project_asks_about_unsaved_changes(window, noise_model, answers):
    script, asked = answers
    window.state.set_noise_model(noise_model, [])
    script.append(QMessageBox.StandardButton.Cancel)
    window.new_project()
    assert asked == ["Unsaved changes"]
    assert window.state.noise_model is noise_model
    script.append(QMessageBox.StandardButton.Discard)
    window.new_project()
    assert window.state.noise_model is None
    assert not window.state.dirty


def test_closing_with_unsaved_work_can_be_cancelled(window, noise_model, answers):
    script, _asked = answers
    window.state.set_noise_model(noise_model, [])
    script.append(QMessageBox.StandardButton.Cancel)
    assert not window.close()
    assert window.isVisible()
    script.append(QMessageBox.StandardButton.Discard)
    assert window.close()


def test_closing_during_a_job_stops_it_cleanly(qtbot, window, answers):
    script, asked = answers
    stopped = []

    def forever(token):
        while not token.cancelled:
            time.sleep(0.01)
            yield None
        stopped.append(True)
        return None

    job = Job("forever", forever)
    window.context.run(job)
    assert window.context.busy
    assert not window.new_action.isEnabled()
    script.append(QMessageBox.StandardButton.No)
    assert not window.close()
    assert job.is_running()
    script.append(QMessageBox.StandardButton.Yes)
    assert window.close()
    assert stopped == [True]
    assert Job.running() == []
    assert asked == ["A job is running", "A job is running"]


def test_window_geometry_and_recent_projects_persist(qtbot, tmp_path, window, noise_model):
    window.resize(1000, 700)
    window.state.set_noise_model(noise_model, [])
    window._save_to(tmp_path / "p.pn2v")
    window.close()
    settings = load_settings()
    assert settings.window_geometry
    again = MainWindow(settings)
    qtbot.addWidget(again)
    assert again.size().height() == 700  # the offscreen screen clamps the width
    again.start_page.refresh_recent()
    assert "p.pn2v" in again.start_page.recent.item(0).text()


def test_demo_fills_every_page(qtbot, window):
    window.try_demo()
    qtbot.waitUntil(lambda: window.state.demo is not None, timeout=60_000)
    demo = window.state.demo
    assert Path(demo.calibration_stack).is_file()
    assert window.calibrate_page.files.files() == [demo.calibration_stack]
    assert window.state.settings.preset == "demo"
    assert window.pages.currentWidget() is window.calibrate_page
