"""The open project as the GUI sees it: one object the pages share and observe.

It holds what a :class:`pn2v_engine.Project` holds (settings, noise model,
training result, data references) plus what only the GUI needs (the averaged
calibration signal for display, the demo's ground truth). It builds a
``Project`` only to save, so painting the first window never imports torch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


@dataclass
class DemoInfo:
    """The built-in demo's files: ground truth per noisy image, for scoring."""

    folder: Path
    calibration_stack: Path
    images: list[Path]
    ground_truth: dict[Path, Path] = field(default_factory=dict)


class ProjectState(QObject):
    """The current project; every change emits ``changed`` and marks it unsaved."""

    changed = Signal()
    dirty_changed = Signal(bool)
    path_changed = Signal(object)
    noise_model_changed = Signal()
    training_images_changed = Signal()
    training_changed = Signal()
    demo_loaded = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._reset_fields()

    def _reset_fields(self) -> None:
        from pn2v_engine import preset

        self.settings = preset("cpu")
        self.noise_model: Any = None
        self.calibration_files: list[Path] = []
        self.calibration_signal: np.ndarray | None = None
        self.training_images: list[Path] = []
        self.training: Any = None
        self.name = ""
        self.notes = ""
        self.created: str | None = None
        self.path: Path | None = None
        self.dirty = False
        self.demo: DemoInfo | None = None

    # ----------------------------------------------------------------- changes
    def _touch(self) -> None:
        self.changed.emit()
        if not self.dirty:
            self.dirty = True
            self.dirty_changed.emit(True)

    def set_noise_model(
        self, model: Any, calibration_files: list[Path], signal: np.ndarray | None = None
    ) -> None:
        self.noise_model = model
        self.calibration_files = list(calibration_files)
        self.calibration_signal = signal
        self.noise_model_changed.emit()
        self._touch()

    def set_training_images(self, paths: list[Path]) -> None:
        self.training_images = list(paths)
        self.training_images_changed.emit()
        self._touch()

    def set_settings(self, settings: Any) -> None:
        """New training settings (``settings.preset`` names the preset, or ``custom``)."""
        if settings == self.settings:
            return
        self.settings = settings
        self._touch()

    def set_training(self, result: Any) -> None:
        self.training = result
        self.training_changed.emit()
        self._touch()

    @property
    def is_trained(self) -> bool:
        return self.training is not None

    @property
    def title(self) -> str:
        return self.path.name if self.path else "Untitled project"

    # ------------------------------------------------------------- new/load/save
    def new(self) -> None:
        self._reset_fields()
        self._announce_everything()

    def load_demo(self, demo: DemoInfo, settings: Any) -> None:
        """Start a new project on the demo's files; pages fill in their lists."""
        self.new()
        self.demo = demo
        self.name = "demo"
        self.settings = settings
        self.demo_loaded.emit()
        self._touch()

    def to_project(self) -> Any:
        from pn2v_engine import DataReference, Project

        project = Project(
            settings=self.training.settings if self.training is not None else self.settings,
            noise_model=self.noise_model,
            training=self.training,
            training_images=[DataReference.to_file(p) for p in self.training_images],
            calibration_files=[DataReference.to_file(p) for p in self.calibration_files],
            name=self.name,
            notes=self.notes,
        )
        if self.created:
            project.created = self.created
        return project

    def load_project(self, project: Any, path: Path) -> None:
        """Adopt a project loaded by :func:`pn2v_engine.load_project` from ``path``."""
        self._reset_fields()
        self.settings = project.settings
        self.noise_model = project.noise_model
        self.training = project.training
        self.name = project.name
        self.notes = project.notes
        self.created = project.created
        folder = path.parent
        self.training_images = _located(project.training_images, folder)
        self.calibration_files = _located(project.calibration_files, folder)
        self.path = path
        self._announce_everything()

    def _announce_everything(self) -> None:
        """Tell every observer that the whole project was replaced (and is saved)."""
        self.noise_model_changed.emit()
        self.training_images_changed.emit()
        self.training_changed.emit()
        self.changed.emit()
        self.path_changed.emit(self.path)
        self.dirty_changed.emit(False)

    def mark_saved(self, path: Path) -> None:
        self.path = path
        self.dirty = False
        self.path_changed.emit(path)
        self.dirty_changed.emit(False)


def _located(references: list[Any], folder: Path) -> list[Path]:
    found = []
    for reference in references:
        path = reference.locate(folder)
        if path is None:
            log.warning("a file of the project is missing: %s", reference.path)
        else:
            found.append(path)
    return found
