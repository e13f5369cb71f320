"""The row of step buttons across the top of the window (Start, Calibrate, Train, Denoise)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QPushButton, QSizePolicy, QWidget


class StepBar(QWidget):
    """Exclusive, keyboard-accessible step buttons; a step shows a tick once it is done."""

    step_chosen = Signal(int)

    def __init__(self, titles: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stepBar")
        self._titles = titles
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(6)
        self.buttons: list[QPushButton] = []
        for index, title in enumerate(titles):
            button = QPushButton(f"{index + 1}  {title}")
            button.setCheckable(True)
            button.setObjectName("stepButton")
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.setMinimumHeight(34)
            self._group.addButton(button, index)
            layout.addWidget(button)
            self.buttons.append(button)
        self.buttons[0].setChecked(True)
        self._group.idClicked.connect(self.step_chosen)

    def set_current(self, index: int) -> None:
        self.buttons[index].setChecked(True)

    def set_done(self, index: int, done: bool) -> None:
        mark = "  \u2713" if done else ""
        self.buttons[index].setText(f"{index + 1}  {self._titles[index]}{mark}")
        self.buttons[index].setToolTip(
            f"{self._titles[index]}: done" if done else f"{self._titles[index]}: not done yet"
        )
