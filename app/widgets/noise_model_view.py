"""A view of a noise model p(x|s), drawn like Figure 3 of the PN2V paper.

Left: p(x|s) as an image over signal s (horizontal) and observation x (vertical),
coloured by log10 density. Right: p(x|s) over x for six signal levels. A second
model (e.g. a histogram beside a Gaussian mixture) can be drawn for comparison: its
image between the two, its curves dashed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from pn2v_engine import NoiseModel

#: Grid points per axis for models without their own bins.
DEFAULT_GRID = 256
#: Histograms with more bins than this are resampled on the default grid.
MAX_GRID = 1024
#: The colour scale shows this many decades below the highest density.
LOG_DECADES = 8.0
#: Number of signal levels drawn as curves.
N_CURVES = 6

_CURVE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_TEXT = "#202020"
_EMPTY_CAPTION = "No noise model yet: calibrate one or load a project."


def _style_axes(plot: pg.PlotItem) -> None:
    """Dark axes and labels, readable on a white background."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(_TEXT))
        axis.setTextPen(pg.mkPen(_TEXT))


def _measured_signals(model: NoiseModel, low: float, high: float) -> tuple[float, float]:
    """The signals a calibration measured (the readings reach further), else the range."""
    calibration = model.metadata.get("calibration") or {}
    measured = calibration.get("signal_range")
    if measured is None:
        return low, high
    return max(low, float(measured[0])), min(high, float(measured[1]))


def _signal_levels(low: float, high: float, n: int = N_CURVES) -> np.ndarray:
    """``n`` signals evenly spread inside ``[low, high]``, rounded to whole units on wide ranges."""
    levels = low + (np.arange(n) + 0.5) / n * (high - low)
    return np.round(levels) if high - low >= 50 else levels


