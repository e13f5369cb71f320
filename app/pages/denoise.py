"""Step 4: denoise a queue of files with the trained network, batch after batch.

The queue runs as one :class:`~app.workers.Job` driving
:func:`~app.pages.denoise_jobs.iter_denoise_batch`, which builds the
:class:`pn2v_engine.Denoiser` once and reports per row with small frozen
dataclasses. A file PN2V cannot use fails its own row and the batch goes on;
running out of memory or disk space stops the batch with an error box.

Start denoises the rows that are Queued or Cancelled; Done and Failed rows run
again only after "Queue again". Unless the user chose an output folder, every
batch writes into a new folder beside its inputs, so no result is overwritten.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.pages.denoise_jobs import (
    BatchEvent,
    BatchRun,
    BatchTask,
    RowDone,
    RowFailed,
    RowProgress,
    RowStarted,
    default_folder,
    denoiser_factory,
    file_count,
    iter_denoise_batch,
)
from app.pages.denoise_options import ResultOptions
from app.pages.denoise_queue import QueuePanel
from app.pages.denoise_viewer import ResultViewer
from app.widgets.queue_table import Column, QueueModel, QueueRow, Status
from app.workers import ErrorInfo, Job

INTRO = (
    "Denoise any number of TIFF or PNG files with the trained network. Results are "
    "written as TIFFs into a separate folder; your original files are never changed."
)
UNTRAINED = (
    "<b>This project has no trained network yet.</b> Train one on your noisy images "
    "(step 3) before denoising."
)


class DenoisePage(QWidget):
    """Queue files, choose where results go and what to save, run, and compare."""

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self.model = QueueModel(self)
        self._job: Job | None = None
        self._last_folder: Path | None = None

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

        self.viewer = ResultViewer(context)
        self.viewer.open_button.clicked.connect(self.open_output_folder)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_queue_side())
        splitter.addWidget(self.viewer)
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

        chain = [
            self.train_button,
            self.queue.table,
            *self.queue.buttons(),
            *self.results.fields(),
            self.start_button,
            self.cancel_button,
            self.viewer.compare,
            self.viewer.open_button,
        ]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

        state = context.state
        state.training_changed.connect(self._update_actions)
        state.training_changed.connect(self._update_psnr_column)
        state.training_changed.connect(self._offer_n2v)
        state.noise_model_changed.connect(self._offer_n2v)
        state.demo_loaded.connect(self._queue_demo)
        context.busy_changed.connect(self._update_actions)
        self.model.rowsInserted.connect(self._queue_changed)
        self.model.rowsRemoved.connect(self._queue_changed)
        self.model.modelReset.connect(self._queue_changed)
        self.model.dataChanged.connect(self._update_actions)
        self.queue.requeued.connect(lambda: self._show_row(self.queue.table.currentIndex()))
        selection = self.queue.table.selectionModel()
        selection.currentRowChanged.connect(self._show_row)
        selection.selectionChanged.connect(self._update_actions)
        self._offer_n2v()
        self._queue_changed()

    @property
    def drop_zone(self) -> QWidget:
        """Where files and folders are dropped to queue them."""
        return self.queue.drop_zone

    def _build_queue_side(self) -> QWidget:
        self.queue = QueuePanel(self.context, self.model)
        self.results = ResultOptions(self.context)
        self.start_button = QPushButton("&Start")
        self.start_button.setObjectName("primaryButton")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("&Cancel")
        self.cancel_button.setToolTip(
            "Stop after the current tile; files already written are kept."
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
        layout.addWidget(self.queue, 1)
        layout.addWidget(self.results)
        layout.addLayout(run_row)
        layout.addWidget(self.status_label)
        layout.addWidget(self.summary_label)
        return side

    def add_paths(self, paths: Iterable[Path]) -> int:
        """Queue image files and the images in folders; see :meth:`QueuePanel.add_paths`."""
        return self.queue.add_paths(paths)

    def _queue_demo(self) -> None:
        demo = self.context.state.demo
        if demo is not None:
            self.add_paths(demo.images)

    def _queue_changed(self) -> None:
        self._update_psnr_column()
        self._update_actions()

    # --------------------------------------------------------------------- run
    @property
    def running(self) -> bool:
        return self._job is not None

    def start(self) -> None:
        """Denoise the Queued and Cancelled rows in one job."""
        from pn2v_engine import OutputError, PN2VError, plan_jobs

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
        chosen = self.results.chosen_folder()
        if chosen is not None and not chosen.is_absolute():
            self.results.refuse("Type the full path of the output folder, or Choose…")
            return
        try:
            folder = chosen or default_folder(roots)
            planned = {job.source.resolve(): job for job in plan_jobs(roots, folder)}
        except OutputError as error:
            self.results.refuse(f"{error.message} {error.hint}")
            return
        except PN2VError as error:  # a queued folder lost its images
            self.queue.show_message(f"{error.message} {error.hint}")
            return
        self.results.output_message.hide()
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
            self.model.queue_again(row.id)
        if not tasks:
            return
        options = self.results.options()
        make_denoiser = denoiser_factory(
            state.training,
            state.noise_model,
            self.context.preferred_device(),
            self.results.n2v_share(),
        )
        protect = [row.source for row in self.model.rows()]

        def factory(token: Any) -> Generator[BatchEvent, None, int]:
            return iter_denoise_batch(make_denoiser, tasks, options, protect=protect, cancel=token)

        run = BatchRun([task.row for task in tasks], missing, folder)
        self.batch_progress.setValue(0)
        self.status_label.setText(f"Loading the network to denoise {file_count(len(tasks))}…")
        job = Job("denoise", factory, self)
        job.progress.connect(partial(self._on_event, run))
        job.succeeded.connect(partial(self._on_succeeded, run))
        job.failed.connect(partial(self._on_failed, run))
        job.cancelled.connect(partial(self._on_cancelled, run))
        job.finished.connect(partial(self._on_finished, run))
        self._job = job
        self.context.run(job)
        self._update_actions()

    def _mark_missing(self, row: QueueRow) -> None:
        self.model.fail(
            row.id, f"{row.source} was not found.", "It was moved or deleted; add it again."
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

    def _on_event(self, run: BatchRun, event: BatchEvent) -> None:
        if isinstance(event, RowStarted):
            run.current = event.row
            self.model.update(event.row, status=Status.RUNNING, progress=0.0)
            row = self.model.get(event.row)
            number = run.rows.index(event.row) + 1
            name = row.source.name if row is not None else "file"
            self.status_label.setText(f"Denoising {name} ({number} of {len(run.rows)})…")
        elif isinstance(event, RowProgress):
            self.model.update(event.row, progress=event.fraction)
        elif isinstance(event, RowDone):
            self.model.update(
                event.row,
                status=Status.DONE,
                progress=1.0,
                outputs=event.paths,
                shape=event.shape,
                psnr=event.psnr,
            )
            run.current = None
            self._update_psnr_column()
            self._show_finished(event.row)
        elif isinstance(event, RowFailed):
            self.model.fail(event.row, event.message, event.hint)
            run.current = None
        fraction = run.done_fraction(event)
        if fraction is not None:
            self.batch_progress.setValue(round(1000 * fraction))

    def _on_succeeded(self, run: BatchRun, written: object) -> None:
        self.batch_progress.setValue(1000)
        self.status_label.setText(self._report(run))

    def _on_failed(self, run: BatchRun, info: ErrorInfo) -> None:
        if run.current is not None:
            self.model.fail(run.current, info.message, info.hint)
        self.status_label.setText(f"Stopped: {info.message} " + self._report(run))
        self.context.error("Denoising stopped", info)

    def _on_cancelled(self, run: BatchRun) -> None:
        for row_id in run.rows:
            row = self.model.get(row_id)
            if row is not None and row.status in (Status.QUEUED, Status.RUNNING):
                self.model.update(row_id, status=Status.CANCELLED)
        self.status_label.setText("Cancelled. " + self._report(run))

    def _on_finished(self, run: BatchRun) -> None:
        self._job = None
        if run.folder.is_dir():
            self._last_folder = run.folder
        self._update_actions()

    def _report(self, run: BatchRun) -> str:
        rows = [row for row in map(self.model.get, run.missing + run.rows) if row is not None]
        done = sum(row.status == Status.DONE for row in rows)
        return run.report(done, sum(row.status == Status.FAILED for row in rows))

    # ------------------------------------------------------------------ viewer
    def _show_finished(self, row_id: int) -> None:
        """Show a row that just finished if the viewer shows nothing yet."""
        table = self.queue.table
        if not table.currentIndex().isValid():
            table.selectRow(self.model.row_of(row_id))
        elif self.model.row_of(row_id) == table.currentIndex().row():
            self._show_row(table.currentIndex())

    def _show_row(self, index: QModelIndex) -> None:
        self.viewer.show_row(self.model.row(index.row()) if index.isValid() else None)
        self._update_actions()

    def open_output_folder(self) -> None:
        folder = self._output_folder()
        if folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _output_folder(self) -> Path | None:
        index = self.queue.table.currentIndex()
        if index.isValid():
            row = self.model.row(index.row())
            if row.outputs and row.outputs[0].parent.is_dir():
                return row.outputs[0].parent
        return self._last_folder

    # ------------------------------------------------------------------- state
    def _update_psnr_column(self) -> None:
        rows = self.model.rows()
        scored = [row.gain for row in rows if row.gain is not None]
        show = bool(scored) or self.context.state.demo is not None
        self.queue.table.setColumnHidden(Column.PSNR, not show)
        if scored:
            mean = sum(scored) / len(scored)
            images = "image" if len(scored) == 1 else "images"
            self.summary_label.setText(
                f"<b>Mean gain {mean:+.1f} dB</b> in PSNR over {len(scored)} {images} "
                "with a known ground truth"
            )
        self.summary_label.setVisible(bool(scored))

    def _offer_n2v(self) -> None:
        """Offer the bootstrap's Noise2Void network where a trained PN2V run has one."""
        state = self.context.state
        model, training = state.noise_model, state.training
        keeps = getattr(model, "source_network", None) is not None
        settings = training.settings if training is not None else None
        pn2v = settings is not None and settings.mode == "pn2v" and settings.network.n_samples > 1
        self.results.offer_n2v(settings.prediction.n2v_share if keeps and pn2v else None)

    def _update_actions(self) -> None:
        trained = self.context.state.is_trained
        running = self.running
        runnable = any(row.runnable for row in self.model.rows())
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
        self.queue.update_actions(running)
        for widget in self.results.fields():
            widget.setEnabled(not running)
        self.batch_progress.setVisible(running)
        self.viewer.open_button.setEnabled(self._output_folder() is not None)
