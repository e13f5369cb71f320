"""The Denoise page's queue: files and folders dropped or added, and its buttons.

Folders are searched with their sub-folders; results of an earlier batch found
there are skipped (see :func:`app.pages.denoise_jobs.queue_items`) and the
message under the queue says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.pages.denoise_jobs import queue_items, skipped_note
from app.widgets.drop_area import DropArea
from app.widgets.file_list import FILE_FILTER
from app.widgets.queue_table import Column, QueueModel, QueueTable, Status

DROP_HINT = (
    "Drop TIFF or PNG files, or whole folders, here\n"
    "or use Add files… and Add folder… below.\n\n"
    "Folders are searched with their sub-folders."
)


class QueuePanel(QWidget):
    """The queue table (a hint while it is empty) that takes drops, a message, buttons.

    The buttons that change the queue do nothing while a batch runs
    (:meth:`update_actions`); ``requeued`` follows "Queue again".
    """

    requeued = Signal()

    def __init__(
        self, context: AppContext, model: QueueModel, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.model = model
        self._running = False

        self.drop_zone = DropArea()
        self.drop_zone.setToolTip("Drop TIFF or PNG files or folders here to queue them.")
        self.drop_zone.paths_dropped.connect(self.add_paths)
        self.placeholder = QLabel(DROP_HINT)
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.table = QueueTable(model)
        self.table.setToolTip("The files to denoise. Drop more files or folders here.")
        self.table.setColumnHidden(Column.PSNR, True)
        self._stack = QStackedLayout(self.drop_zone)
        self._stack.setContentsMargins(0, 0, 0, 0)
        self._stack.addWidget(self.placeholder)
        self._stack.addWidget(self.table)
        delete = QShortcut(QKeySequence.StandardKey.Delete, self.table, self.remove_selected)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)

        self.message = QLabel()
        self.message.setObjectName("errorText")
        self.message.setWordWrap(True)
        self.message.hide()

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
        buttons = QHBoxLayout()
        for button in self.buttons():
            buttons.addWidget(button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.drop_zone, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

        model.rowsInserted.connect(self._show_table)
        model.rowsRemoved.connect(self._show_table)
        model.modelReset.connect(self._show_table)
        self._show_table()

    def buttons(self) -> list[QPushButton]:
        return [
            self.add_files_button,
            self.add_folder_button,
            self.remove_button,
            self.clear_button,
            self.requeue_button,
        ]

    def add_paths(self, paths: Iterable[Path]) -> int:
        """Queue image files and the images in folders (recursively); return how many.

        Paths that are not images, and earlier results skipped in folders, are
        named under the queue; the others are added.
        """
        found = queue_items(paths)
        text = ""
        if found.problems:
            more = " …" if len(found.problems) > 3 else ""
            text = (
                " ".join(found.problems[:3]) + more + " Only TIFF and PNG images can be denoised."
            )
        self.show_message(f"{text} {skipped_note(found.skipped)}", error=bool(found.problems))
        return self.model.add(found.items)

    def show_message(self, text: str, error: bool = True) -> None:
        """Say ``text`` under the queue (in red if ``error``); hide the message if empty."""
        name = "errorText" if error else "note"
        if self.message.objectName() != name:
            self.message.setObjectName(name)
            self.message.style().unpolish(self.message)
            self.message.style().polish(self.message)
        self.message.setText(text.strip())
        self.message.setVisible(bool(text.strip()))

    def remove_selected(self) -> None:
        if not self._running:
            self.model.remove(self.table.selected_positions())

    def clear(self) -> None:
        if not self._running:
            self.model.clear()
            self.message.hide()

    def requeue(self) -> None:
        """Mark the selected (else all) done or failed rows to run at the next Start."""
        positions = self.table.selected_positions() or range(self.model.rowCount())
        for position in positions:
            row = self.model.row(position)
            if row.status in (Status.DONE, Status.FAILED):
                self.model.queue_again(row.id)
        self.requeued.emit()

    def update_actions(self, running: bool) -> None:
        """Enable what may change the queue now; nothing but adding while ``running``."""
        self._running = running
        rows = self.model.rows()
        finished = any(row.status in (Status.DONE, Status.FAILED) for row in rows)
        self.requeue_button.setEnabled(finished and not running)
        self.remove_button.setEnabled(bool(rows) and not running)
        self.clear_button.setEnabled(bool(rows) and not running)

    def _show_table(self) -> None:
        empty = self.model.rowCount() == 0
        self._stack.setCurrentWidget(self.placeholder if empty else self.table)

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


def _button(text: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    return button
