"""Step 3: train the network on noisy images, watch it learn, stop and resume.

The page keeps what it shows in step with :class:`app.state.ProjectState`:
the training images, the settings (a preset or custom values, in a
:class:`~app.widgets.training_settings.TrainingSettingsForm`) and the training
result. Files are read only in workers (:mod:`app.pages.train_jobs`): a check of
the images (sizes, and how much lies outside the noise model's calibrated range)
whenever the images or the noise model change, the preview of the selected image,
and the training.
"""

from __future__ import annotations

import math
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

import pn2v_engine as engine
from app import dialogs
from app.context import AppContext
from app.pages.train_jobs import PREVIEWS, ImageCheck, PreviewCrop, check_images, train
from app.user_settings import save_settings
from app.widgets.file_list import FileList
from app.widgets.image_view import CompareView, ImageView
from app.widgets.training_plots import TrainingPlots
from app.widgets.training_settings import TrainingSettingsForm
from app.workers import ErrorInfo, Job, call

if TYPE_CHECKING:
    from pn2v_engine import TrainProgress, TrainResult

INTRO = (
    "Train a network on noisy images of your samples, taken with the camera settings of the "
    "calibration. It learns from the noisy images alone; more images and epochs help."
)


class TrainPage(QWidget):
    """Training images, settings, device, Start/Stop/Resume, live curves and preview."""

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self.state = context.state
        self._job: Job | None = None
        self._check: ImageCheck | None = None
        self._check_error = ""
        self._check_job: Job | None = None
        self._check_generation = 0
        self._preview_generation = 0
        self._crop: np.ndarray | None = None
        self._message = ""
        self._syncing = False
        self._adopting = False
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(0)
        self._check_timer.timeout.connect(self._check_images)

        title = QLabel("Train the network")
        title.setObjectName("pageTitle")
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        intro.setObjectName("note")

        left = self._build_images_column()
        right = self._build_training_column()
        columns = QSplitter(Qt.Orientation.Horizontal)
        columns.setChildrenCollapsible(False)
        columns.addWidget(left)
        columns.addWidget(right)
        columns.setStretchFactor(0, 2)
        columns.setStretchFactor(1, 5)

        content = _ScrollContent()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(columns, 1)
        # a small window (or large text) scrolls rather than squeezing the plots
        scroll = QScrollArea()
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        # keyboard order: images, settings, what blocks training, the buttons, then results
        order = (
            self.settings_form.val_spin,
            self.train_anyway,
            self.calibrate_button,
            self.start_button,
            self.stop_button,
            self.resume_button,
            self.next_button,
            self.compare,
            self.plots,
        )
        for first, second in pairwise(order):
            QWidget.setTabOrder(first, second)

        state = self.state
        state.training_images_changed.connect(self._images_changed)
        state.noise_model_changed.connect(self._noise_model_changed)
        state.training_changed.connect(self._training_changed)
        state.demo_loaded.connect(self._demo_loaded)
        state.changed.connect(self._sync_settings)
        context.devices_changed.connect(self._fill_devices)
        self._fill_devices()
        self._sync_settings()
        self._images_changed()
        self._training_changed()

    # ------------------------------------------------------------------ layout
    def _build_images_column(self) -> QWidget:
        self.files = FileList(
            "Drop noisy images or folders here, or use Add files… (TIFF or PNG, 2-D or stacks).",
            "Add noisy training images",
        )
        self.files.setToolTip("The noisy images the network learns from.")
        self.files.files_changed.connect(self._files_edited)
        self.files.selection_changed.connect(self._show_selected)
        self.image_view = ImageView()

        images_box = QGroupBox("Noisy training images")
        box_layout = QVBoxLayout(images_box)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.files)
        splitter.addWidget(self.image_view)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        box_layout.addWidget(splitter)
        return images_box

    def _build_training_column(self) -> QWidget:
        column = QWidget()
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        self.compare = CompareView()
        self.preview_note = QLabel()
        self.preview_note.setObjectName("note")
        preview = QGroupBox("Live preview")
        preview_layout = QVBoxLayout(preview)
        preview_layout.setSpacing(4)
        preview_layout.addWidget(self.preview_note)
        preview_layout.addWidget(self.compare, 1)
        top = QHBoxLayout()
        top.setSpacing(10)
        self.settings_form = TrainingSettingsForm(self.state.settings)
        self.settings_form.settings_edited.connect(self.state.set_settings)
        self.settings_form.error_changed.connect(self._update_controls)
        self.settings_form.device_chosen.connect(self._device_chosen)
        top.addWidget(self.settings_form, 3)
        top.addWidget(preview, 2)
        layout.addLayout(top)
        # under the settings rather than in their box: the row above keeps its height
        # (a word-wrapped label there would make the layout squeeze the plots)
        layout.addWidget(self.settings_form.error_label)
        layout.addWidget(self._build_notices())
        layout.addLayout(self._build_buttons())
        self.plots = TrainingPlots()
        layout.addWidget(self.plots, 1)
        return column

    def _build_notices(self) -> QWidget:
        notices = QWidget()
        self.notices = notices
        self.range_label = QLabel()
        self.range_label.setObjectName("warningText")
        self.range_label.setWordWrap(True)
        self.range_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.calibrate_button = QPushButton("Go to &Calibrate")
        self.calibrate_button.setToolTip("Build a noise model from calibration frames (step 2).")
        self.calibrate_button.clicked.connect(lambda: self.context.go_to_step.emit(1))
        self.train_anyway = QCheckBox("Train &anyway")
        self.train_anyway.setToolTip(
            "Train although much of the images lies outside the noise model's range: those "
            "pixels are treated as the nearest calibrated value, which can bias the result."
        )
        self.train_anyway.toggled.connect(self._update_controls)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.range_label, 1)
        row.addWidget(self.calibrate_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(notices)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(row)
        layout.addWidget(self.train_anyway)
        return notices

    def _build_buttons(self) -> QVBoxLayout:
        self.start_button = QPushButton("&Start")
        self.start_button.setObjectName("primaryButton")
        self.start_button.setToolTip("Train a new network with these settings.")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("St&op")
        self.stop_button.setToolTip("Stop after the current step; the weights so far are kept.")
        self.stop_button.clicked.connect(self.stop)
        self.resume_button = QPushButton("Res&ume")
        self.resume_button.setToolTip(
            "Continue the project's training up to the number of epochs set."
        )
        self.resume_button.clicked.connect(self.resume)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.next_button = QPushButton("&Next: Denoise →")
        self.next_button.setToolTip("Denoise images with the trained network (step 4).")
        self.next_button.clicked.connect(lambda: self.context.go_to_step.emit(3))
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        for button in (self.start_button, self.stop_button, self.resume_button):
            buttons.addWidget(button)
        buttons.addWidget(self.progress, 1)
        buttons.addStretch(1)
        buttons.addWidget(self.next_button)

        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint_label = QLabel()
        self.hint_label.setObjectName("note")
        self.hint_label.setWordWrap(True)
        layout = QVBoxLayout()
        layout.setSpacing(4)
        layout.addLayout(buttons)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.hint_label)
        return layout

    # ------------------------------------------------------------------ images
    def _files_edited(self, files: list[Path]) -> None:
        if not self._syncing:
            self.state.set_training_images(files)

    def _images_changed(self) -> None:
        """Show the project's images and check them again."""
        paths = list(self.state.training_images)
        if self.files.files() != paths:
            self._syncing = True
            try:
                self.files.set_files(paths)
            finally:
                self._syncing = False
        self._schedule_check()

    def _demo_loaded(self) -> None:
        """A demo project may come without training images: take the demo's."""
        self._sync_settings()
        demo = self.state.demo
        if not self.state.training_images and demo is not None and demo.images:
            self.state.set_training_images(demo.images)

    def _noise_model_changed(self) -> None:
        self._schedule_check()

    def _schedule_check(self) -> None:
        if self._check_error and self.files.message.text() == self._check_error:
            self.files.show_message("")  # the last check's complaint, no longer current
        self._check, self._check_error = None, ""
        self.settings_form.set_smallest_image(None)
        self._check_generation += 1
        if self._check_job is not None:
            self._check_job.cancel()
        self.train_anyway.setChecked(False)
        self._check_timer.start()
        self._update_controls()

    def _check_images(self) -> None:
        paths = list(self.state.training_images)
        if not paths:
            return
        generation = self._check_generation
        factory = partial(check_images, paths, self.state.noise_model)
        job = Job("check training images", factory, self)
        job.succeeded.connect(lambda check: self._images_checked(generation, check))
        job.failed.connect(lambda info: self._images_failed(generation, info))
        job.finished.connect(lambda: self._check_job_done(job))
        self._check_job = job
        self.context.run(job, background=True)

    def _check_job_done(self, job: Job) -> None:
        if self._check_job is job:
            self._check_job = None

    def _images_checked(self, generation: int, check: ImageCheck) -> None:
        if generation == self._check_generation:
            self._check = check
            self.settings_form.set_smallest_image((check.height, check.width))
            self._update_controls()

    def _images_failed(self, generation: int, info: ErrorInfo) -> None:
        if generation == self._check_generation:
            self._check_error = f"{info.message} {info.hint}".strip()
            self.files.show_message(self._check_error)
            self._update_controls()

    def _show_selected(self, path: Path | None) -> None:
        """Read the selected image in a worker and show it."""
        self._preview_generation += 1
        if path is None:
            self.image_view.clear()
            self.image_view.set_title("")
            return
        generation = self._preview_generation
        job = Job("preview image", call(partial(engine.read_image, path)), self)
        job.succeeded.connect(lambda image: self._selected_ready(generation, path, image))
        job.failed.connect(lambda info: self._selected_failed(generation, info))
        self.context.run(job, background=True)

    def _selected_ready(self, generation: int, path: Path, image: Any) -> None:
        if generation != self._preview_generation:
            return
        frames, height, width = image.data.shape
        stack = f", {frames} frames" if frames > 1 else ""
        self.image_view.set_title(f"{path.name}  ({width}×{height}{stack})")
        self.image_view.set_image(image.data)

    def _selected_failed(self, generation: int, info: ErrorInfo) -> None:
        if generation == self._preview_generation:
            self.image_view.clear()
            self.image_view.set_title("")
            self.files.show_message(f"{info.message} {info.hint}".strip())

    # ---------------------------------------------------------------- settings
    def _sync_settings(self) -> None:
        """Show the project's settings when they changed elsewhere (a demo, an opened project)."""
        demo_project = self.state.demo is not None
        self.settings_form.set_settings(self.state.settings, demo_project=demo_project)
        self._update_controls()

    def _fill_devices(self) -> None:
        self.settings_form.set_devices(self.context.devices, self.context.preferred_device())

    def _device_chosen(self, device: str) -> None:
        self.context.settings.device = device
        save_settings(self.context.settings)

    # ---------------------------------------------------------------- training
    @property
    def running(self) -> bool:
        return self._job is not None

    def start(self) -> None:
        """Train a new network; confirm first when it would replace the project's training."""
        if self.running or self._blockers():
            return
        training = self.state.training
        if training is not None:
            answer = dialogs.ask(
                self,
                "Replace the training?",
                f"This project has a network trained for {training.epochs_done} epochs. "
                "Train a new one? The current network is replaced when the new training "
                "ends or is stopped.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._run(resume=None)

    def resume(self) -> None:
        """Continue the project's training up to the epochs now set."""
        if not self.running and not self._blockers() and not self._resume_problem():
            self._run(resume=self.state.training)

    def stop(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._message = "Stopping after the current step…"
            self._update_controls()

    def _run(self, resume: TrainResult | None) -> None:
        settings = self.state.settings
        epochs = settings.training.epochs
        every = max(1, epochs // PREVIEWS)
        options = {
            "resume": resume,
            "device": self.settings_form.device,
            "allow_out_of_range": self.train_anyway.isChecked(),
            "preview_every": every,
        }
        paths = list(self.state.training_images)
        factory = partial(train, paths, self.state.noise_model, settings, options)
        job = Job("training", factory, self)
        job.progress.connect(self._progress)
        job.succeeded.connect(lambda result: self._succeeded(result, resume))
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        job.finished.connect(self._finished)
        self._job = job
        self._crop = None
        self._message = ""
        if resume is None:
            self.plots.clear()
        else:
            self.plots.set_history(resume.history, epochs)
        self.compare.clear()
        self.preview_note.setText(
            f"Centre of {paths[0].name}, "
            + (f"every {every} epochs" if every > 1 else "after every epoch")
        )
        self.preview_note.setToolTip(
            "A crop of the first image, denoised with the weights of the moment."
        )
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.context.run(job)
        self._update_controls()

    def _progress(self, report: Any) -> None:
        if isinstance(report, PreviewCrop):
            self._crop = report.crop
        elif isinstance(report, engine.StageProgress):
            self.progress.setValue(0)
            self.progress.setFormat(f"{report.stage}: {report.done + 1} of {report.total}…")
        elif isinstance(report, engine.TrainProgress):
            self._train_progress(report)

    def _train_progress(self, report: TrainProgress) -> None:
        self.plots.add_progress(report)
        self.progress.setValue(round(1000 * report.fraction))
        self.progress.setFormat(f"Epoch {report.epoch} of {report.epochs}: %p%")
        if report.preview is not None and self._crop is not None:
            self.compare.set_images(
                self._crop,
                report.preview,
                before_title="Noisy",
                after_title=f"Denoised (epoch {report.epoch})",
            )

    def _succeeded(self, result: TrainResult, resume: TrainResult | None) -> None:
        if resume is None and result.epochs_done == 0:
            self._message = "Stopped before the first epoch ended; nothing was kept."
            return
        self._message = ""
        self._adopting = True
        try:
            self.state.set_training(result)
        finally:
            self._adopting = False
        self.context.request_save()

    def _failed(self, info: ErrorInfo) -> None:
        self._message = f"Training failed: {info.message}"
        self.context.error("Training failed", info)

    def _cancelled(self) -> None:
        self._message = "Stopped before training started."

    def _finished(self) -> None:
        self._job = None
        self._update_controls()

    def _training_changed(self) -> None:
        """Show the curves of the project's training; a preview only of a run seen here."""
        training = self.state.training
        if training is None:
            self.plots.clear()
        else:
            self.plots.set_history(training.history, training.settings.training.epochs)
        if not self._adopting:  # another project's training, or none
            self.compare.clear()
            self.preview_note.setText("Appears during training")
        self._update_controls()

    # ------------------------------------------------------------------ status
    def _needs_noise_model(self) -> bool:
        return self.state.settings.mode == "pn2v" and self.state.noise_model is None

    def _out_of_range(self) -> bool:
        """True when the engine would refuse to train on these images with this model."""
        check = self._check
        if check is None or check.range_report is None or self.state.noise_model is None:
            return False
        return check.range_report.fraction_outside > engine.MAX_OUT_OF_RANGE

    def _blockers(self) -> list[str]:
        """Why training cannot start now (empty when it can)."""
        return self._plain_blockers() + self._noticed_blockers()

    def _noticed_blockers(self) -> list[str]:
        """Reasons that a notice or the settings error already explains on the page."""
        reasons = []
        if self._needs_noise_model():
            reasons.append("Training needs a noise model: calibrate one first.")
        if self.settings_form.error:
            reasons.append("Correct the settings.")
        if self._out_of_range() and not self.train_anyway.isChecked():
            reasons.append("Recalibrate over the images' range, or tick Train anyway.")
        return reasons

    def _plain_blockers(self) -> list[str]:
        """Reasons shown under the buttons."""
        reasons = []
        if not self.state.training_images:
            reasons.append("Add noisy images to train on: Add files…, or drop them on the list.")
        elif self._check_error:
            reasons.append("An image cannot be read (see under the list): remove or replace it.")
        elif self._check is None:
            reasons.append("Checking the images…")
        if self.settings_form.patch_problem:
            reasons.append(self.settings_form.patch_problem)
        return reasons

    def _resume_problem(self) -> str:
        """Why the project's training cannot be resumed now (empty when it can)."""
        training = self.state.training
        settings = self.state.settings
        if training is None:
            return "There is no training to resume."
        if not settings.network.fits_weights_of(training.settings.network):
            return (
                "The network settings differ from those of the trained network: choose the "
                "same ones to resume, or Start a new training."
            )
        if training.epochs_done >= settings.training.epochs:
            return (
                f"To train longer, choose Custom, raise Epochs above {training.epochs_done} "
                "and press Resume."
            )
        return ""

    def _summary(self) -> str:
        training = self.state.training
        if training is None:
            return ""
        done = training.epochs_done
        best = training.best_val_loss
        loss = f"best validation loss {best:.4g}" if math.isfinite(best) else "no validation yet"
        planned = training.settings.training.epochs
        if training.stopped or done < planned:
            text = f"Stopped after {done} of {planned} epochs; weights kept ({loss})."
        else:
            text = f"Finished {done} epochs ({loss})."
        if training.started_from:
            text += f" Started from {training.started_from}."
        if not self.running:
            problem = self._resume_problem()
            if problem:
                text += f" {problem}"
            elif not self._blockers():
                text += f" Resume continues to {self.state.settings.training.epochs} epochs."
        if training.warnings:
            text += "\nNote: " + " ".join(training.warnings)
        return text

    def _update_controls(self) -> None:
        running = self.running
        trained = self.state.training is not None
        blockers = self._blockers()
        resume_problem = self._resume_problem()

        self.start_button.setEnabled(not running and not blockers)
        self.stop_button.setEnabled(self._job is not None and not self._job.token.cancelled)
        self.resume_button.setEnabled(
            not running and trained and not blockers and not resume_problem
        )
        self.next_button.setEnabled(trained and not running)
        self.files.setEnabled(not running)
        self.settings_form.setEnabled(not running)
        self.calibrate_button.setEnabled(not running)
        self.train_anyway.setEnabled(not running)
        self.progress.setVisible(running)

        self._update_notices()
        summary = self._summary()
        self.summary_label.setText(summary)
        self.summary_label.setVisible(bool(summary))
        hint = self._message or ("" if running else " ".join(self._plain_blockers()[:1]))
        self.hint_label.setText(hint)
        self.hint_label.setVisible(bool(hint))
        self.start_button.setToolTip(
            " ".join(blockers) if blockers else "Train a new network with these settings."
        )

    def _update_notices(self) -> None:
        """The noise-model notice: missing, or the images mostly outside its range."""
        text = ""
        refuse = False
        check = self._check
        if self._needs_noise_model():
            text = (
                "There is no noise model yet. PN2V needs one to train: calibrate it from a "
                "stack of frames of a static scene (step 2), then come back."
            )
        elif check is not None and check.range_report is not None:
            report = check.range_report
            share = report.fraction_outside
            refuse = share > engine.MAX_OUT_OF_RANGE
            if refuse:
                text = (
                    f"{share:.1%} of the pixels ({check.low:g} to {check.high:g}) lie outside "
                    f"the noise model's calibrated range ({report.low:g} to {report.high:g}). "
                    "Recalibrate with frames covering this range (same camera settings), or "
                    "tick Train anyway."
                )
            elif share > 0:
                text = (
                    f"{share:.2%} of the pixels lie outside the noise model's calibrated range "
                    f"({report.low:g} to {report.high:g}); they are treated as the nearest "
                    "calibrated value."
                )
        self.range_label.setText(text)
        self.calibrate_button.setVisible(refuse or self._needs_noise_model())
        self.train_anyway.setVisible(refuse)
        self.notices.setVisible(bool(text))


class _ScrollContent(QWidget):
    """The page's content: as tall as the scroll area, down to its minimum height.

    A scroll area asks content with word-wrapped labels for its height at a width,
    which would be the preferred height of every widget: it would scroll where
    everything fits. This answers the least height that shows everything instead.
    """

    def heightForWidth(self, width: int) -> int:
        return self.layout().totalMinimumHeightForWidth(width)
