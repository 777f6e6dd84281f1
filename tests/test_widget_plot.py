"""The training panel's loss plot (pyqtgraph): curves per loss, step or time axis,
log scale, smoothing, legend toggles."""

from __future__ import annotations

import numpy as np

from napari_gan._widgets._plot import LossCurve, smooth


def test_smoothing_is_a_bias_corrected_moving_average():
    x = np.array([1.0, 1.0, 1.0, 5.0])
    np.testing.assert_allclose(smooth(x, 0.0), x)
    y = smooth(x, 0.5)
    np.testing.assert_allclose(y[:3], 1.0)  # no pull towards 0 at the start
    assert 1.0 < y[3] < 5.0


def test_curves_axes_and_toggles(qtbot):
    plot = LossCurve()
    qtbot.addWidget(plot)
    for step in range(1, 51):
        plot.add(step, {"g": -1.0 + 0.01 * step, "d": 2.0 / step, "skip": float("nan")}, elapsed=0.1 * step)
    assert len(plot) == 50 and set(plot.series) == {"g", "d"}  # a NaN loss is left out, not plotted
    plot.smoothing.setValue(0.0)
    plot.redraw()
    xs, ys = plot._curves["d"].getData()
    np.testing.assert_allclose(xs, np.arange(1, 51))
    np.testing.assert_allclose(ys, 2.0 / np.arange(1, 51))
    plot.x_axis.setCurrentText("seconds")  # redraws against the elapsed time
    xs, _ = plot._curves["d"].getData()
    np.testing.assert_allclose(xs, 0.1 * np.arange(1, 51))
    plot.log.setChecked(True)  # "g" is negative: the axis stays linear rather than drop it
    assert not plot.plot.getPlotItem().ctrl.logYCheck.isChecked()
    plot.clear()
    assert len(plot) == 0 and plot._curves == {}
    plot.add(1, {"loss": 0.5})
    plot.redraw()
    assert plot.plot.getPlotItem().ctrl.logYCheck.isChecked()  # all positive: log as asked


def test_held_out_measures_on_their_own_axis(qtbot):
    plot = LossCurve()
    qtbot.addWidget(plot)
    for step in range(1, 21):
        metrics = {"validation accuracy": 0.5 + step / 50} if step % 5 == 0 else None
        plot.add(step, {"loss": 1.0 / step}, elapsed=0.5 * step, metrics=metrics)
    plot.smoothing.setValue(0.9)  # smooths the losses only
    plot.log.setChecked(True)
    plot.redraw()
    assert set(plot.series) == {"loss"} and set(plot.metrics) == {"validation accuracy"}
    xs, ys = plot._metric_curves["validation accuracy"].getData()
    np.testing.assert_allclose(xs, [5, 10, 15, 20])
    np.testing.assert_allclose(ys, [0.6, 0.7, 0.8, 0.9])  # raw values, on a linear axis
    item = plot.plot.getPlotItem()
    assert item.getAxis("right").isVisible() and plot._metric_curves["validation accuracy"] in plot._right.addedItems
    assert "validation accuracy" in [label.text for _, label in plot.legend.items]
    plot.x_axis.setCurrentText("seconds")
    np.testing.assert_allclose(plot._metric_curves["validation accuracy"].getData()[0], [2.5, 5.0, 7.5, 10.0])
    plot.clear()
    assert plot.metrics == {} and plot._right.addedItems == [] and not item.getAxis("right").isVisible()
