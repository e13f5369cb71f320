"""Step 2: measure the camera's noise model p(x|s) from a calibration stack.

Alternatives on the same page: load a saved model, or estimate a Poisson-Gaussian
model from the noisy images themselves (a measured model is better).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.widgets.file_list import FILE_FILTER, FileList
from app.widgets.image_view import ImageView
from app.widgets.noise_model_view import NoiseModelView
from app.workers import ErrorInfo, Factory, Job

MODEL_FILTER = "Noise models (*.npz);;All files (*)"
THIN_ROW = 100
INTRO = (
    "Record 20–100 frames of a static scene that spans your samples' brightness (an "
    "out-of-focus field diaphragm works well), with the camera settings you image with. "
    "Their mean is the true signal; how single frames scatter around it is the noise model."
)
ESTIMATE_NOTE = (
    "No calibration frames? Bootstrap a model from your noisy images (Noise2Void first, "
    "minutes) or estimate a Poisson-Gaussian one (seconds). A model measured from "
    "calibration frames is better: it captures the camera's real noise."
)


def calibrate_frames(paths: list[Path], bins: int, smooth: bool) -> Factory:
    """Job body: the engine's calibration of ``paths``."""

    def run(token: Any) -> Generator[Any, None, Any]:
        from pn2v_engine import iter_calibrate

        return (yield from iter_calibrate(paths, bins=bins, smooth=smooth, cancel=token))

    return run


def _read_images(paths: list[Path], token: Any) -> Generator[Any, None, list[Any]]:
    """Read noisy images as float32, reporting each file."""
    from pn2v_engine import StageProgress, read_image

    images = []
    for index, path in enumerate(paths):
        token.raise_if_cancelled()
        yield StageProgress("reading", index, len(paths), path.name)
        images.append(read_image(path).as_float32())
    return images


def estimate_from_images(paths: list[Path]) -> Factory:
    """Job body: read noisy images and fit var(x|s) = a s + b to them."""

    def run(token: Any) -> Generator[Any, None, Any]:
        from pn2v_engine import StageProgress, estimate_poisson_gaussian

        images = yield from _read_images(paths, token)
        yield StageProgress("estimating", len(paths), len(paths), "fitting")
        sources = [str(p) for p in paths]
        return estimate_poisson_gaussian(images, metadata={"estimated_from": sources})

    return run


def bootstrap_from_images(paths: list[Path], settings: Any) -> Factory:
    """Job body: N2V on the noisy images, then the histogram of (prediction, noisy) pairs
    smoothed where thin by a Gaussian mixture fitted to them (the counts are kept)."""

    def run(token: Any) -> Generator[Any, None, Any]:
        from pn2v_engine import iter_bootstrap_noise_model

        images = yield from _read_images(paths, token)
        return (yield from iter_bootstrap_noise_model(images, settings, cancel=token))

    return run


def _noisy_images(page: QWidget, state: Any, last_folder: str) -> list[Path]:
    """The project's training images (or the demo's), else images the user picks."""
    paths = list(state.training_images)
    if not paths and state.demo is not None:
        paths = list(state.demo.images)
    if not paths:
        names, _ = QFileDialog.getOpenFileNames(
            page, "Noisy images to estimate the noise from", last_folder, FILE_FILTER
        )
        paths = [Path(n) for n in names]
        if paths:
            state.set_training_images(paths)
    return paths


def _measured_beside_smoothed(model: Any) -> tuple[Any, str]:
    """A smoothed histogram's measured counts, to draw beside it; else nothing."""
    if "smoothing" in model.metadata and model.counts is not None:
        if "bootstrap" in model.metadata:
            return model.measured(), "the histogram of the same (N2V prediction, noisy) pairs"
        return model.measured(), "the histogram as measured"
    return None, ""


