"""The denoising queue: one row per file with its status, progress and results.

:class:`QueueModel` holds :class:`QueueRow` objects, each with a stable ``id`` that
workers use to name the row whatever was added or removed meanwhile;
:class:`QueueTable` shows it, with a progress bar in the progress column.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

Index = QModelIndex | QPersistentModelIndex

_FAILED_COLOUR = QColor("#a8201a")
_DONE_COLOUR = QColor("#1d6b36")
_ids = itertools.count(1)


class Status(StrEnum):
    QUEUED = "Queued"
    RUNNING = "Running"
    DONE = "Done"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class Column(IntEnum):
    FILE = 0
    STATUS = 1
    PROGRESS = 2
    SHAPE = 3
    PSNR = 4
    OUTPUT = 5


HEADERS = {
    Column.FILE: "File",
    Column.STATUS: "Status",
    Column.PROGRESS: "Progress",
    Column.SHAPE: "Size",
    Column.PSNR: "PSNR (dB)",
    Column.OUTPUT: "Output",
}

HEADER_TIPS = {
    Column.FILE: "The input file (hover for its full path). Inputs are never changed.",
    Column.SHAPE: "Width × height in pixels, and the number of frames of a stack; "
    "known once the file has been denoised.",
    Column.STATUS: "Queued, Running, Done, Failed (with the reason) or Cancelled.",
    Column.PROGRESS: "How much of the file has been denoised.",
    Column.PSNR: "Peak signal-to-noise ratio against the ground truth, noisy → denoised; "
    "only for images whose noise-free truth is known (the demo). Higher is better.",
    Column.OUTPUT: "The denoised file (hover for every file written and the folder).",
}


@dataclass(frozen=True)
class QueueRow:
    """One input file and what became of it.

    ``root`` is the file or folder the user added: sub-folders below a dropped
    folder are kept in the output folder.
    """

    source: Path
    root: Path
    id: int = field(default_factory=lambda: next(_ids))
    status: Status = Status.QUEUED
    reason: str = ""
    hint: str = ""
    progress: float = 0.0
    shape: tuple[int, ...] | None = None
    outputs: tuple[Path, ...] = ()
    psnr: tuple[float, float] | None = None

    @property
    def status_text(self) -> str:
        if self.status == Status.FAILED and self.reason:
            return f"Failed: {self.reason}"
        return self.status.value

    @property
    def runnable(self) -> bool:
        """Whether the next Start denoises this row (Queued or Cancelled)."""
        return self.status in (Status.QUEUED, Status.CANCELLED)

    @property
    def gain(self) -> float | None:
        return None if self.psnr is None else self.psnr[1] - self.psnr[0]


def format_shape(shape: tuple[int, ...] | None) -> str:
    """``(frames, Y, X)`` or ``(Y, X)`` as Fiji writes it: "width × height (× frames)"."""
    if shape is None:
        return "—"
    text = f"{shape[-1]} × {shape[-2]}"
    return text + f" × {shape[0]}" if len(shape) == 3 and shape[0] > 1 else text


class QueueModel(QAbstractTableModel):
    """The queue's rows; change them only through this model's methods."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[QueueRow] = []

    # ------------------------------------------------------------------- content
    def rows(self) -> list[QueueRow]:
        return list(self._rows)

    def row(self, index: int) -> QueueRow:
        return self._rows[index]

    def row_of(self, row_id: int) -> int:
        """The current position of the row with ``row_id``, or -1."""
        return next((i for i, row in enumerate(self._rows) if row.id == row_id), -1)

    def get(self, row_id: int) -> QueueRow | None:
        position = self.row_of(row_id)
        return self._rows[position] if position >= 0 else None

    def add(self, items: Iterable[tuple[Path, Path]]) -> int:
        """Append ``(source, root)`` pairs whose source is not queued yet; return how many."""
        known = {row.source.resolve() for row in self._rows}
        new = []
        for source, root in items:
            resolved = source.resolve()
            if resolved not in known:
                known.add(resolved)
                new.append(QueueRow(source=source, root=root))
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self._rows.extend(new)
            self.endInsertRows()
        return len(new)

    def remove(self, positions: Iterable[int]) -> None:
        for position in sorted(set(positions), reverse=True):
            if 0 <= position < len(self._rows):
                self.beginRemoveRows(QModelIndex(), position, position)
                del self._rows[position]
                self.endRemoveRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self.endResetModel()

    def update(self, row_id: int, **changes: Any) -> None:
        """Change fields of the row with ``row_id`` (ignored if it was removed)."""
        position = self.row_of(row_id)
        if position < 0:
            return
        self._rows[position] = replace(self._rows[position], **changes)
        self.dataChanged.emit(self.index(position, 0), self.index(position, len(Column) - 1))

    def fail(self, row_id: int, reason: str, hint: str = "") -> None:
        """Mark a row Failed, saying why and what to do."""
        self.update(row_id, status=Status.FAILED, reason=reason, hint=hint)

    def queue_again(self, row_id: int) -> None:
        """Mark a row Queued for the next Start, forgetting its outcome (files are kept)."""
        self.update(
            row_id, status=Status.QUEUED, reason="", hint="", progress=0.0, outputs=(), psnr=None
        )

    # ----------------------------------------------------------------- Qt model
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or section not in Column._value2member_map_:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS[Column(section)]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(row, column)
        if role == Qt.ItemDataRole.UserRole and column == Column.PROGRESS:
            return row.progress
        if role == Qt.ItemDataRole.ForegroundRole and column == Column.STATUS:
            if row.status == Status.FAILED:
                return QBrush(_FAILED_COLOUR)
            if row.status == Status.DONE:
                return QBrush(_DONE_COLOUR)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            Column.SHAPE,
            Column.PROGRESS,
            Column.PSNR,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _display(row: QueueRow, column: Column) -> str:
    if column == Column.FILE:
        return row.source.name
    if column == Column.SHAPE:
        return format_shape(row.shape)
    if column == Column.STATUS:
        return row.status_text
    if column == Column.PROGRESS:
        return f"{round(100 * row.progress)} %" if row.status == Status.RUNNING else ""
    if column == Column.PSNR:
        return "" if row.psnr is None else f"{row.psnr[0]:.1f} → {row.psnr[1]:.1f}"
    return row.outputs[0].name if row.outputs else ""


