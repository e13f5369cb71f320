"""pytest-qt fixtures: offscreen Qt, an isolated settings/log folder, a page context."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def studio_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Settings, logs and demo data go to a temporary folder, never the user's profile."""
    home = tmp_path_factory.mktemp("studio_home")
    monkeypatch.setenv("PN2V_STUDIO_HOME", str(home))
    return home


@pytest.fixture
def context(qtbot):
    """An :class:`app.context.AppContext` on a plain parent widget, for testing one page."""
    from PySide6.QtWidgets import QWidget

    from app.context import AppContext
    from app.state import ProjectState
    from app.user_settings import UserSettings

    window = QWidget()
    qtbot.addWidget(window)
    ctx = AppContext(ProjectState(), UserSettings(), window)
    ctx.set_devices([("auto", "Automatic: CPU"), ("cpu", "CPU")])
    yield ctx
    from app.workers import stop_all

    stop_all()


@pytest.fixture(autouse=True)
def no_blocking_questions(monkeypatch: pytest.MonkeyPatch):
    """Questions never block a test: they answer Discard, else Yes (so windows close).

    Tests that script answers replace ``app.dialogs.ask`` themselves.
    """
    from PySide6.QtWidgets import QMessageBox

    from app import dialogs

    def answer(parent, title, text, buttons, default):
        for button in (QMessageBox.StandardButton.Discard, QMessageBox.StandardButton.Yes):
            if buttons & button:
                return button
        return default

    monkeypatch.setattr(dialogs, "ask", answer)
