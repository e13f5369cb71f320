"""Message boxes: errors that say what went wrong and what to do, and questions.

Error boxes are window-modal but opened without a nested event loop, so workers
keep reporting and tests can inspect them. Questions block; tests replace
:func:`ask` with a scripted answer.
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox, QWidget

from app.paths import log_file
from app.workers import ErrorInfo

log = logging.getLogger(__name__)


def show_error(parent: QWidget | None, title: str, info: ErrorInfo) -> QMessageBox:
    """Open an error box: the message, the hint, and the details with the log's path."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(info.message)
    box.setInformativeText(
        f"{info.hint}\n\nA log of this session is kept in {log_file()}."
        if info.hint
        else f"A log of this session is kept in {log_file()}."
    )
    if info.details:
        box.setDetailedText(info.details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setObjectName("errorDialog")
    box.open()
    log.info("error shown: %s | %s", info.message, info.hint)
    return box


def ask(
    parent: QWidget | None,
    title: str,
    text: str,
    buttons: QMessageBox.StandardButton,
    default: QMessageBox.StandardButton,
) -> QMessageBox.StandardButton:
    """A blocking question; returns the button pressed."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, buttons, parent)
    box.setDefaultButton(default)
    return QMessageBox.StandardButton(box.exec())
