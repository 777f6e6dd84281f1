"""The training panel's loss plot, drawn with pyqtgraph.

Axes with the step (or the seconds) and the loss, a log scale, smoothing, and
a legend whose entries toggle their curve (click a line sample), as in
pyqtgraph's own plots. A task's held-out measures (``StepRecord.metrics``, e.g. a
classifier's validation accuracy) are drawn beside the losses, as points joined
by dashed lines on an axis of their own at the right, unsmoothed. Points are
appended in O(1); the curves are redrawn at most a few times a second, with
pyqtgraph's clipping and downsampling, so a run of a million steps does not slow
napari down.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import QSize, Qt, QTimer
from qtpy.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

COLORS = ("#4fc3f7", "#ffb74d", "#aed581", "#f06292", "#ba68c8", "#e0e0e0")
REDRAW_MS = 250


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average with bias correction (as TensorBoard smooths)."""
    if weight <= 0 or len(values) == 0:
        return values
    from scipy.signal import lfilter

    avg = lfilter([1 - weight], [1, -weight], values)
    return avg / (1 - weight ** np.arange(1, len(values) + 1))


class _CompactPlot(pg.PlotWidget):
    """A PlotWidget whose preferred size is a dock's, not pyqtgraph's 640 x 480: napari
    opens a dock at its widget's preferred width, and that default made every
    training dock about 690 px wide, leaving a laptop's canvas a sliver."""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(280, 180)


class LossCurve(QWidget):
    """Training losses against step or time, one curve per loss."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._series: dict[str, list[tuple[int, float]]] = {}
        self._metrics: dict[str, list[tuple[int, float]]] = {}
        self._elapsed: dict[int, float] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._metric_curves: dict[str, pg.PlotDataItem] = {}
        self._dirty = False

        self.plot = _CompactPlot(background=None)
        self.plot.setMinimumHeight(140)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.setClipToView(True)
        self.plot.setDownsampling(auto=True, mode="peak")
        self.legend = self.plot.addLegend(offset=(-4, 4), labelTextSize="8pt")
        self.plot.setToolTip("Training losses; click a line in the legend to hide or show it, drag or wheel to zoom")
        # held-out measures on their own axis at the right (pyqtgraph's "multiple axes" recipe)
        item = self.plot.getPlotItem()
        self._right = pg.ViewBox()
        item.scene().addItem(self._right)
        item.getAxis("right").linkToView(self._right)
        item.getAxis("right").enableAutoSIPrefix(False)  # accuracies read as 0.9, not 900 x 0.001
        self._right.setXLink(item)
        item.vb.sigResized.connect(self._sync_right)

        self.x_axis = QComboBox()
        self.x_axis.addItems(["step", "seconds"])
        self.log = QCheckBox("log")
        self.log.setToolTip("Logarithmic loss axis (losses that are not all positive keep a linear axis)")
        self.smoothing = QDoubleSpinBox()
        self.smoothing.setRange(0.0, 0.99)
        self.smoothing.setSingleStep(0.1)
        self.smoothing.setValue(0.6)
        self.smoothing.setToolTip("Exponential smoothing of the curves (0: the raw losses)")
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        for w in (QLabel("x:"), self.x_axis, self.log, QLabel("smooth:"), self.smoothing):
            controls.addWidget(w)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        layout.addLayout(controls)

        self.x_axis.currentTextChanged.connect(self._options_changed)
        self.log.toggled.connect(self._options_changed)
        self.smoothing.valueChanged.connect(self._options_changed)
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw_if_dirty)
        self._timer.start()

    # -- data ------------------------------------------------------------------------
    @property
    def series(self) -> dict[str, list[tuple[int, float]]]:
        """``{loss name: [(step, value), ...]}`` as plotted (before smoothing)."""
        return self._series

    @property
    def metrics(self) -> dict[str, list[tuple[int, float]]]:
        """``{measure name: [(step, value), ...]}``: the held-out measures, as plotted."""
        return self._metrics

    def __len__(self) -> int:
        return max((len(v) for v in self._series.values()), default=0)

    def clear(self) -> None:
        self._series, self._metrics, self._elapsed = {}, {}, {}
        for curve in self._curves.values():
            self.plot.removeItem(curve)
        for curve in self._metric_curves.values():
            self._right.removeItem(curve)
        self.legend.clear()
        self._curves, self._metric_curves = {}, {}
        self.plot.getPlotItem().hideAxis("right")
        self._dirty = False

    def add(
        self,
        step: int,
        losses: dict[str, float],
        elapsed: float | None = None,
        metrics: dict[str, float] | None = None,
    ) -> None:
        for store, values in ((self._series, losses), (self._metrics, metrics or {})):
            for name, value in values.items():
                if value is None or not math.isfinite(value):
                    continue
                store.setdefault(name, []).append((int(step), float(value)))
        if elapsed is not None:
            self._elapsed[int(step)] = float(elapsed)
        self._dirty = True

    # -- drawing ---------------------------------------------------------------------
    def _sync_right(self) -> None:
        vb = self.plot.getPlotItem().vb
        self._right.setGeometry(vb.sceneBoundingRect())
        self._right.linkedViewChanged(vb, self._right.XAxis)

    def _xs(self, steps: np.ndarray, by_time: bool) -> np.ndarray:
        if not by_time:
            return steps
        return np.array([self._elapsed.get(int(s), np.nan) for s in steps])

    def _options_changed(self, *_) -> None:
        self.plot.setLabel("bottom", self.x_axis.currentText())
        self.redraw()

    def _redraw_if_dirty(self) -> None:
        if self._dirty and self.isVisible():
            self.redraw()

    def redraw(self) -> None:
        self._dirty = False
        by_time = self.x_axis.currentText() == "seconds"
        positive = all(v > 0 for values in self._series.values() for _, v in values)
        log = self.log.isChecked() and positive
        self.plot.setLogMode(y=log)
        weight = float(self.smoothing.value())
        for i, (name, values) in enumerate(self._series.items()):
            steps = np.fromiter((s for s, _ in values), dtype=np.float64, count=len(values))
            ys = smooth(np.fromiter((v for _, v in values), dtype=np.float64, count=len(values)), weight)
            xs = self._xs(steps, by_time)
            keep = np.isfinite(xs)
            xs, ys = xs[keep], ys[keep]
            curve = self._curves.get(name)
            if curve is None:
                pen = pg.mkPen(COLORS[i % len(COLORS)], width=1.5)
                curve = self._curves[name] = self.plot.plot(xs, ys, pen=pen, name=name)
            else:
                curve.setData(xs, ys)
        self._redraw_metrics(by_time)

    def _redraw_metrics(self, by_time: bool) -> None:
        n = len(self._series)
        for i, (name, values) in enumerate(self._metrics.items()):
            xs = self._xs(np.array([s for s, _ in values], dtype=np.float64), by_time)
            ys = np.array([v for _, v in values], dtype=np.float64)
            keep = np.isfinite(xs)
            curve = self._metric_curves.get(name)
            if curve is None:
                color = COLORS[(n + i) % len(COLORS)]
                pen = pg.mkPen(color, width=1.5, style=Qt.DashLine)
                curve = pg.PlotDataItem(xs[keep], ys[keep], pen=pen, symbol="o", symbolSize=5, symbolBrush=color)
                self._right.addItem(curve)
                self.legend.addItem(curve, name)
                self._metric_curves[name] = curve
                item = self.plot.getPlotItem()
                item.showAxis("right")
                item.setLabel("right", "held out")
                self._sync_right()
            else:
                curve.setData(xs[keep], ys[keep])
