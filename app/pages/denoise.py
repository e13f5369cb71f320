"""Placeholder page, being written."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from app.context import AppContext


class DenoisePage(QWidget):
    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
