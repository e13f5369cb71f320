"""The Denoise page's before-and-after viewer: a finished file beside its input."""

from __future__ import annotations

from functools import partial

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.context import AppContext
from app.pages.denoise_jobs import read_pair
from app.widgets.image_view import CompareView
from app.widgets.queue_table import QueueRow, Status
from app.workers import ErrorInfo, Job, call


class ResultViewer(QWidget):
    """Shows one queue row: its input and result side by side, or why it cannot.

    Files are read by a background job, so reading never makes the window busy;
    only the latest request is shown. ``open_button`` is the page's to connect.
    """

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._request = 0
        heading = QLabel("Before and after")
        heading.setObjectName("sectionTitle")
        self.note = QLabel()
        self.note.setObjectName("note")
        self.note.setWordWrap(True)
        self.compare = CompareView()
        self.open_button = QPushButton("&Open output folder")
        self.open_button.setToolTip("Show the folder of the selected result in the file manager.")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(heading)
        layout.addWidget(self.note)
        layout.addWidget(self.compare, 1)
        layout.addLayout(buttons)
        self._set_note()

    def show_row(self, row: QueueRow | None) -> None:
        """Compare ``row``'s input with its result once done; else say why not."""
        self._request += 1
        if row is None or row.status != Status.DONE or not row.outputs:
            self.compare.clear()
            self._set_note(row)
            return
        request = self._request
        self.note.setText(f"Loading {row.source.name}…")
        job = Job("preview", call(partial(read_pair, row.source, row.outputs[0])), self)
        job.succeeded.connect(lambda pair: self._show_pair(request, row, pair))
        job.failed.connect(lambda info: self._failed(request, info))
        self.context.run(job, background=True)

    def _show_pair(self, request: int, row: QueueRow, pair: object) -> None:
        if request != self._request:
            return
        before, after = pair  # type: ignore[misc]
        try:
            self.compare.set_images(
                before, after, before_title=f"Noisy — {row.source.name}", after_title="Denoised"
            )
        except ValueError as error:
            self.compare.clear()
            self.note.setText(f"Cannot compare {row.source.name}: {error}")
            return
        self.note.setText(
            f"{row.source.name} → {row.outputs[0].name}. Drag to pan, wheel to zoom; "
            "both views follow each other."
        )

    def _failed(self, request: int, info: ErrorInfo) -> None:
        if request == self._request:
            self.compare.clear()
            self.note.setText(f"Cannot show this file: {info.message}")

    def _set_note(self, row: QueueRow | None = None) -> None:
        if row is None:
            text = "Select a denoised file in the queue to compare it with its input."
        elif row.status == Status.FAILED:
            text = f"{row.source.name} failed: {row.reason} {row.hint}".strip()
        else:
            text = f"{row.source.name} is {row.status.value.lower()}; it can be compared once done."
        self.note.setText(text)
