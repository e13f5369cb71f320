"""Live plots of a training run: losses, learning rate and a row of figures.

Training-loss points come with every progress report, at the fractional epoch
``epoch - 1 + step / steps_per_epoch`` (the running mean of the epoch so far);
validation points come at epoch ends only. Updates only append to growing
arrays and call ``setData`` on existing curves, so a few reports a second cost
next to nothing.

Log scale: PN2V's loss is a negative log-likelihood and is often negative, which a
logarithmic axis cannot show. Rather than shifting the curves (which would make
the axis values meaningless), the "Log scale" box is switched off and disabled,
with a tooltip saying why, as soon as any loss is zero or negative. N2V's mean
squared error is always positive and can be shown on a log axis.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from pn2v_engine import History, TrainProgress

_TEXT = "#202020"
_TRAIN_COLOUR = "#1f77b4"
_VAL_COLOUR = "#ff7f0e"
_LR_COLOUR = "#2ca02c"
_NONE = "—"
_LOG_TIP = "Show the losses on a logarithmic axis."
_NO_LOG_TIP = (
    "A log scale needs positive values, and this run has losses at or below zero:\n"
    "the PN2V loss is a negative log-likelihood, so negative values are normal."
)


def format_duration(seconds: float | None) -> str:
    """``h:mm:ss`` of a number of seconds; a dash when unknown (None, infinite, negative)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return _NONE
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _format_loss(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else _NONE


#: Seconds between redraws of the curves during training.
REDRAW_INTERVAL_S = 1.0


class _Series:
    """(x, y) points in arrays that grow by doubling: appending is O(1), reading a view."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._data = np.empty((2, 256))
        self.size = 0

    def append(self, x: float, y: float) -> None:
        if self.size == self._data.shape[1]:
            grown = np.empty((2, max(256, 2 * self.size)))
            grown[:, : self.size] = self._data
            self._data = grown
        self._data[:, self.size] = x, y
        self.size += 1

    def drop_last(self) -> None:
        self.size -= 1

    def set(self, x: list[float], y: list[float]) -> None:
        self._data = np.array([x, y], dtype=np.float64).reshape(2, -1)
        self.size = self._data.shape[1]

    @property
    def x(self) -> np.ndarray:
        return self._data[0, : self.size]

    @property
    def y(self) -> np.ndarray:
        return self._data[1, : self.size]


class _LogAxis(pg.AxisItem):
    """A log axis labelled ``2e-5``, with only as many ticks as fit without overlapping.

    pyqtgraph labels every 1..9 multiple of each power of ten below three decades,
    which overlap on a short axis.
    """

    _LABEL_PX = 22
    _MANTISSAS = ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 5), (1,))

    def logTickValues(
        self, minVal: float, maxVal: float, size: float, stdTicks: list
    ) -> list[tuple[None, list[float]]]:
        decades = range(math.floor(minVal), math.ceil(maxVal) + 1)
        fit = max(1, int(size // self._LABEL_PX))
        for mantissas in self._MANTISSAS:
            values = [d + math.log10(m) for d in decades for m in mantissas]
            values = [v for v in values if minVal <= v <= maxVal]
            if len(values) <= fit:
                return [(None, values)]
        return [(None, values[:: math.ceil(len(values) / fit)])]

    def logTickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        strings = []
        for value in values:
            mantissa, exponent = f"{10**value * scale:.0e}".split("e")
            strings.append(f"{mantissa}e{int(exponent)}")
        return strings


def _style_plot(plot: pg.PlotItem, left: str, bottom: str | None) -> None:
    plot.setLabel("left", left)
    if bottom:
        plot.setLabel("bottom", bottom)
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.setMenuEnabled(False)
    plot.setClipToView(True)
    plot.setDownsampling(auto=True, mode="peak")
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(_TEXT))
        axis.setTextPen(pg.mkPen(_TEXT))
    left_axis = plot.getAxis("left")
    left_axis.setWidth(64)  # both plots' axes line up, long tick labels fit
    left_axis.enableAutoSIPrefix(False)  # its "(x1e-06)" garbles log axes


class TrainingPlots(QWidget):
    """Loss and learning-rate curves of a training run, with its progress figures.

    Feed it with :meth:`add_progress` during a run, show a finished run with
    :meth:`set_history`, and empty it with :meth:`clear`.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.train_points = _Series()
        self.val_points = _Series()
        self.lr_points = _Series()
        self.best_val = math.inf
        self.has_nonpositive_loss = False

        self.epoch_label = QLabel()
        self.step_label = QLabel()
        self.speed_label = QLabel()
        self.elapsed_label = QLabel()
        self.remaining_label = QLabel()
        self.best_label = QLabel()
        self.log_scale = QCheckBox("Log scale")
        self.log_scale.setToolTip(_LOG_TIP)
        self.log_scale.toggled.connect(self._set_log_scale)
        self.best_label.setToolTip("The lowest validation loss so far")
        figures = QHBoxLayout()
        figures.setContentsMargins(8, 4, 8, 0)
        figures.setSpacing(16)
        for label in (
            self.epoch_label,
            self.step_label,
            self.speed_label,
            self.elapsed_label,
            self.remaining_label,
            self.best_label,
        ):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            figures.addWidget(label)
        figures.addStretch(1)
        figures.addWidget(self.log_scale)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.graphics.setMinimumSize(420, 320)
        self.loss_plot: pg.PlotItem = self.graphics.addPlot(row=0, col=0)
        _style_plot(self.loss_plot, "loss", None)  # the epoch axis is labelled below
        self.legend = self.loss_plot.addLegend(
            offset=(-8, 8),
            labelTextColor=_TEXT,
            brush=pg.mkBrush(255, 255, 255, 210),
            pen=pg.mkPen("#c0c0c0"),
        )
        self.train_curve = self.loss_plot.plot(
            name="training loss", pen=pg.mkPen(_TRAIN_COLOUR, width=1.5)
        )
        self.val_curve = self.loss_plot.plot(
            name="validation loss",
            pen=pg.mkPen(_VAL_COLOUR, width=2),
            symbol="o",
            symbolSize=6,
            symbolPen=pg.mkPen(_VAL_COLOUR),
            symbolBrush=pg.mkBrush(_VAL_COLOUR),
        )
        self.lr_plot: pg.PlotItem = self.graphics.addPlot(
            row=1, col=0, axisItems={"left": _LogAxis("left")}
        )
        _style_plot(self.lr_plot, "learning rate", "epoch")
        self.lr_plot.setLogMode(y=True)
        self.lr_plot.setXLink(self.loss_plot)
        self.lr_curve = self.lr_plot.plot(pen=pg.mkPen(_LR_COLOUR, width=1.5))
        rows = self.graphics.ci.layout
        rows.setRowStretchFactor(0, 3)
        rows.setRowStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(figures)
        layout.addWidget(self.graphics, 1)
        self.clear()

    # ------------------------------------------------------------------ public API

    def add_progress(self, progress: TrainProgress) -> None:
        """Add one report of a running training (a :class:`pn2v_engine.TrainProgress`)."""
        p = progress
        x = p.epoch - 1 + p.step / p.steps_per_epoch
        # one point per finished epoch (its mean loss, as the history has it), and a
        # last point that follows the running epoch's mean until the epoch ends
        if self._epoch_running:
            self.train_points.drop_last()
        self.train_points.append(x, p.train_loss)
        self._epoch_running = not p.epoch_finished
        self._check_log_scale([p.train_loss])
        if p.learning_rate > 0:  # a log axis cannot show the rate of 0 a cosine ends on
            self.lr_points.append(x, p.learning_rate)
        if p.epoch_finished and p.val_loss is not None:
            self.val_points.append(float(p.epoch), p.val_loss)
            self.best_val = min(self.best_val, p.val_loss)
            self._check_log_scale([p.val_loss])
        # curves at most once a second (repainting the plots is the GUI's costliest work
        # while training shares the CPU), labels on every report
        now = time.monotonic()
        if p.epoch_finished or now - self._drawn_at >= REDRAW_INTERVAL_S:
            self._redraw(validation=p.epoch_finished)
            self._drawn_at = now
        self.epoch_label.setText(f"Epoch {p.epoch}/{p.epochs}")
        self.step_label.setText(f"Step {p.step}/{p.steps_per_epoch}")
        self.speed_label.setText(f"Speed {p.steps_per_s:.1f} steps/s")
        self.elapsed_label.setText(f"Elapsed {format_duration(p.elapsed_s)}")
        self.remaining_label.setText(f"Remaining {format_duration(p.eta_s)}")
        self.best_label.setText(f"Best val. loss {_format_loss(self.best_val)}")

    def set_history(self, history: History, epochs: int | None = None) -> None:
        """Show a finished (or stopped) run from its :class:`pn2v_engine.History`.

        Its points are one per epoch, at the epoch's end. ``epochs`` is the number
        the run was planned for; by default the number of epochs in the history.
        """
        self.clear()
        n = len(history.epoch)
        x = [float(e) for e in history.epoch]
        self.train_points.set(x, list(history.train_loss[:n]))
        self.val_points.set(x, list(history.val_loss[:n]))
        rates = [(e, r) for e, r in zip(x, history.learning_rate, strict=False) if r > 0]
        self.lr_points.set([e for e, _ in rates], [r for _, r in rates])
        self.best_val = min(history.val_loss, default=math.inf)
        self._check_log_scale([*history.train_loss, *history.val_loss])
        self._redraw(validation=True)
        if n:
            last = history.epoch[-1]
            self.epoch_label.setText(f"Epoch {last}/{epochs if epochs is not None else last}")
        if history.elapsed_s:
            self.elapsed_label.setText(f"Elapsed {format_duration(history.elapsed_s[-1])}")
        self.best_label.setText(f"Best val. loss {_format_loss(self.best_val)}")

    def clear(self) -> None:
        """Remove all points and figures, and allow a log scale again."""
        for series in (self.train_points, self.val_points, self.lr_points):
            series.clear()
        self._epoch_running = False
        self._drawn_at = -math.inf
        self.best_val = math.inf
        self.has_nonpositive_loss = False
        self.log_scale.setEnabled(True)
        self.log_scale.setToolTip(_LOG_TIP)
        self._redraw(validation=True)
        self.epoch_label.setText(f"Epoch {_NONE}")
        self.step_label.setText(f"Step {_NONE}")
        self.speed_label.setText(f"Speed {_NONE}")
        self.elapsed_label.setText(f"Elapsed {_NONE}")
        self.remaining_label.setText(f"Remaining {_NONE}")
        self.best_label.setText(f"Best val. loss {_NONE}")

    # ------------------------------------------------------------------- internals

    def _check_log_scale(self, losses: list[float]) -> None:
        """Switch the log scale off, until :meth:`clear`, at the first loss <= 0."""
        if not self.has_nonpositive_loss and any(v <= 0 for v in losses):
            self.has_nonpositive_loss = True
            self.log_scale.setChecked(False)
            self.log_scale.setEnabled(False)
            self.log_scale.setToolTip(_NO_LOG_TIP)

    def _redraw(self, validation: bool) -> None:
        # copies: the series' buffers change in place between redraws
        self.train_curve.setData(self.train_points.x.copy(), self.train_points.y.copy())
        self.lr_curve.setData(self.lr_points.x.copy(), self.lr_points.y.copy())
        if validation:
            self.val_curve.setData(self.val_points.x.copy(), self.val_points.y.copy())

    def _set_log_scale(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)