class CalibratePage(QWidget):
    """Calibration frames in, noise model out, with the paper's Figure 3 views."""

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self.state = context.state
        self._job: Job | None = None
        #: (model, histogram drawn beside it, caption): set when a bootstrap replaces a model.
        self._comparison: tuple[Any, Any, str] = (None, None, "")

        title = QLabel("Calibrate the camera's noise")
        title.setObjectName("pageTitle")
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        intro.setObjectName("note")

        # ---- left: frames and actions
        self.files = FileList(
            "Drop calibration frames here: one multi-frame stack or many single frames "
            "(TIFF or PNG).",
            "Add calibration frames",
        )
        self.files.files_changed.connect(self._files_changed)
        self.bins = QSpinBox()
        self.bins.setRange(16, 4096)
        self.bins.setValue(256)
        self.bins.setToolTip(
            "Histogram bins along signal and observation. 256 suits 8- to 16-bit data; "
            "integer data with a narrower range get one bin per grey level."
        )
        self.smooth = QCheckBox("Smooth the histogram (recommended)")
        self.smooth.setChecked(True)
        self.smooth.setToolTip(
            "Fit a smooth Gaussian-mixture model to the same (signal, reading) pairs and lean "
            "on it where the histogram is thin. Bright signals are seen by few pixels, so their "
            "histogram rows are ragged, and PN2V denoises worse with ragged rows; well-filled "
            "rows keep their measured shape (how much each row leans on the mixture is chosen "
            "by cross-validation). The measured histogram is drawn beside it for comparison."
        )
        self.build_button = QPushButton("&Build noise model")
        self.build_button.setObjectName("primaryButton")
        self.build_button.setToolTip("Average the frames and build the histogram p(x|s).")
        self.build_button.clicked.connect(self.build)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop building; nothing changes.")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()

        frames_box = QGroupBox("Calibration frames")
        form = QFormLayout()
        form.addRow("Histogram bins:", self.bins)
        form.addRow("", self.smooth)
        buttons = QHBoxLayout()
        buttons.addWidget(self.build_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        frames_layout = QVBoxLayout(frames_box)
        frames_layout.addWidget(self.files, 1)
        frames_layout.addLayout(form)
        frames_layout.addLayout(buttons)
        frames_layout.addWidget(self.progress)

        self.load_button = QPushButton("&Load noise model…")
        self.load_button.setToolTip(
            "Use a noise model (.npz) saved earlier by PN2V Studio or pn2v."
        )
        self.load_button.clicked.connect(lambda: self.load_model(None))
        self.estimate_button = QPushButton("&Estimate from noisy images…")
        self.estimate_button.setToolTip(
            "Fit a Poisson-Gaussian model to the noisy images you will train on "
            "(those on the Train page, or images you choose)."
        )
        self.estimate_button.clicked.connect(self.estimate)
        self.bootstrap_button = QPushButton("&Bootstrap from noisy images…")
        self.bootstrap_button.setToolTip(
            "No calibration frames: train Noise2Void on your noisy images (minutes, with the "
            "Train page's preset), then model the noise around its prediction: the histogram "
            "of (prediction, noisy pixel) pairs, smoothed where thin by a fitted mixture "
            "(Prakash et al. 2020). Usually closer to a measured model than the "
            "Poisson-Gaussian estimate."
        )
        self.bootstrap_button.clicked.connect(self.bootstrap)
        self.export_button = QPushButton("Save noise model &as…")
        self.export_button.setToolTip("Write the current noise model to an .npz file.")
        self.export_button.clicked.connect(lambda: self.export_model(None))
        estimate_note = QLabel(ESTIMATE_NOTE)
        estimate_note.setWordWrap(True)
        estimate_note.setObjectName("note")
        other_box = QGroupBox("Other ways to a noise model")
        other = QVBoxLayout(other_box)
        row = QHBoxLayout()
        row.addWidget(self.load_button)
        row.addWidget(self.estimate_button)
        row.addWidget(self.bootstrap_button)
        row.addStretch(1)
        other.addLayout(row)
        other.addWidget(estimate_note)
        other.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignLeft)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(frames_box, 1)
        left_layout.addWidget(other_box)

        # ---- right: model, signal and coverage
        self.model_view = NoiseModelView()
        self.signal_view = ImageView("Averaged signal")
        self.coverage_plot = pg.PlotWidget()
        self.coverage_plot.setMinimumHeight(120)
        self.coverage_plot.setMaximumHeight(170)  # the noise model keeps the height
        self.coverage_plot.setLabel("bottom", "signal s (camera units)")
        self.coverage_plot.setLabel("left", "pairs per bin")
        self.coverage_plot.setLogMode(y=True)
        self.coverage_plot.setToolTip(
            "How many (signal, reading) pairs fell in each signal bin. Rows with few pairs "
            "are ragged: smoothing leans on a fitted mixture there, and unsmoothed "
            "histograms lean on a fitted Poisson-Gaussian prior there."
        )
        self.coverage_curve = self.coverage_plot.plot(
            stepMode="center", fillLevel=0, brush=(45, 108, 223, 80), pen="#2d6cdf"
        )
        self.tabs = QTabWidget()
        self.tabs.addTab(self.model_view, "Noise model p(x|s)")
        self.tabs.addTab(self.signal_view, "Averaged signal")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setObjectName("warningText")
        self.warnings.hide()
        summary_box = QGroupBox("Summary")
        summary_layout = QHBoxLayout(summary_box)
        text = QVBoxLayout()
        text.addWidget(self.summary)
        text.addWidget(self.warnings)
        text.addStretch(1)
        summary_layout.addLayout(text, 3)
        summary_layout.addWidget(self.coverage_plot, 2)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.tabs, 3)
        right_layout.addWidget(summary_box, 1)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)

        self.next_button = QPushButton("&Next: Train →")
        self.next_button.setToolTip("Go to training once a noise model exists.")
        self.next_button.clicked.connect(lambda: context.go_to_step.emit(2))
        footer = QHBoxLayout()
        footer.addStretch(1)
        footer.addWidget(self.next_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(splitter, 1)
        layout.addLayout(footer)

        self.state.noise_model_changed.connect(self.show_model)
        self.state.demo_loaded.connect(self._demo_loaded)
        context.busy_changed.connect(lambda _: self._update_buttons())
        self.show_model()

    # ------------------------------------------------------------------ actions
    def _files_changed(self, files: list[Path]) -> None:
        if files:
            self.context.remember_folder("calibration", files[0])
            self.files.start_folder = str(files[0].parent)
        self._update_buttons()

    def _demo_loaded(self) -> None:
        demo = self.state.demo
        if demo is not None:
            self.files.set_files([demo.calibration_stack])

    def build(self) -> None:
        files = self.files.files()
        if not files or self.context.busy:
            return
        self._start(
            Job(
                "calibrate",
                calibrate_frames(files, self.bins.value(), self.smooth.isChecked()),
                self,
            ),
            "Reading frames…",
            lambda result: self._calibrated(result, files),
        )

    def estimate(self) -> None:
        self._from_noisy_images(
            "estimate noise model",
            estimate_from_images,
            "Estimating…",
            lambda model: self.state.set_noise_model(model, []),
        )

    def bootstrap(self) -> None:
        self._from_noisy_images(
            "bootstrap noise model",
            lambda paths: bootstrap_from_images(paths, self.state.settings),
            "Training N2V…",
            self._bootstrapped,
        )

    def _from_noisy_images(
        self, name: str, factory: Callable[[list[Path]], Factory], text: str, on_result: Any
    ) -> None:
        """Ask for the noisy images (or take the Train page's) and run ``factory(paths)``."""
        if self.context.busy:
            return
        paths = _noisy_images(self, self.state, self.context.last_folder("training"))
        if paths:
            self._start(Job(name, factory(paths), self), text, on_result)

    def load_model(self, path: Path | None) -> None:
        if path is None:
            name, _ = QFileDialog.getOpenFileName(
                self, "Load noise model", self.context.last_folder("noise_model"), MODEL_FILTER
            )
            if not name:
                return
            path = Path(name)
        from app.workers import ErrorInfo
        from pn2v_engine import PN2VError, load_noise_model

        try:
            model = load_noise_model(path)
        except PN2VError as error:
            self.context.error("Could not load the noise model", ErrorInfo.from_exception(error))
            return
        self.context.remember_folder("noise_model", path)
        self.state.set_noise_model(model, [])

    def export_model(self, path: Path | None) -> None:
        model = self.state.noise_model
        if model is None:
            return
        if path is None:
            suggested = Path(self.context.last_folder("noise_model")) / "noise_model.npz"
            name, _ = QFileDialog.getSaveFileName(
                self, "Save noise model", str(suggested), MODEL_FILTER
            )
            if not name:
                return
            path = Path(name)
        try:
            written = model.save(path)
        except Exception as error:  # shown to the user; the model stays in the project
            self.context.error("Could not save the noise model", ErrorInfo.from_exception(error))
            return
        self.context.remember_folder("noise_model", written)

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _start(self, job: Job, text: str, on_result: Any) -> None:
        self._job = job
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)
        self.progress.show()
        job.progress.connect(self._progress)
        job.succeeded.connect(on_result)
        job.failed.connect(lambda info: self.context.error("No noise model was made", info))
        job.finished.connect(self._finished)
        self.context.run(job)
        self._update_buttons()

    def _progress(self, report: Any) -> None:
        if hasattr(report, "epoch"):  # the bootstrap's N2V training
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(report.fraction * 1000))
            self.progress.setFormat(f"Training N2V: epoch {report.epoch}/{report.epochs}")
            return
        if report.total:
            self.progress.setRange(0, report.total)
            self.progress.setValue(report.done)
        self.progress.setFormat(f"{report.stage.capitalize()}: {report.done}/{report.total or '?'}")

    def _finished(self) -> None:
        self._job = None
        self.progress.hide()
        self._update_buttons()

    def _bootstrapped(self, model: Any) -> None:
        """Use the model; compare it with a calibrated one it replaces, else its own counts."""
        previous = self.state.noise_model
        if previous is not None and "calibration" in previous.metadata:
            self._comparison = (model, previous, "the calibrated histogram it replaces")
        self.state.set_noise_model(model, [])
        self.tabs.setCurrentWidget(self.model_view)

    def _calibrated(self, result: Any, files: list[Path]) -> None:
        self.state.set_noise_model(result.noise_model, files, result.signal)
        self.tabs.setCurrentWidget(self.model_view)

    # ------------------------------------------------------------------ display
    def show_model(self) -> None:
        model = self.state.noise_model
        if model is None:
            self.model_view.clear()
            self.signal_view.clear()
            self.coverage_curve.setData([], [])
            self.summary.setText("No noise model yet. Add calibration frames and build one.")
            self.warnings.hide()
        else:
            shown_with, comparison, label = self._comparison
            if shown_with is not model:
                comparison, label = _measured_beside_smoothed(model)
            self.model_view.set_noise_model(model, comparison, label)
            if self.state.calibration_signal is not None:
                self.signal_view.set_image(self.state.calibration_signal)
            else:
                self.signal_view.clear()
            self._show_summary(model)
        self._update_buttons()

    def _show_summary(self, model: Any) -> None:
        calibration = model.metadata.get("calibration")
        lines = [f"<b>{model.describe()}</b>"]
        warnings = list(calibration.get("warnings", [])) if calibration else []
        counts = np.asarray(calibration.get("counts_per_bin", []) if calibration else [])
        if calibration:
            shape = "×".join(str(n) for n in calibration["shape"])
            low, high = calibration["signal_range"]
            obs_low, obs_high = calibration["observation_range"]
            lines += [
                f"Frames: {calibration['frames']} of {shape} pixels, {calibration['dtype']}",
                f"Signal range: {low:.1f} to {high:.1f}; readings {obs_low:.0f} to {obs_high:.0f}",
            ]
            if "saturated_pixels" in calibration:  # histograms count them; mixtures do not
                lines.append(f"Saturated pixels: {calibration['saturated_pixels']}")
        if counts.size:
            thin = int(np.count_nonzero(counts < THIN_ROW))
            lines.append(
                f"Coverage: median {np.median(counts):.0f} pairs per signal bin; "
                f"{thin} of {counts.size} bins have fewer than {THIN_ROW}"
            )
            low, high = model.signal_range
            edges = np.linspace(low, high, counts.size + 1)
            self.coverage_curve.setData(edges, np.maximum(counts, 1).astype(float))
            self.coverage_plot.show()
        else:
            self.coverage_curve.setData([], [])
            self.coverage_plot.hide()
        bootstrap = model.metadata.get("bootstrap")
        deflation = bootstrap.get("deflation") if bootstrap else None
        if deflation and deflation["applied"]:
            low, high = deflation["variance_factor"]
            lines.append(
                f"Noise2Void's own error taken out of the pairs' spread: variance × "
                f"{low:.2f} to {high:.2f}, as measured on its prediction noised again"
            )
        elif deflation and deflation.get("needed", True):
            warnings.append(f"The pairs' spread includes Noise2Void's error: {deflation['reason']}")
        elif deflation:
            lines.append(f"Pairs kept as measured: {deflation['reason']}")
        if model.source_network is not None:
            lines.append(
                "Keeps its Noise2Void network: PN2V training (step 3) starts from it, and "
                "denoising (step 4) can average its prediction in"
            )
        if bootstrap:
            warnings.append(
                "Bootstrapped from a Noise2Void prediction: good without calibration frames, "
                "but a model measured from calibration frames is more accurate."
            )
        if "estimated_from" in model.metadata:
            warnings.append(
                "Estimated from noisy images: a model measured from calibration frames "
                "is more accurate."
            )
        self.summary.setText("<br>".join(lines))
        self.warnings.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.warnings.setVisible(bool(warnings))

    def _update_buttons(self) -> None:
        busy = self.context.busy
        running = self._job is not None
        self.build_button.setEnabled(not busy and self.files.count > 0)
        self.cancel_button.setEnabled(running)
        self.load_button.setEnabled(not busy)
        self.estimate_button.setEnabled(not busy)
        self.bootstrap_button.setEnabled(not busy)
        self.files.setEnabled(not running)
        self.export_button.setEnabled(self.state.noise_model is not None)
        self.next_button.setEnabled(self.state.noise_model is not None)