def _format_level(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


class NoiseModelView(QWidget):
    """p(x|s) as a log-scaled 2-D image with a colour bar, and as curves for six signals.

    Works with any :class:`pn2v_engine.NoiseModel` through ``signal_range``,
    ``likelihood`` and ``to``; a histogram model is sampled at its own bin centres.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: NoiseModel | None = None
        #: Observation (and signal) grid, in camera units, of the last model drawn.
        self.grid: np.ndarray = np.empty(0)
        #: log10 p(x|s) shown in the image, indexed ``[signal, observation]``.
        self.log_density: np.ndarray = np.empty((0, 0))
        self.signal_levels: list[float] = []
        self.curves: list[pg.PlotDataItem] = []

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.graphics.setMinimumSize(560, 260)
        self.graphics.ci.layout.setHorizontalSpacing(16)

        self.image_plot, self.image_item = self._image_plot("Noise model p(x|s)")
        self.graphics.addItem(self.image_plot, row=0, col=0)
        #: The comparison model's image; in the layout only while there is one.
        self.compare_plot, self.compare_item = self._image_plot("Comparison (dashed curves)")
        self.comparison: NoiseModel | None = None
        self.compare_log_density: np.ndarray = np.empty((0, 0))
        self.compare_curves: list[pg.PlotDataItem] = []
        self.colorbar = pg.ColorBarItem(
            values=(-LOG_DECADES, 0.0),
            colorMap="viridis",
            label="log10 p(x|s)",
            interactive=False,
            width=16,
        )
        self.colorbar.setImageItem([self.image_item, self.compare_item], insert_in=self.image_plot)
        self.colorbar.setToolTip("Colour scale: log10 of the density p(x|s)")
        _style_axes(self.colorbar)

        self.curve_plot = self.graphics.addPlot(row=0, col=1)
        self._comparing = False
        self.curve_plot.setTitle("p(x|s) at six signal levels", color=_TEXT, size="10pt")
        self.curve_plot.setLabel("bottom", "observation x (camera units)")
        self.curve_plot.setLabel("left", "p(x|s)")
        self.curve_plot.getAxis("left").enableAutoSIPrefix(False)
        self.curve_plot.setMenuEnabled(False)
        self.curve_plot.hideButtons()
        self.curve_plot.showGrid(x=True, y=True, alpha=0.15)
        self.curve_plot.setToolTip(
            "The distribution of observations x for six signal levels s across the signals "
            "the calibration measured"
        )
        _style_axes(self.curve_plot)
        self.legend = self.curve_plot.addLegend(
            offset=(-8, 8),
            labelTextColor=_TEXT,
            brush=pg.mkBrush(255, 255, 255, 210),
            pen=pg.mkPen("#c0c0c0"),
            colCount=2,
            labelTextSize="8pt",
        )
        self.legend.setVisible(False)

        self.caption = QLabel(_EMPTY_CAPTION)
        self.caption.setWordWrap(True)
        self.caption.setContentsMargins(8, 0, 8, 4)
        self.caption.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.caption.setToolTip("The noise model shown above")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.caption)

    @staticmethod
    def _image_plot(title: str) -> tuple[pg.PlotItem, pg.ImageItem]:
        plot = pg.PlotItem()
        plot.setTitle(title, color=_TEXT, size="10pt")
        plot.setLabel("bottom", "signal s (camera units)")
        plot.setLabel("left", "observation x (camera units)")
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setToolTip(
            "Each column is the distribution of observations x for one signal s;\n"
            "the colour is log10 of the density p(x|s)."
        )
        _style_axes(plot)
        item = pg.ImageItem(axisOrder="col-major")
        plot.addItem(item)
        return plot, item

    def set_noise_model(
        self, model: NoiseModel, comparison: NoiseModel | None = None, comparison_label: str = ""
    ) -> None:
        """Draw ``model``, and ``comparison`` beside it on the same grid (replaces the view)."""
        low, high = (float(v) for v in model.signal_range)
        bins = getattr(model, "bins", None)
        n = bins if isinstance(bins, int) and 2 <= bins <= MAX_GRID else DEFAULT_GRID
        width = (high - low) / n
        grid = low + width * (np.arange(n) + 0.5)
        levels = _signal_levels(*_measured_signals(model, low, high))
        density, curves = _sample(model, grid, levels)
        compared = _sample(comparison, grid, levels) if comparison is not None else None

        with np.errstate(divide="ignore"):
            log_density = np.log10(density)
            compare_log = np.log10(compared[0]) if compared is not None else None
        finite = log_density[np.isfinite(log_density)]
        peak = float(finite.max()) if finite.size else 0.0
        floor = peak - LOG_DECADES

        def clipped(values: np.ndarray) -> np.ndarray:
            return np.clip(np.nan_to_num(values, nan=floor, neginf=floor), floor, peak)

        self.clear()
        self.model = model
        self.grid = grid
        self.log_density = clipped(log_density)
        self.signal_levels = [float(v) for v in levels]
        self._show_comparison_plot(compare_log is not None)

        rect = QRectF(low, low, high - low, high - low)
        self.image_item.setImage(self.log_density, autoLevels=False)
        self.image_item.setRect(rect)
        self.image_plot.setRange(xRange=(low, high), yRange=(low, high), padding=0)
        self.colorbar.setLevels(values=(floor, peak))

        for k, (level, values) in enumerate(zip(levels, curves, strict=True)):
            pen = pg.mkPen(_CURVE_COLOURS[k % len(_CURVE_COLOURS)], width=2)
            curve = self.curve_plot.plot(grid, values, pen=pen, name=f"s = {_format_level(level)}")
            self.curves.append(curve)
        tallest = float(curves.max())
        if compared is not None and compare_log is not None:
            self.comparison = comparison
            self.compare_log_density = clipped(compare_log)
            self.compare_item.setImage(self.compare_log_density, autoLevels=False)
            self.compare_item.setRect(rect)
            self.compare_plot.setRange(xRange=(low, high), yRange=(low, high), padding=0)
            self.compare_plot.setTitle(f"Comparison: {comparison.kind}", color=_TEXT, size="10pt")
            for k, values in enumerate(compared[1]):
                pen = pg.mkPen(
                    _CURVE_COLOURS[k % len(_CURVE_COLOURS)],
                    width=1.5,
                    style=Qt.PenStyle.DashLine,
                )
                self.compare_curves.append(self.curve_plot.plot(grid, values, pen=pen))
            tallest = max(tallest, float(compared[1].max()))
        self.legend.setVisible(True)
        self.curve_plot.setXRange(low, high, padding=0)
        # headroom above the tallest curve for the legend
        self.curve_plot.setYRange(0.0, 1.25 * tallest, padding=0)

        caption = model.describe()
        if comparison is not None:
            label = comparison_label or "comparison"
            caption += f"<br><i>Dashed: {label}</i> — {comparison.describe()}"
        self.caption.setText(caption)
        self.caption.setToolTip(
            f"Drawn on a {n} × {n} grid over {low:g} to {high:g}; the colour scale spans "
            f"{LOG_DECADES:g} decades below the highest density."
        )

    def _show_comparison_plot(self, show: bool) -> None:
        """Both images side by side above the curves, or the model's image beside the curves."""
        if self._comparing == show:
            return
        layout = self.graphics.ci
        layout.removeItem(self.curve_plot)
        if show:
            layout.addItem(self.compare_plot, row=0, col=1)
            layout.addItem(self.curve_plot, row=1, col=0, colspan=2)
        else:
            layout.removeItem(self.compare_plot)
            layout.addItem(self.curve_plot, row=0, col=1)
        self._comparing = show

    def clear(self) -> None:
        """Show nothing."""
        self.model = None
        self.grid = np.empty(0)
        self.log_density = np.empty((0, 0))
        self.signal_levels = []
        self.image_item.clear()
        self.compare_item.clear()
        self.comparison = None
        self.compare_log_density = np.empty((0, 0))
        for curve in self.curves + self.compare_curves:
            self.curve_plot.removeItem(curve)
        self.curves = []
        self.compare_curves = []
        self._show_comparison_plot(False)
        self.legend.clear()
        self.legend.setVisible(False)
        self.caption.setText(_EMPTY_CAPTION)
        self.caption.setToolTip("The noise model shown above")


def _sample(
    model: NoiseModel, grid: np.ndarray, levels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """p(x|s) on ``grid`` x ``grid`` (indexed [signal, observation]) and at ``levels``."""
    import torch

    cpu_model = model.to("cpu")
    with torch.no_grad():
        x = torch.from_numpy(grid)
        density = cpu_model.likelihood(x[None, :], x[:, None]).numpy()
        curves = cpu_model.likelihood(x[None, :], torch.from_numpy(levels)[:, None]).numpy()
    return density, curves
