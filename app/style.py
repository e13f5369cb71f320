"""The application's look: Fusion, a light palette, ``resources/style.qss`` and the icon."""

from __future__ import annotations

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app.paths import resource_path


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setWindowIcon(QIcon(str(resource_path("icon.png"))))
    sheet = resource_path("style.qss")
    if sheet.is_file():
        app.setStyleSheet(sheet.read_text(encoding="utf-8"))
    import pyqtgraph as pg

    pg.setConfigOptions(background="w", foreground="#303540", antialias=False)
