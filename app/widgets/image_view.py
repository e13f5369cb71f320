"""Image viewers for microscopy data: one image (or stack), and a before/after comparison.

Images are numpy arrays of shape (Y, X) or (frames, Y, X), shown with row 0 at
the top, square pixels and a contrast set by percentiles.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

#: Percentiles (low, high) that set the automatic contrast.
AUTO_PERCENTILES = (0.5, 99.5)
#: Pixels sampled at most to compute the automatic contrast.
_MAX_SAMPLES = 1_000_000

MODES = ("Side by side", "Toggle", "Split")
_MODE_TIPS = {
    "Side by side": "The two images next to each other; they pan and zoom together.",
    "Toggle": "One image at a time: the button or the Space key flips between them.",
    "Split": "One image: 'before' left of the yellow line, 'after' right of it. Drag the line.",
}


def percentile_levels(
    image: np.ndarray, percentiles: tuple[float, float] = AUTO_PERCENTILES
) -> tuple[float, float]:
    """Display levels (low, high) at the given percentiles of the finite pixels of ``image``."""
    flat = np.asarray(image).ravel()
    sample = flat[:: max(1, flat.size // _MAX_SAMPLES)].astype(np.float64)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(sample, percentiles))
    if high <= low:
        low, high = low - 0.5, low + 0.5
    return low, high


def _as_stack(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ValueError(f"expected a (Y, X) or (frames, Y, X) image, got shape {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    return array if array.ndim == 3 else array[np.newaxis]


def _format_value(value: float | int) -> str:
    if isinstance(value, np.integer | int):
        return str(int(value))
    return f"{float(value):.5g}"


def _copy_zoom(source: pg.ViewBox, target: pg.ViewBox) -> None:
    """Give ``target`` the centre and the image pixels per screen pixel of ``source``."""
    rect = source.viewRect()
    scale = rect.width() / max(1.0, source.width())
    centre = rect.center()
    half_width, half_height = target.width() * scale / 2, target.height() * scale / 2
    target.setRange(
        xRange=(centre.x() - half_width, centre.x() + half_width),
        yRange=(centre.y() - half_height, centre.y() + half_height),
        padding=0.0,
    )


class FrameSlider(QWidget):
    """A slider over the frames of a stack with a 'Frame i / n' label; hidden for one frame."""

    frameChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Frame of the stack shown")
        self.label = QLabel()
        self.label.setMinimumWidth(90)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.slider, stretch=1)
        self.slider.valueChanged.connect(self._on_value_changed)
        self.set_count(1)

    @property
    def value(self) -> int:
        return self.slider.value()

    def set_value(self, frame: int) -> None:
        self.slider.setValue(frame)

    def set_count(self, count: int) -> None:
        """Offer ``count`` frames, keeping the current one where it exists."""
        self.slider.setRange(0, max(0, count - 1))
        self.setVisible(count > 1)
        self._update_label()

    def _on_value_changed(self, frame: int) -> None:
        self._update_label()
        self.frameChanged.emit(frame)

    def _update_label(self) -> None:
        self.label.setText(f"Frame {self.slider.value() + 1} / {self.slider.maximum() + 1}")


class ImageView(QWidget):
    """A 2-D image or stack with locked aspect, y pointing down and a pixel read-out.

    Drag to pan, wheel to zoom, double-click to see the whole image.
    """

    frameChanged = Signal(int)

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data: np.ndarray | None = None
        self._levels: tuple[float, float] = (0.0, 1.0)

        self.title_label = QLabel()
        self.title_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.title_label.font()
        font.setBold(True)
        self.title_label.setFont(font)

        self.graphics = pg.GraphicsView(background="#141414")
        self.graphics.setMinimumSize(160, 160)
        self.graphics.setToolTip("Drag to pan, wheel to zoom, double-click to see all")
        self.view_box = pg.ViewBox(
            lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.0
        )
        self.graphics.setCentralItem(self.view_box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)

        self.readout_label = QLabel()
        self.readout_label.setToolTip("Pixel under the mouse: column x, row y and its value")
        self.readout_label.setMinimumHeight(self.readout_label.fontMetrics().height())
        self.frame_slider = FrameSlider()
        self.frame_slider.frameChanged.connect(self._on_frame_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title_label)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.readout_label)
        layout.addWidget(self.frame_slider)

        scene = self.graphics.scene()
        scene.sigMouseMoved.connect(self._on_mouse_moved)
        scene.sigMouseClicked.connect(self._on_mouse_clicked)
        self.set_title(title)

    # -- public API ------------------------------------------------------------------

    @property
    def image(self) -> np.ndarray | None:
        """The image or stack shown, as (frames, Y, X); ``None`` when empty."""
        return self._data

    @property
    def n_frames(self) -> int:
        return 0 if self._data is None else self._data.shape[0]

    @property
    def frame(self) -> int:
        return self.frame_slider.value

    @property
    def levels(self) -> tuple[float, float]:
        return self._levels

    @property
    def title(self) -> str:
        return self.title_label.text()

    def set_title(self, title: str) -> None:
        self.title_label.setText(title)
        self.title_label.setVisible(bool(title))

    def set_image(self, image: np.ndarray, levels: tuple[float, float] | None = None) -> None:
        """Show ``image`` (Y, X) or (frames, Y, X), contrast ``levels`` or by percentiles.

        The zoom is kept when the new image has the same size as the old one.
        """
        data = _as_stack(image)
        new_size = self._data is None or self._data.shape[1:] != data.shape[1:]
        self._data = data
        self._levels = levels if levels is not None else percentile_levels(data)
        self.frame_slider.blockSignals(True)
        self.frame_slider.set_count(data.shape[0])
        self.frame_slider.blockSignals(False)
        self._show_frame()
        if new_size:
            self.view_box.autoRange(padding=0.0)

    def set_levels(self, levels: tuple[float, float]) -> None:
        self._levels = levels
        self.image_item.setLevels(levels)

    def set_frame(self, frame: int) -> None:
        self.frame_slider.set_value(frame)

    def current_frame(self) -> np.ndarray | None:
        """The 2-D frame on screen, or ``None``."""
        return None if self._data is None else self._data[self.frame]

    def clear(self) -> None:
        """Show nothing."""
        self._data = None
        self.image_item.clear()
        self.readout_label.clear()
        self.frame_slider.set_count(1)

    # -- internals -------------------------------------------------------------------

    def _show_frame(self) -> None:
        frame = self.current_frame()
        if frame is not None:
            self.image_item.setImage(frame, levels=self._levels, autoLevels=False)

    def _on_frame_changed(self, frame: int) -> None:
        self._show_frame()
        self.frameChanged.emit(frame)

    def _on_mouse_moved(self, position: QPointF) -> None:
        frame = self.current_frame()
        if frame is None or not self.view_box.sceneBoundingRect().contains(position):
            self.readout_label.clear()
            return
        point = self.view_box.mapSceneToView(position)
        column, row = math.floor(point.x()), math.floor(point.y())
        if 0 <= row < frame.shape[0] and 0 <= column < frame.shape[1]:
            value = _format_value(frame[row, column])
            self.readout_label.setText(f"  x {column}   y {row}   value {value}")
        else:
            self.readout_label.clear()

    def _on_mouse_clicked(self, event: MouseClickEvent) -> None:
        if self._data is not None and event.double():
            self.view_box.autoRange(padding=0.0)


class CompareView(QWidget):
    """'Before' and 'after' images: side by side, toggled, or split by a draggable line.

    The side-by-side views pan and zoom together, stacks share one frame slider,
    and with "Same contrast" (the default) both images use the levels of 'before'.
    """

    modeChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._before: np.ndarray | None = None
        self._after: np.ndarray | None = None
        self._titles = ("Noisy", "Denoised")
        self._own_levels: tuple[tuple[float, float], tuple[float, float]] = ((0, 1), (0, 1))
        self._mode = MODES[0]
        self._showing_after = False

        toolbar = QHBoxLayout()
        toolbar.setContentsMargins(0, 0, 0, 0)
        self.mode_buttons = QButtonGroup(self)
        for index, mode in enumerate(MODES):
            button = QToolButton()
            button.setText(mode)
            button.setCheckable(True)
            button.setToolTip(_MODE_TIPS[mode])
            self.mode_buttons.addButton(button, index)
            toolbar.addWidget(button)
        self.mode_buttons.button(0).setChecked(True)
        self.mode_buttons.idClicked.connect(lambda index: self.set_mode(MODES[index]))
        self.toggle_button = QPushButton()
        self.toggle_button.setToolTip("Flip between the two images (Space)")
        self.toggle_button.clicked.connect(self.flip)
        toolbar.addWidget(self.toggle_button)
        toolbar.addStretch(1)
        self.same_contrast = QCheckBox("Same contrast")
        self.same_contrast.setChecked(True)
        self.same_contrast.setToolTip(
            "On: both images use the display range of the first (noisy) image, so brightness "
            "compares directly.\nOff: each image is scaled to its own 0.5-99.5 percentiles."
        )
        self.same_contrast.toggled.connect(self._refresh)
        toolbar.addWidget(self.same_contrast)

        self.before_view = ImageView()
        self.after_view = ImageView()
        self.after_view.view_box.setXLink(self.before_view.view_box)
        self.after_view.view_box.setYLink(self.before_view.view_box)
        side_by_side = QWidget()
        side_layout = QHBoxLayout(side_by_side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.before_view)
        side_layout.addWidget(self.after_view)

        self.single_view = ImageView()
        self.split_line = pg.InfiniteLine(
            angle=90,
            movable=True,
            pen=pg.mkPen("#ffd400", width=2),
            hoverPen=pg.mkPen("#ffffff", width=3),
        )
        self.split_line.setToolTip("Drag to move the border between the two images")
        self.single_view.view_box.addItem(self.split_line, ignoreBounds=True)
        self.split_line.sigPositionChanged.connect(self._refresh)

        self.pages = QStackedWidget()
        self.pages.addWidget(side_by_side)
        self.pages.addWidget(self.single_view)

        self.frame_slider = FrameSlider()
        self.frame_slider.frameChanged.connect(self._refresh)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(toolbar)
        layout.addWidget(self.pages, stretch=1)
        layout.addWidget(self.frame_slider)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._apply_mode()

    # -- public API ------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """One of :data:`MODES`."""
        return self._mode

    @property
    def showing_after(self) -> bool:
        """In toggle mode, whether 'after' is the image shown."""
        return self._showing_after

    @property
    def frame(self) -> int:
        return self.frame_slider.value

    @property
    def split_position(self) -> int:
        """The first column taken from 'after' in split mode."""
        if self._before is None:
            return 0
        width = self._before.shape[2]
        return round(min(max(float(self.split_line.value()), 0.0), width))

    def set_images(
        self,
        before: np.ndarray,
        after: np.ndarray,
        before_title: str = "Noisy",
        after_title: str = "Denoised",
    ) -> None:
        """Compare ``before`` with ``after``: (Y, X) or (frames, Y, X) of the same shape."""
        first, second = _as_stack(before), _as_stack(after)
        if first.shape != second.shape:
            raise ValueError(
                f"before and after differ in shape: {np.shape(before)} vs {np.shape(after)}"
            )
        new_size = self._before is None or self._before.shape[1:] != first.shape[1:]
        self._before, self._after = first, second
        self._titles = (before_title, after_title)
        self._own_levels = (percentile_levels(first), percentile_levels(second))
        self.frame_slider.blockSignals(True)
        self.frame_slider.set_count(first.shape[0])
        self.frame_slider.blockSignals(False)
        if new_size:
            self.split_line.blockSignals(True)
            self.split_line.setBounds((0, first.shape[2]))
            self.split_line.setValue(first.shape[2] / 2)
            self.split_line.blockSignals(False)
        self._refresh()

    def set_mode(self, mode: str) -> None:
        """Switch to "Side by side", "Toggle" or "Split", keeping the zoom."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if mode == self._mode:
            return
        source = self.before_view if self._mode == MODES[0] else self.single_view
        target = self.before_view if mode == MODES[0] else self.single_view
        self._mode = mode
        self._apply_mode()
        if self._before is not None and source is not target and self.isVisible():
            _copy_zoom(source.view_box, target.view_box)
        self.modeChanged.emit(mode)

    def set_frame(self, frame: int) -> None:
        self.frame_slider.set_value(frame)

    def set_split_position(self, column: float) -> None:
        self.split_line.setValue(column)

    def flip(self) -> None:
        """In toggle mode, show the other image."""
        self._showing_after = not self._showing_after
        self._refresh()

    def clear(self) -> None:
        """Show nothing."""
        self._before = self._after = None
        for view in (self.before_view, self.after_view, self.single_view):
            view.clear()
            view.set_title("")
        self.frame_slider.set_count(1)
        self._refresh()

    # -- internals -------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and self._mode == "Toggle":
            self.flip()
            event.accept()
        else:
            super().keyPressEvent(event)

    def _apply_mode(self) -> None:
        self.mode_buttons.button(MODES.index(self._mode)).setChecked(True)
        self.pages.setCurrentIndex(0 if self._mode == MODES[0] else 1)
        self.toggle_button.setVisible(self._mode == "Toggle")
        self.split_line.setVisible(self._mode == "Split")
        self.same_contrast.setEnabled(self._mode != "Split")
        self._refresh()

    def _levels(self) -> tuple[tuple[float, float], tuple[float, float]]:
        before, after = self._own_levels
        if self.same_contrast.isChecked() or self._mode == "Split":
            return before, before
        return before, after

    def _refresh(self) -> None:
        before_title, after_title = self._titles
        self.toggle_button.setText(f"Show {before_title if self._showing_after else after_title}")
        if self._before is None or self._after is None:
            return
        index = self.frame
        before, after = self._before[index], self._after[index]
        before_levels, after_levels = self._levels()
        if self._mode == "Side by side":
            self.before_view.set_title(before_title)
            self.before_view.set_image(before, before_levels)
            self.after_view.set_title(after_title)
            self.after_view.set_image(after, after_levels)
        elif self._mode == "Toggle":
            shown = self._showing_after
            self.single_view.set_title(f"{after_title if shown else before_title}  (Space flips)")
            self.single_view.set_image(
                after if shown else before, after_levels if shown else before_levels
            )
        else:
            column = self.split_position
            composed = np.empty(before.shape, np.result_type(before, after))
            composed[:, :column] = before[:, :column]
            composed[:, column:] = after[:, column:]
            self.single_view.set_title(f"◀ {before_title}  |  {after_title} ▶")
            self.single_view.set_image(composed, before_levels)
