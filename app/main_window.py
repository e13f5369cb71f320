"""The main window: project menu, step bar, pages and status bar."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME, dialogs
from app.about import show_about
from app.context import AppContext
from app.devices import probe_devices
from app.pages.calibrate import CalibratePage
from app.pages.denoise import DenoisePage
from app.pages.start import StartPage
from app.pages.train import TrainPage
from app.state import ProjectState
from app.user_settings import UserSettings, save_settings
from app.widgets.step_bar import StepBar
from app.workers import ErrorInfo, Job, call, stop_all

log = logging.getLogger(__name__)
PROJECT_FILTER = "PN2V projects (*.pn2v);;All files (*)"
STEPS = ["Start", "Calibrate", "Train", "Denoise"]


class MainWindow(QMainWindow):
    def __init__(self, settings: UserSettings) -> None:
        super().__init__()
        self.state = ProjectState()
        self.context = AppContext(self.state, settings, self)
        self.setMinimumSize(900, 640)

        self.step_bar = StepBar(STEPS)
        self.pages = QStackedWidget()
        self.start_page = StartPage(self.context)
        self.calibrate_page = CalibratePage(self.context)
        self.train_page = TrainPage(self.context)
        self.denoise_page = DenoisePage(self.context)
        for page in (self.start_page, self.calibrate_page, self.train_page, self.denoise_page):
            self.pages.addWidget(page)
        self.step_bar.step_chosen.connect(self.go_to_step)
        self.context.go_to_step.connect(self.go_to_step)
        self.context.save_requested.connect(self._autosave)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.step_bar)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self._build_menu()
        self._build_status_bar()
        self.state.changed.connect(self._update_steps)
        self.state.dirty_changed.connect(self._update_title)
        self.state.path_changed.connect(self._update_title)
        self.context.busy_changed.connect(self._update_actions)
        self.start_page.new_requested.connect(self.new_project)
        self.start_page.open_requested.connect(self.open_project)
        self.start_page.demo_requested.connect(self.try_demo)
        self._update_title()
        self._update_steps()
        self._restore_geometry()
        QTimer.singleShot(0, self._probe_devices)

    # -------------------------------------------------------------------- menu
    def _build_menu(self) -> None:
        menu = self.menuBar().addMenu("&Project")
        self.new_action = self._action(menu, "&New", self.new_project, QKeySequence.StandardKey.New)
        self.open_action = self._action(
            menu, "&Open…", lambda: self.open_project(None), QKeySequence.StandardKey.Open
        )
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        menu.addSeparator()
        self.save_action = self._action(menu, "&Save", self.save, QKeySequence.StandardKey.Save)
        self.save_as_action = self._action(
            menu, "Save &as…", self.save_as, QKeySequence.StandardKey.SaveAs
        )
        menu.addSeparator()
        self._action(menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About PN2V Studio", lambda: show_about(self))

    def _action(self, menu: QMenu, text: str, slot: Any, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.context.settings.existing_recent()
        if not recent:
            empty = self.recent_menu.addAction("No recent projects")
            empty.setEnabled(False)
        for path in recent:
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.triggered.connect(lambda _=False, p=path: self.open_project(p))

    def _update_actions(self, busy: bool) -> None:
        for action in (self.new_action, self.open_action, self.recent_menu.menuAction()):
            action.setEnabled(not busy)
        self.start_page.setEnabled(not busy)

    # -------------------------------------------------------------- status bar
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.device_label = QLabel("Device: detecting…")
        self.device_label.setToolTip("The device that trains and denoises (see the Train page).")
        self.project_label = QLabel()
        self.dirty_label = QLabel()
        self.dirty_label.setObjectName("dirtyLabel")
        bar.addWidget(self.project_label, 1)
        bar.addPermanentWidget(self.dirty_label)
        bar.addPermanentWidget(self.device_label)

    def _probe_devices(self) -> None:
        job = Job("probe devices", call(probe_devices), self)
        job.succeeded.connect(self._devices_found)
        job.failed.connect(lambda info: self.device_label.setText("Device: unavailable"))
        self.context.run(job, background=True)

    def _devices_found(self, devices: list[tuple[str, str]]) -> None:
        self.context.set_devices(devices)
        self.device_label.setText(f"Device: {self.context.device_name('auto').split(': ')[-1]}")

    def _update_title(self, *_: object) -> None:
        state = self.state
        star = "*" if state.dirty else ""
        self.setWindowTitle(f"{state.title}{star} — {APP_NAME}")
        self.project_label.setText(str(state.path) if state.path else "Not saved yet")
        self.dirty_label.setText("Unsaved changes" if state.dirty else "")

    def _update_steps(self) -> None:
        self.step_bar.set_done(1, self.state.noise_model is not None)
        self.step_bar.set_done(2, self.state.is_trained)

    def go_to_step(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        self.step_bar.set_current(index)

    # ------------------------------------------------------------------ projects
    def new_project(self) -> None:
        if self.context.busy or not self._may_discard():
            return
        self.state.new()
        self.go_to_step(1)

    def try_demo(self) -> None:
        if not self.context.busy and self._may_discard():
            self.start_page.start_demo()

    def open_project(self, path: Path | None) -> None:
        if self.context.busy or not self._may_discard():
            return
        if path is None:
            name, _ = QFileDialog.getOpenFileName(
                self, "Open project", self.context.last_folder("project"), PROJECT_FILTER
            )
            if not name:
                return
            path = Path(name)
        from pn2v_engine import load_project

        job = Job("open project", call(lambda: load_project(path)), self)
        job.succeeded.connect(lambda project: self._opened(project, path))
        job.failed.connect(lambda info: self.context.error("Could not open the project", info))
        self.statusBar().showMessage(f"Opening {path.name}…")
        self.context.run(job)

    def _opened(self, project: Any, path: Path) -> None:
        self.state.load_project(project, path.resolve())
        self._remember(path)
        self.statusBar().showMessage(f"Opened {path.name}", 5000)
        self.go_to_step(3 if self.state.is_trained else 1)

    def save(self) -> bool:
        if self.state.path is None:
            return self.save_as()
        return self._save_to(self.state.path)

    def save_as(self) -> bool:
        suggested = self.state.path or Path(self.context.last_folder("project")) / "project.pn2v"
        name, _ = QFileDialog.getSaveFileName(self, "Save project", str(suggested), PROJECT_FILTER)
        if not name:
            return False
        path = Path(name)
        if path.suffix.lower() != ".pn2v":
            path = path.with_name(path.name + ".pn2v")
        return self._save_to(path)

    def _save_to(self, path: Path) -> bool:
        from pn2v_engine import save_project

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            written = save_project(self.state.to_project(), path)
        except Exception as error:  # shown to the user; the project stays open and unsaved
            self.context.error("Could not save the project", ErrorInfo.from_exception(error))
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.state.mark_saved(written)
        self._remember(written)
        self.statusBar().showMessage(f"Saved {written}", 5000)
        return True

    def _autosave(self) -> None:
        if self.state.path is not None:
            self._save_to(self.state.path)
        else:
            self.statusBar().showMessage("Save the project (Ctrl+S) to keep the training.", 10000)

    def _remember(self, path: Path) -> None:
        self.context.settings.add_recent(path)
        self.context.remember_folder("project", path)

    def _may_discard(self) -> bool:
        """True when there is nothing unsaved, or the user saved or chose to discard it."""
        if not self.state.dirty:
            return True
        answer = dialogs.ask(
            self,
            "Unsaved changes",
            f"{self.state.title} has unsaved changes. Save them first?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # ------------------------------------------------------------------- closing
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.context.busy:
            answer = dialogs.ask(
                self,
                "A job is running",
                "A job is still running. Stop it and quit? Training keeps what it has learnt.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.statusBar().showMessage("Stopping…")
            stop_all()
            QApplication.processEvents()  # deliver the jobs' last results (stopped training)
        if not self._may_discard():
            event.ignore()
            return
        stop_all()  # background reads and checks
        self.context.settings.window_geometry = bytes(self.saveGeometry().toBase64()).decode()
        save_settings(self.context.settings)
        event.accept()

    def _restore_geometry(self) -> None:
        geometry = self.context.settings.window_geometry
        if geometry and self.restoreGeometry(QByteArray.fromBase64(geometry.encode())):
            return
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            available = screen.availableGeometry()
            self.resize(min(1280, available.width()), min(840, available.height()))