def _tooltip(row: QueueRow, column: Column) -> str:
    if column == Column.FILE:
        return str(row.source)
    if column == Column.STATUS and row.status == Status.FAILED:
        return "\n".join(part for part in (row.reason, row.hint) if part)
    if column == Column.PSNR and row.psnr is not None:
        before, after = row.psnr
        return (
            f"PSNR against the ground truth: noisy {before:.2f} dB, denoised {after:.2f} dB "
            f"(gain {after - before:+.2f} dB)"
        )
    if column == Column.OUTPUT and row.outputs:
        return "\n".join(str(path) for path in row.outputs)
    return HEADER_TIPS[column]


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress of a running row as a progress bar."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        text = index.data(Qt.ItemDataRole.DisplayRole)
        if not text:
            super().paint(painter, option, index)
            return
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, widget)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(3, 3, -3, -3)
        bar.minimum, bar.maximum = 0, 100
        bar.progress = round(100 * float(index.data(Qt.ItemDataRole.UserRole) or 0.0))
        bar.text = text
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        bar.palette = option.palette
        bar.fontMetrics = option.fontMetrics
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)


class ElideRightDelegate(QStyledItemDelegate):
    """Cuts long text at its end (the table cuts file names in the middle)."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: Index) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideRight


class QueueTable(QTableView):
    """The queue, whole rows selected; the status column takes the room left."""

    def __init__(self, model: QueueModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setShowGrid(False)
        self.setItemDelegateForColumn(Column.PROGRESS, ProgressDelegate(self))
        self.setItemDelegateForColumn(Column.STATUS, ElideRightDelegate(self))
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(Column.STATUS, QHeaderView.ResizeMode.Stretch)
        characters = {
            Column.FILE: 15,
            Column.STATUS: 17,
            Column.PROGRESS: 9,
            Column.SHAPE: 10,
            Column.PSNR: 11,
            Column.OUTPUT: 16,
        }
        width = self.fontMetrics().averageCharWidth()
        for column, count in characters.items():
            self.setColumnWidth(column, count * width + 16)

    @property
    def queue(self) -> QueueModel:
        model = self.model()
        assert isinstance(model, QueueModel)
        return model

    def selected_positions(self) -> list[int]:
        return sorted(index.row() for index in self.selectionModel().selectedRows())
