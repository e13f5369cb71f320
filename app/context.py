"""What every page needs from the window: the project, user settings, jobs and dialogs."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from app import dialogs
from app.state import ProjectState
from app.user_settings import UserSettings, save_settings
from app.workers import ErrorInfo, Job

log = logging.getLogger(__name__)


class AppContext(QObject):
    """Shared services; pages hold one and never reach into the main window.

    ``busy_changed(bool)`` says whether any job runs; ``devices_changed`` follows
    the background probe of the compute devices (``devices``: id and description).
    """

    busy_changed = Signal(bool)
    devices_changed = Signal()
    go_to_step = Signal(int)
    save_requested = Signal()

    def __init__(self, state: ProjectState, settings: UserSettings, window: QWidget) -> None:
        super().__init__()
        self.state = state
        self.settings = settings
        self.window = window
        self.devices: list[tuple[str, str]] = []
        self._jobs: set[Job] = set()
        self._background: set[Job] = set()

    # ------------------------------------------------------------------- jobs
    def run(self, job: Job, background: bool = False) -> Job:
        """Start ``job`` and keep it alive until its thread ends.

        A foreground job (calibrating, training, denoising, opening) makes the
        context busy; a ``background`` one (reading a preview, checking images)
        does not, and is simply stopped if the window closes.
        """
        was_busy = self.busy
        (self._background if background else self._jobs).add(job)
        job.finished.connect(lambda: self._finished(job))
        job.start()
        if not background and not was_busy:
            self.busy_changed.emit(True)
        return job

    def _finished(self, job: Job) -> None:
        was_busy = self.busy
        self._jobs.discard(job)
        self._background.discard(job)
        job.deleteLater()
        if was_busy and not self.busy:
            self.busy_changed.emit(False)

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def jobs(self) -> list[Job]:
        """The running foreground jobs."""
        return list(self._jobs)

    # -------------------------------------------------------------- settings
    def last_folder(self, purpose: str) -> str:
        return self.settings.last_folder(purpose)

    def remember_folder(self, purpose: str, path: Path) -> None:
        self.settings.remember_folder(purpose, path)
        save_settings(self.settings)

    def preferred_device(self) -> str:
        known = {device for device, _ in self.devices}
        return self.settings.device if self.settings.device in known else "auto"

    def set_devices(self, devices: list[tuple[str, str]]) -> None:
        self.devices = devices
        self.devices_changed.emit()

    def device_name(self, device: str) -> str:
        return dict(self.devices).get(device, device)

    def request_save(self) -> None:
        """Save the project now if it has a file (after training ends or stops)."""
        self.save_requested.emit()

    # --------------------------------------------------------------- dialogs
    def error(self, title: str, info: ErrorInfo) -> None:
        dialogs.show_error(self.window, title, info)
