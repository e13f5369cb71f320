"""The application's look: Fusion, a light palette and ``resources/style.qss``."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    sheet = RESOURCES / "style.qss"
    if sheet.is_file():
        app.setStyleSheet(sheet.read_text(encoding="utf-8"))
    import pyqtgraph as pg

    pg.setConfigOptions(background="w", foreground="#303540", antialias=True)
