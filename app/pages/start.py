"""Step 1: start a project, open one, or try the built-in demo."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.demo import create_demo, demo_settings, new_demo_folder
from app.workers import Job, call

NEEDS = (
    "<ol style='margin-left:-20px'>"
    "<li><b>Calibration frames</b>: 20–100 frames of a static scene, such as an "
    "out-of-focus field diaphragm, that span your samples' brightness, taken with the "
    "camera settings you image with. No calibration? The noise model can be estimated "
    "from the noisy images instead (less accurate).</li>"
    "<li><b>Noisy images</b> of your samples to train on: the ones you want to denoise, "
    "or others from the same microscope and settings. No clean images are needed.</li>"
    "<li><b>Time</b>: the <i>CPU quick</i> preset trains in about ten minutes on a "
    "laptop; a GPU runs the paper's full configuration.</li>"
    "</ol>"
    "<p>Results are written into a new folder; your original files are never changed. "
    "Everything is kept in one project file you can reopen to denoise more images.</p>"
)
INTRO = (
    "PN2V Studio removes noise from fluorescence images using only the noisy images "
    "themselves. Three steps: <b>Calibrate</b> your camera's noise from a stack of frames "
    "of a static scene, <b>Train</b> a network on your noisy images, and <b>Denoise</b> "
    "any number of files."
)


class StartPage(QWidget):
    """New, open, recent projects and "Try the demo"."""

    new_requested = Signal()
    open_requested = Signal(object)
    demo_requested = Signal()

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self._demo_job: Job | None = None

        title = QLabel("Welcome to PN2V Studio")
        title.setObjectName("pageTitle")
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)

        self.new_button = QPushButton("New project")
        self.new_button.setToolTip("Start an empty project and go to calibration.")
        self.new_button.clicked.connect(self.new_requested)
        self.open_button = QPushButton("Open project…")
        self.open_button.setToolTip("Open a .pn2v project saved by PN2V Studio or `pn2v train`.")
        self.open_button.clicked.connect(lambda: self.open_requested.emit(None))
        self.demo_button = QPushButton("Try the demo")
        self.demo_button.setObjectName("primaryButton")
        self.demo_button.setToolTip(
            "Simulate a microscope (calibration frames and noisy cell images with known "
            "ground truth) and walk through all steps in a few minutes."
        )
        self.demo_button.clicked.connect(self.demo_requested)
        for button in (self.new_button, self.open_button, self.demo_button):
            button.setMinimumHeight(40)

        actions = QGroupBox("Get started")
        grid = QGridLayout(actions)
        grid.addWidget(self.demo_button, 0, 0)
        grid.addWidget(
            _note("New here? The demo needs no data of your own and shows the PSNR gained."), 0, 1
        )
        grid.addWidget(self.new_button, 1, 0)
        grid.addWidget(_note("Calibrate, train and denoise your own images."), 1, 1)
        grid.addWidget(self.open_button, 2, 0)
        grid.addWidget(_note("Continue a saved project, or denoise with a trained one."), 2, 1)
        grid.setColumnStretch(1, 1)
        self.demo_progress = QProgressBar()
        self.demo_progress.setRange(0, 0)
        self.demo_progress.setFormat("Writing the demo data…")
        self.demo_progress.hide()
        grid.addWidget(self.demo_progress, 3, 0, 1, 2)

        recent_box = QGroupBox("Recent projects")
        self.recent = QListWidget()
        self.recent.setToolTip("Double-click (or press Enter) to open.")
        self.recent.itemActivated.connect(
            lambda item: self.open_requested.emit(Path(item.data(Qt.ItemDataRole.UserRole)))
        )
        recent_layout = QVBoxLayout(recent_box)
        recent_layout.addWidget(self.recent)

        needs_box = QGroupBox("What you need")
        needs = QLabel(NEEDS)
        needs.setWordWrap(True)
        needs.setTextFormat(Qt.TextFormat.RichText)
        needs_layout = QVBoxLayout(needs_box)
        needs_layout.addWidget(needs)
        needs_layout.addStretch(1)
        left = QVBoxLayout()
        left.addWidget(actions)
        left.addWidget(needs_box, 1)

        columns = QHBoxLayout()
        columns.addLayout(left, 3)
        columns.addWidget(recent_box, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(14)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addLayout(columns, 1)
        self.refresh_recent()

    def showEvent(self, event: object) -> None:
        self.refresh_recent()
        super().showEvent(event)

    def refresh_recent(self) -> None:
        self.recent.clear()
        for path in self.context.settings.existing_recent():
            item = QListWidgetItem(f"{path.name}   —   {path.parent}")
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.recent.addItem(item)
        if not self.recent.count():
            item = QListWidgetItem("No recent projects yet.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(item)

    def start_demo(self) -> None:
        """Write the demo data in a worker, then open it as a new project."""
        if self.context.busy:
            return
        folder = new_demo_folder()
        self._demo_job = Job("demo data", call(lambda: create_demo(folder)), self)
        self._demo_job.succeeded.connect(self._demo_ready)
        self._demo_job.failed.connect(lambda info: self.context.error("Demo failed", info))
        self._demo_job.finished.connect(self.demo_progress.hide)
        self.demo_progress.show()
        self.context.run(self._demo_job)

    def _demo_ready(self, demo: object) -> None:
        self.context.state.load_demo(demo, demo_settings())
        self.context.go_to_step.emit(1)


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setObjectName("note")
    return label
