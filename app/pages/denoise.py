"""Step 4: denoise a queue of files with the trained network, batch after batch.

The queue runs as one :class:`~app.workers.Job` driving :func:`iter_denoise_batch`,
which builds the :class:`pn2v_engine.Denoiser` once and reports per row with small
frozen dataclasses. A file PN2V cannot use fails its own row and the batch goes on;
running out of memory or disk space stops the batch with an error box.

Start denoises the rows that are Queued or Cancelled; Done and Failed rows run
again only after "Queue again". Unless the user chose an output folder, every
batch writes into a new folder beside its inputs, so no result is overwritten.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.widgets.file_list import FILE_FILTER, dropped_paths
from app.widgets.image_view import CompareView
from app.widgets.queue_table import Column, QueueModel, QueueRow, QueueTable, Status
from app.workers import ErrorInfo, Job, call

log = logging.getLogger(__name__)

INTRO = (
    "Denoise any number of TIFF or PNG files with the trained network. Results are "
    "written as TIFFs into a separate folder; your original files are never changed."
)
UNTRAINED = (
    "<b>This project has no trained network yet.</b> Train one on your noisy images "
    "(step 3) before denoising."
)
DROP_HINT = (
    "Drop TIFF or PNG files, or whole folders, here\n"
    "or use Add files… and Add folder… below.\n\n"
    "Folders are searched with their sub-folders."
)
DEFAULT_FOLDER_HINT = "New folder beside the inputs (automatic)"

OUTPUT_TYPES = (
    ("32-bit float (recommended)", "float32"),
    ("Same as input", "input"),
)


# ----------------------------------------------------------------- worker side
@dataclass(frozen=True)
class RowStarted:
    row: int


@dataclass(frozen=True)
class RowProgress:
    row: int
    fraction: float


@dataclass(frozen=True)
class RowDone:
    """``shape`` is (frames, Y, X); the PSNRs are ``None`` without a ground truth."""

    row: int
    paths: tuple[Path, ...]
    shape: tuple[int, int, int]
    psnr_before: float | None = None
    psnr_after: float | None = None


@dataclass(frozen=True)
class RowFailed:
    row: int
    message: str
    hint: str = ""


@dataclass(frozen=True)
class BatchTask:
    """One row to denoise: its id, where its results go, and its ground truth if known."""

    row: int
    job: Any  # pn2v_engine.DenoiseJob
    ground_truth: Path | None = None


BatchEvent = RowStarted | RowProgress | RowDone | RowFailed


def iter_denoise_batch(
    make_denoiser: Callable[[], Any],
    tasks: Sequence[BatchTask],
    options: Any,
    *,
    protect: Sequence[Path] = (),
    cancel: Any = None,
) -> Generator[BatchEvent, None, int]:
    """Denoise ``tasks`` in order with one denoiser; return how many files were written.

    A :class:`pn2v_engine.PN2VError` about one file (unreadable, RGB, NaN, outside the
    noise model's range) yields :class:`RowFailed` and the batch goes on. Errors that
    would recur on every file (out of memory, output not writable, disk full) and
    :class:`pn2v_engine.Cancelled` end the batch by propagating.
    """
    from pn2v_engine import OutputError, PN2VError, ResourceError, iter_denoise_file

    denoiser = make_denoiser()
    written = 0
    for task in tasks:
        if cancel is not None:
            cancel.raise_if_cancelled()
        yield RowStarted(task.row)
        reports = iter_denoise_file(denoiser, task.job, options, protect=protect, cancel=cancel)
        try:
            paths, frames = yield from _tagged(task.row, reports)
        except (OutputError, ResourceError):
            raise
        except PN2VError as error:
            yield RowFailed(task.row, error.message, error.hint)
            continue
        written += 1
        before, after = _scores(task, paths[0])
        yield RowDone(task.row, tuple(paths), (frames, *_frame_shape(paths[0])), before, after)
    return written


def _tagged(row: int, reports: Generator[Any, None, Any]) -> Generator[RowProgress, None, Any]:
    """Relay a file's progress as :class:`RowProgress`; return its result and frame count."""
    frames = 1
    while True:
        try:
            report = next(reports)
        except StopIteration as stop:
            return stop.value, frames
        frames = report.frames
        yield RowProgress(row, report.fraction)


def _frame_shape(path: Path) -> tuple[int, int]:
    """(Y, X) of the first frame of ``path``, read without loading the rest of a stack."""
    from pn2v_engine import read_frames

    frame = next(read_frames([path]))
    return int(frame.shape[0]), int(frame.shape[1])


def _scores(task: BatchTask, output: Path) -> tuple[float | None, float | None]:
    """PSNR of the input and of the result against the ground truth, as ``pn2v demo``.

    The data range is that of the ground truth (:func:`pn2v_engine.psnr`'s default).
    """
    if task.ground_truth is None:
        return None, None
    from pn2v_engine import PN2VError, psnr, read_image

    try:
        truth = read_image(task.ground_truth).as_float32()
        noisy = read_image(task.job.source).as_float32()
        denoised = read_image(output).as_float32()
        return psnr(truth, noisy), psnr(truth, denoised)
    except (PN2VError, ValueError) as error:
        log.warning("no PSNR for %s: %s", task.job.source, error)
        return None, None


def default_folder(roots: Sequence[Path]) -> Path:
    """A new output folder beside the inputs (see :func:`pn2v_engine.default_output_dir`).

    A batch of several inputs that starts with a file is named after that file's
    folder (``<folder>_pn2v`` beside it) rather than after the file.
    """
    from pn2v_engine import default_output_dir

    if len(roots) > 1 and roots[0].is_file():
        return default_output_dir([roots[0].parent])
    return default_output_dir(list(roots))


# ------------------------------------------------------------------- GUI side
class DropArea(QFrame):
    """Accepts drops of files and folders anywhere on it and reports their paths."""

    paths_dropped = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            self.paths_dropped.emit(paths)


class DenoisePage(QWidget):
    """Queue files, choose where results go and what to save, run, and compare."""

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self.model = QueueModel(self)
        self._job: Job | None = None
        self._batch: list[int] = []
        self._missing: list[int] = []
        self._batch_folder: Path | None = None
        self._batch_started = 0.0
        self._running_row: int | None = None
        self._last_folder: Path | None = None
        self._preview_jobs: set[Job] = set()
        self._preview_request = 0

        title = QLabel("Denoise")
        title.setObjectName("pageTitle")
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        intro.setObjectName("note")

        self.untrained_box = QFrame()
        self.untrained_box.setFrameShape(QFrame.Shape.StyledPanel)
        untrained_label = QLabel(UNTRAINED)
        untrained_label.setObjectName("warningText")
        untrained_label.setWordWrap(True)
        self.train_button = QPushButton("Go to &Train")
        self.train_button.setToolTip("Open step 3 to train a network on your noisy images.")
        self.train_button.clicked.connect(lambda: self.context.go_to_step.emit(2))
        banner = QHBoxLayout(self.untrained_box)
        banner.setContentsMargins(12, 8, 12, 8)
        banner.addWidget(untrained_label, 1)
        banner.addWidget(self.train_button)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_queue_side())
        splitter.addWidget(self._build_viewer_side())
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([640, 600])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self.untrained_box)
        layout.addWidget(splitter, 1)

        chain = [self.train_button, *self._tab_chain, self.compare, self.open_button]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

        state = context.state
        state.training_changed.connect(self._update_actions)
        state.training_changed.connect(self._update_psnr_column)
        state.demo_loaded.connect(self._queue_demo)
        context.busy_changed.connect(self._update_actions)
        self.model.rowsInserted.connect(self._queue_changed)
        self.model.rowsRemoved.connect(self._queue_changed)
        self.model.modelReset.connect(self._queue_changed)
        self.model.dataChanged.connect(self._update_actions)
        self.table.selectionModel().currentRowChanged.connect(self._show_row)
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        self._queue_changed()

    # ------------------------------------------------------------------ layout
    def _build_queue_side(self) -> QWidget:
        self.drop_zone = DropArea()
        self.drop_zone.setToolTip("Drop TIFF or PNG files or folders here to queue them.")
        self.drop_zone.paths_dropped.connect(self.add_paths)
        self.placeholder = QLabel(DROP_HINT)
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.table = QueueTable(self.model)
        self.table.setToolTip("The files to denoise. Drop more files or folders here.")
        self.table.setColumnHidden(Column.PSNR, True)
        self._stack = QStackedLayout(self.drop_zone)
        self._stack.setContentsMargins(0, 0, 0, 0)
        self._stack.addWidget(self.placeholder)
        self._stack.addWidget(self.table)
        delete = QShortcut(QKeySequence.StandardKey.Delete, self.table, self.remove_selected)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)

        self.drop_message = QLabel()
        self.drop_message.setObjectName("errorText")
        self.drop_message.setWordWrap(True)
        self.drop_message.hide()

        self.add_files_button = _button("Add &files…", "Choose TIFF or PNG files to denoise.")
        self.add_files_button.clicked.connect(self._choose_files)
        self.add_folder_button = _button(
            "Add fol&der…", "Queue every TIFF and PNG image in a folder and its sub-folders."
        )
        self.add_folder_button.clicked.connect(self._choose_folder)
        self.remove_button = _button("&Remove", "Take the selected files off the queue (Delete).")
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button = _button("C&lear", "Take every file off the queue.")
        self.clear_button.clicked.connect(self.clear)
        self.requeue_button = _button(
            "&Queue again",
            "Denoise the selected finished or failed files again at the next Start "
            "(all of them if none is selected). Earlier results are kept.",
        )
        self.requeue_button.clicked.connect(self.requeue)
        queue_buttons = QHBoxLayout()
        for button in (
            self.add_files_button,
            self.add_folder_button,
            self.remove_button,
            self.clear_button,
            self.requeue_button,
        ):
            queue_buttons.addWidget(button)
        queue_buttons.addStretch(1)

        options = QGroupBox("Results")
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText(DEFAULT_FOLDER_HINT)
        self.output_edit.setClearButtonEnabled(True)
        self.output_edit.setToolTip(
            "Where the denoised files go. Leave empty for a new folder beside the inputs "
            "for every batch (named like <folder>_pn2v), so earlier results are never "
            "overwritten. A folder that holds input files is refused."
        )
        self.output_edit.textChanged.connect(lambda: self.output_message.hide())
        self.choose_button = _button("C&hoose…", "Choose the output folder.")
        self.choose_button.clicked.connect(self._choose_output)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.output_edit, 1)
        folder_row.addWidget(self.choose_button)
        self.output_message = QLabel()
        self.output_message.setObjectName("errorText")
        self.output_message.setWordWrap(True)
        self.output_message.hide()
        self.dtype_combo = QComboBox()
        for text, value in OUTPUT_TYPES:
            self.dtype_combo.addItem(text, value)
        self.dtype_combo.setToolTip(
            "32-bit float keeps the denoised values exactly, including fractions of a grey "
            "level; Fiji and most tools open it.\n"
            "Same as input writes the input's pixel type (for example 16-bit): smaller files "
            "that behave like your originals, with values rounded and clipped to that type."
        )
        self.uncertainty_check = QCheckBox("&Uncertainty map")
        self.uncertainty_check.setToolTip(
            "Also save <name>_pn2v_uncertainty.tif (32-bit): for every pixel the posterior "
            "standard deviation, in the image's grey levels — how sure PN2V is of the "
            "denoised value. Bright areas deserve caution when you measure."
        )
        self.prior_check = QCheckBox("&Prior mean")
        self.prior_check.setToolTip(
            "Also save <name>_pn2v_prior_mean.tif: the network's guess before the noise model "
            "weighs it against the pixel you measured (a Noise2Void-like result). Useful for "
            "comparison; the main result is usually better."
        )
        extras = QHBoxLayout()
        extras.addWidget(self.uncertainty_check)
        extras.addWidget(self.prior_check)
        extras.addStretch(1)
        form = QFormLayout(options)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Output folder:", folder_row)
        form.addRow("", self.output_message)
        dtype_label = QLabel("Pixel t&ype:")
        dtype_label.setBuddy(self.dtype_combo)
        form.addRow(dtype_label, self.dtype_combo)
        form.addRow("Also save:", extras)

        self.start_button = _button("&Start", "Denoise every queued file.")
        self.start_button.setObjectName("primaryButton")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = _button(
            "&Cancel", "Stop after the current tile; files already written are kept."
        )
        self.cancel_button.clicked.connect(self.cancel)
        self.batch_progress = QProgressBar()
        self.batch_progress.setRange(0, 1000)
        self.batch_progress.setTextVisible(False)
        self.batch_progress.setToolTip("Progress of the whole batch.")
        for button in (self.start_button, self.cancel_button):
            button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        run_row = QHBoxLayout()
        run_row.addWidget(self.start_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.batch_progress, 1)
        run_row.addStretch(0)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary_label = QLabel()
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        self.summary_label.setToolTip(
            "Mean PSNR gain over the denoised images whose ground truth is known."
        )
        self.summary_label.hide()

        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.setSpacing(8)
        layout.addWidget(self.drop_zone, 1)
        layout.addWidget(self.drop_message)
        layout.addLayout(queue_buttons)
        layout.addWidget(options)
        layout.addLayout(run_row)
        layout.addWidget(self.status_label)
        layout.addWidget(self.summary_label)
        self._tab_chain: list[QWidget] = [
            self.table,
            self.add_files_button,
            self.add_folder_button,
            self.remove_button,
            self.clear_button,
            self.requeue_button,
            self.output_edit,
            self.choose_button,
            self.dtype_combo,
            self.uncertainty_check,
            self.prior_check,
            self.start_button,
            self.cancel_button,
        ]
        return side

    def _build_viewer_side(self) -> QWidget:
        heading = QLabel("Before and after")
        heading.setObjectName("sectionTitle")
        self.viewer_note = QLabel()
        self.viewer_note.setObjectName("note")
        self.viewer_note.setWordWrap(True)
        self.compare = CompareView()
        self.open_button = _button(
            "&Open output folder", "Show the folder of the selected result in the file manager."
        )
        self.open_button.clicked.connect(self.open_output_folder)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)

        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(heading)
        layout.addWidget(self.viewer_note)
        layout.addWidget(self.compare, 1)
        layout.addLayout(buttons)
        self._set_viewer_note()
        return side

    # ------------------------------------------------------------------- queue
    def add_paths(self, paths: Iterable[Path]) -> int:
        """Queue image files and the images in folders (recursively); return how many.

        Paths that are not images are named under the queue; the others are added.
        """
        from pn2v_engine import PN2VError, list_images

        problems: list[str] = []
        items: list[tuple[Path, Path]] = []
        for path in map(Path, paths):
            try:
                items += [(file, path) for file in list_images([path])]
            except PN2VError as error:
                problems.append(error.message)
        if problems:
            more = " …" if len(problems) > 3 else ""
            self.drop_message.setText(
                " ".join(problems[:3]) + more + " Only TIFF and PNG images can be denoised."
            )
        self.drop_message.setVisible(bool(problems))
        return self.model.add(items)

    def remove_selected(self) -> None:
        if not self.running:
            self.model.remove(self.table.selected_positions())

    def clear(self) -> None:
        if not self.running:
            self.model.clear()
            self.drop_message.hide()

    def requeue(self) -> None:
        """Mark the selected (else all) done or failed rows to run at the next Start."""
        positions = self.table.selected_positions() or range(self.model.rowCount())
        for position in positions:
            row = self.model.row(position)
            if row.status in (Status.DONE, Status.FAILED):
                self.model.update(row.id, **_fresh())
        self._show_row(self.table.currentIndex())

    def _queue_demo(self) -> None:
        demo = self.context.state.demo
        if demo is not None:
            self.add_paths(demo.images)

    def _queue_changed(self) -> None:
        empty = self.model.rowCount() == 0
        self._stack.setCurrentWidget(self.placeholder if empty else self.table)
        self._update_psnr_column()
        self._update_actions()

    # --------------------------------------------------------------------- run
    @property
    def running(self) -> bool:
        return self._job is not None

    def start(self) -> None:
        """Denoise the Queued and Cancelled rows in one job."""
        from pn2v_engine import DenoiseOptions, OutputError, PN2VError, plan_jobs

        state = self.context.state
        if self.running or self.context.busy or not state.is_trained:
            return
        rows, missing = [], []
        for row in self.model.rows():
            if row.runnable and row.source.is_file():
                rows.append(row)
            elif row.runnable:
                self._mark_missing(row)
                missing.append(row.id)
        if not rows:
            return
        roots = list(dict.fromkeys(row.root for row in rows))
        text = self.output_edit.text().strip()
        chosen = Path(text).expanduser() if text else None
        if chosen is not None and not chosen.is_absolute():
            self._refuse(self.output_message, "Type the full path of the output folder, or Choose…")
            return
        try:
            folder = chosen or default_folder(roots)
            planned = {job.source.resolve(): job for job in plan_jobs(roots, folder)}
        except OutputError as error:
            self._refuse(self.output_message, f"{error.message} {error.hint}")
            return
        except PN2VError as error:  # a queued folder lost its images
            self._refuse(self.drop_message, f"{error.message} {error.hint}")
            return
        self.output_message.hide()
        truth = self._ground_truth()
        tasks = []
        for row in rows:
            source = row.source.resolve()
            job = planned.get(source)
            if job is None:  # gone from its folder since it was queued
                self._mark_missing(row)
                missing.append(row.id)
                continue
            tasks.append(BatchTask(row.id, job, truth.get(source)))
            self.model.update(row.id, **_fresh())
        if not tasks:
            return
        options = DenoiseOptions(
            uncertainty=self.uncertainty_check.isChecked(),
            prior_mean=self.prior_check.isChecked(),
            dtype=self.dtype_combo.currentData(),
        )
        make_denoiser = _denoiser_factory(
            state.training, state.noise_model, self.context.preferred_device()
        )
        protect = [row.source for row in self.model.rows()]

        def factory(token: Any) -> Generator[BatchEvent, None, int]:
            return iter_denoise_batch(make_denoiser, tasks, options, protect=protect, cancel=token)

        self._batch = [task.row for task in tasks]
        self._missing = missing
        self._batch_folder = folder
        self._batch_started = time.monotonic()
        self._running_row = None
        self.batch_progress.setValue(0)
        self.status_label.setText(f"Loading the network to denoise {_files(len(tasks))}…")
        job = Job("denoise", factory, self)
        job.progress.connect(self._on_event)
        job.succeeded.connect(self._on_succeeded)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        job.finished.connect(self._on_finished)
        self._job = job
        self.context.run(job)
        self._update_actions()

    @staticmethod
    def _refuse(label: QLabel, text: str) -> None:
        label.setText(text.strip())
        label.show()

    def _mark_missing(self, row: QueueRow) -> None:
        self.model.update(
            row.id,
            status=Status.FAILED,
            reason=f"{row.source} was not found.",
            hint="It was moved or deleted; add it again.",
        )

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Stopping after the current tile…")

    def _ground_truth(self) -> dict[Path, Path]:
        demo = self.context.state.demo
        if demo is None:
            return {}
        return {image.resolve(): truth for image, truth in demo.ground_truth.items()}

    def _on_event(self, event: BatchEvent) -> None:
        if isinstance(event, RowStarted):
            self._running_row = event.row
            self.model.update(event.row, status=Status.RUNNING, progress=0.0)
            row = self.model.get(event.row)
            number = self._batch.index(event.row) + 1
            name = row.source.name if row is not None else "file"
            self.status_label.setText(f"Denoising {name} ({number} of {len(self._batch)})…")
        elif isinstance(event, RowProgress):
            self.model.update(event.row, progress=event.fraction)
        elif isinstance(event, RowDone):
            psnr = None
            if event.psnr_before is not None and event.psnr_after is not None:
                psnr = (event.psnr_before, event.psnr_after)
            self.model.update(
                event.row,
                status=Status.DONE,
                progress=1.0,
                outputs=event.paths,
                shape=event.shape,
                psnr=psnr,
            )
            self._running_row = None
            self._update_psnr_column()
            self._show_finished(event.row)
        elif isinstance(event, RowFailed):
            self.model.update(
                event.row, status=Status.FAILED, reason=event.message, hint=event.hint
            )
            self._running_row = None
        self._update_batch_progress(event)

    def _update_batch_progress(self, event: BatchEvent) -> None:
        if not self._batch or event.row not in self._batch:
            return
        position = self._batch.index(event.row)
        within = event.fraction if isinstance(event, RowProgress) else 0.0
        if isinstance(event, RowDone | RowFailed):
            within = 1.0
        self.batch_progress.setValue(round(1000 * (position + within) / len(self._batch)))

    def _on_succeeded(self, written: object) -> None:
        self.batch_progress.setValue(1000)
        self.status_label.setText(self._batch_report())

    def _on_failed(self, info: ErrorInfo) -> None:
        if self._running_row is not None:
            self.model.update(
                self._running_row, status=Status.FAILED, reason=info.message, hint=info.hint
            )
        self.status_label.setText(f"Stopped: {info.message} " + self._batch_report())
        self.context.error("Denoising stopped", info)

    def _on_cancelled(self) -> None:
        for row_id in self._batch:
            row = self.model.get(row_id)
            if row is not None and row.status in (Status.QUEUED, Status.RUNNING):
                self.model.update(row_id, status=Status.CANCELLED)
        self.status_label.setText("Cancelled. " + self._batch_report())

    def _on_finished(self) -> None:
        self._job = None
        self._running_row = None
        if self._batch_folder is not None and self._batch_folder.is_dir():
            self._last_folder = self._batch_folder
        self._update_actions()

    def _batch_report(self) -> str:
        ids = self._missing + self._batch  # files found missing at Start count as failed
        rows = [row for row in map(self.model.get, ids) if row is not None]
        done = sum(row.status == Status.DONE for row in rows)
        failed = sum(row.status == Status.FAILED for row in rows)
        seconds = time.monotonic() - self._batch_started
        text = f"Denoised {_files(done)}"
        if failed:
            text += f" ({failed} failed)"
        return text + f" into {self._batch_folder} in {seconds:.0f} s."

    # ------------------------------------------------------------------ viewer
    def _show_finished(self, row_id: int) -> None:
        """Show a row that just finished if the viewer shows nothing yet."""
        if not self.table.currentIndex().isValid():
            self.table.selectRow(self.model.row_of(row_id))
        elif self.model.row_of(row_id) == self.table.currentIndex().row():
            self._show_row(self.table.currentIndex())

    def _show_row(self, index: QModelIndex) -> None:
        self._preview_request += 1
        row = self.model.row(index.row()) if index.isValid() else None
        if row is None or row.status != Status.DONE or not row.outputs:
            self.compare.clear()
            self._set_viewer_note(row)
            self._update_actions()
            return
        request, source, output = self._preview_request, row.source, row.outputs[0]
        self.viewer_note.setText(f"Loading {source.name}…")
        job = Job("preview", call(lambda: _read_pair(source, output)), self)
        job.succeeded.connect(lambda pair: self._show_pair(request, row, pair))
        job.failed.connect(lambda info: self._preview_failed(request, info))
        job.finished.connect(lambda: self._preview_jobs.discard(job))
        job.finished.connect(job.deleteLater)
        self._preview_jobs.add(job)
        job.start()
        self._update_actions()

    def _show_pair(self, request: int, row: QueueRow, pair: object) -> None:
        if request != self._preview_request:
            return
        before, after = pair  # type: ignore[misc]
        try:
            self.compare.set_images(
                before, after, before_title=f"Noisy — {row.source.name}", after_title="Denoised"
            )
        except ValueError as error:
            self.compare.clear()
            self.viewer_note.setText(f"Cannot compare {row.source.name}: {error}")
            return
        self.viewer_note.setText(
            f"{row.source.name} → {row.outputs[0].name}. Drag to pan, wheel to zoom; "
            "both views follow each other."
        )

    def _preview_failed(self, request: int, info: ErrorInfo) -> None:
        if request == self._preview_request:
            self.compare.clear()
            self.viewer_note.setText(f"Cannot show this file: {info.message}")

    def _set_viewer_note(self, row: QueueRow | None = None) -> None:
        if row is None:
            text = "Select a denoised file in the queue to compare it with its input."
        elif row.status == Status.FAILED:
            text = f"{row.source.name} failed: {row.reason} {row.hint}".strip()
        else:
            text = f"{row.source.name} is {row.status.value.lower()}; it can be compared once done."
        self.viewer_note.setText(text)

    def open_output_folder(self) -> None:
        folder = self._output_folder()
        if folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _output_folder(self) -> Path | None:
        index = self.table.currentIndex()
        if index.isValid():
            row = self.model.row(index.row())
            if row.outputs and row.outputs[0].parent.is_dir():
                return row.outputs[0].parent
        return self._last_folder

    # ----------------------------------------------------------------- dialogs
    def _choose_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(
            self, "Add images to denoise", self.context.last_folder("denoise"), FILE_FILTER
        )
        if names:
            self.context.remember_folder("denoise", Path(names[0]).parent)
            self.add_paths(Path(name) for name in names)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Add a folder of images", self.context.last_folder("denoise")
        )
        if folder:
            self.context.remember_folder("denoise", Path(folder))
            self.add_paths([Path(folder)])

    def _choose_output(self) -> None:
        start = self.output_edit.text() or self.context.last_folder("denoise output")
        folder = QFileDialog.getExistingDirectory(self, "Folder for the denoised files", start)
        if folder:
            self.context.remember_folder("denoise output", Path(folder))
            self.output_edit.setText(folder)

    # ------------------------------------------------------------------- state
    def _update_psnr_column(self) -> None:
        rows = self.model.rows()
        scored = [row.gain for row in rows if row.gain is not None]
        show = bool(scored) or self.context.state.demo is not None
        self.table.setColumnHidden(Column.PSNR, not show)
        if scored:
            mean = sum(scored) / len(scored)
            images = "image" if len(scored) == 1 else "images"
            self.summary_label.setText(
                f"<b>Mean gain {mean:+.1f} dB</b> in PSNR over {len(scored)} {images} "
                "with a known ground truth"
            )
        self.summary_label.setVisible(bool(scored))

    def _update_actions(self) -> None:
        trained = self.context.state.is_trained
        running = self.running
        rows = self.model.rows()
        runnable = any(row.runnable for row in rows)
        other_job = self.context.busy and not running
        self.untrained_box.setVisible(not trained)
        self.start_button.setEnabled(trained and runnable and not running and not other_job)
        if not trained:
            self.start_button.setToolTip("Train a network first (step 3).")
        elif other_job:
            self.start_button.setToolTip("Wait until the running task has finished.")
        elif not runnable:
            self.start_button.setToolTip("Queue files to denoise first.")
        else:
            self.start_button.setToolTip("Denoise every queued file (Alt+S).")
        stopping = self._job is not None and self._job.token.cancelled
        self.cancel_button.setEnabled(running and not stopping)
        finished = any(row.status in (Status.DONE, Status.FAILED) for row in rows)
        self.requeue_button.setEnabled(finished and not running)
        self.remove_button.setEnabled(bool(rows) and not running)
        self.clear_button.setEnabled(bool(rows) and not running)
        for widget in (
            self.output_edit,
            self.choose_button,
            self.dtype_combo,
            self.uncertainty_check,
            self.prior_check,
        ):
            widget.setEnabled(not running)
        self.batch_progress.setVisible(running)
        self.open_button.setEnabled(self._output_folder() is not None)


def _button(text: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    return button


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _fresh() -> dict[str, Any]:
    """Row fields for a row queued to run again."""
    return {
        "status": Status.QUEUED,
        "reason": "",
        "hint": "",
        "progress": 0.0,
        "outputs": (),
        "psnr": None,
    }


def _denoiser_factory(training: Any, noise_model: Any, device: str) -> Callable[[], Any]:
    """Build the denoiser in the worker (it loads torch and moves weights to the device)."""

    def make() -> Any:
        from pn2v_engine import Denoiser

        return Denoiser(
            training.settings, training.best_weights, training.normalisation, noise_model, device
        )

    return make


def _read_pair(source: Path, output: Path) -> tuple[Any, Any]:
    from pn2v_engine import read_image

    return read_image(source).as_float32(), read_image(output).as_float32()
