"""Tests for app.widgets.training_plots: live loss/learning-rate curves and figures."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from app.widgets import training_plots
from app.widgets.training_plots import TrainingPlots, format_duration
from pn2v_engine import History, TrainProgress


@pytest.fixture
def plots(qtbot) -> TrainingPlots:
    widget = TrainingPlots()
    qtbot.addWidget(widget)
    return widget


def _run(
    epochs: int = 3,
    steps: int = 4,
    every: int = 1,
    loss: float = 2.0,
    done: int | None = None,
) -> list[TrainProgress]:
    """Reports as iter_train yields them: every ``every``-th step and each epoch's last."""
    reports = []
    total = epochs * steps
    for epoch in range(1, (done or epochs) + 1):
        for step in range(1, steps + 1):
            n = (epoch - 1) * steps + step
            last = step == steps
            if not (last or step % every == 0):
                continue
            reports.append(
                TrainProgress(
                    epoch=epoch,
                    epochs=epochs,
                    step=step,
                    steps_per_epoch=steps,
                    train_loss=loss - 0.1 * n,
                    val_loss=None if epoch == 1 and not last else loss - 0.1 * steps * epoch,
                    learning_rate=1e-3 * (1 + math.cos(math.pi * n / total)) / 2,
                    steps_per_s=2.5,
                    elapsed_s=n * 0.4,
                    eta_s=(total - n) * 0.4,
                    epoch_finished=last,
                )
            )
    return reports


def _feed(plots: TrainingPlots, reports: list) -> None:
    for report in reports:
        plots.add_progress(report)


def _log_y(plot) -> bool:
    return plot.getAxis("left").logMode


def test_curves_redraw_at_most_once_a_second_but_at_every_epoch_end(
    plots: TrainingPlots,
) -> None:
    reports = _run(epochs=2, steps=4)
    _feed(plots, reports[:3])  # the first report draws; the next ones come too soon
    np.testing.assert_allclose(plots.train_curve.xData, [0.25])
    _feed(plots, reports[3:4])  # epoch end
    np.testing.assert_allclose(plots.train_curve.xData, [1.0])
    np.testing.assert_allclose(plots.val_curve.xData, [1.0])


def test_training_loss_has_a_point_per_epoch_and_one_that_follows_the_running_epoch(
    plots: TrainingPlots, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training_plots, "REDRAW_INTERVAL_S", 0.0)
    reports = _run(epochs=3, steps=4)
    _feed(plots, reports[:6])  # epoch 1 and half of epoch 2
    np.testing.assert_allclose(plots.train_curve.xData, [1.0, 1.5])
    np.testing.assert_allclose(
        plots.train_curve.yData, [reports[3].train_loss, reports[5].train_loss]
    )
    _feed(plots, reports[6:])
    np.testing.assert_allclose(plots.train_curve.xData, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(plots.train_curve.yData, [reports[i].train_loss for i in (3, 7, 11)])
    # validation only at the epoch ends, though mid-epoch reports carry the last one too
    np.testing.assert_array_equal(plots.val_curve.xData, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(plots.val_curve.yData, [1.6, 1.2, 0.8])
    # the cosine's final rate of 0 cannot go on the log axis
    assert reports[-1].learning_rate == pytest.approx(0.0)
    assert len(plots.lr_curve.xData) == 11
    assert np.all(plots.lr_curve.yData > 0)
    assert _log_y(plots.lr_plot)


def test_throttled_reports_and_a_long_run(plots: TrainingPlots) -> None:
    reports = _run(epochs=40, steps=50, every=7)
    _feed(plots, reports)  # more points than the first buffer holds
    assert len(reports) == 40 * 8
    assert len(plots.lr_curve.xData) == len(reports) - 1  # buffer outgrown; final rate 0 left out
    assert len(plots.val_curve.xData) == 40
    x = plots.train_curve.xData
    assert np.array_equal(x, np.arange(1, 41))


def test_labels(plots: TrainingPlots) -> None:
    _feed(plots, _run(epochs=3, steps=4, done=2))
    assert plots.epoch_label.text() == "Epoch 2/3"
    assert plots.step_label.text() == "Step 4/4"
    assert plots.speed_label.text() == "Speed 2.5 steps/s"
    assert plots.elapsed_label.text() == "Elapsed 0:00:03"
    assert plots.remaining_label.text() == "Remaining 0:00:02"
    assert plots.best_label.text() == "Best val. loss 1.2"
    plots.add_progress(
        SimpleNamespace(  # anything with TrainProgress's attributes
            epoch=3,
            epochs=3,
            step=1,
            steps_per_epoch=4,
            train_loss=0.5,
            val_loss=1.2,
            learning_rate=1e-4,
            steps_per_s=0.01,
            elapsed_s=3725.4,
            eta_s=math.inf,
            epoch_finished=False,
        )
    )
    assert plots.elapsed_label.text() == "Elapsed 1:02:05"
    assert plots.remaining_label.text() == "Remaining —"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0:00:00"),
        (59.6, "0:01:00"),
        (3725, "1:02:05"),
        (36_000 + 61, "10:01:01"),
        (math.inf, "—"),
        (math.nan, "—"),
        (-1, "—"),
        (None, "—"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_log_scale_toggles_the_loss_axis(plots: TrainingPlots) -> None:
    _feed(plots, _run(loss=5.0))
    assert plots.log_scale.isEnabled() and not _log_y(plots.loss_plot)
    plots.log_scale.setChecked(True)
    assert _log_y(plots.loss_plot)
    plots.log_scale.setChecked(False)
    assert not _log_y(plots.loss_plot)


def test_negative_losses_disable_the_log_scale(plots: TrainingPlots) -> None:
    plots.log_scale.setChecked(True)
    _feed(plots, _run(loss=1.0))  # PN2V: a negative log-likelihood goes below zero
    assert not plots.log_scale.isEnabled() and not plots.log_scale.isChecked()
    assert not _log_y(plots.loss_plot)
    assert "negative" in plots.log_scale.toolTip()
    assert np.min(plots.train_curve.yData) < 0  # plotted as they are
    plots.clear()
    assert plots.log_scale.isEnabled() and "negative" not in plots.log_scale.toolTip()


def test_set_history_draws_a_finished_run(plots: TrainingPlots) -> None:
    _feed(plots, _run())
    history = History(
        epoch=[1, 2, 3, 4, 5],
        train_loss=[3.0, 2.0, 1.5, 1.2, 1.1],
        val_loss=[3.1, 2.2, 1.4, 1.3, 1.35],
        learning_rate=[1e-3, 8e-4, 5e-4, 2e-4, 0.0],
        elapsed_s=[60.0, 120.0, 180.0, 240.0, 4000.0],
    )
    plots.set_history(history, epochs=8)
    np.testing.assert_array_equal(plots.train_curve.xData, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(plots.train_curve.yData, history.train_loss)
    np.testing.assert_array_equal(plots.val_curve.yData, history.val_loss)
    np.testing.assert_array_equal(plots.lr_curve.xData, [1, 2, 3, 4])
    assert plots.epoch_label.text() == "Epoch 5/8"
    assert plots.elapsed_label.text() == "Elapsed 1:06:40"
    assert plots.best_label.text() == "Best val. loss 1.3"
    assert plots.step_label.text() == "Step —"
    assert plots.log_scale.isEnabled()
    # a resumed run goes on from the history
    plots.add_progress(_run(epochs=8, steps=4, done=6)[-1])
    np.testing.assert_array_equal(plots.train_curve.xData, [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(plots.val_curve.xData, [1, 2, 3, 4, 5, 6])
    plots.set_history(History.from_dict({**history.to_dict(), "val_loss": [-1.0] * 5}))
    assert plots.epoch_label.text() == "Epoch 5/5"
    assert not plots.log_scale.isEnabled()


def test_clear_and_an_empty_history(plots: TrainingPlots) -> None:
    _feed(plots, _run())
    plots.clear()
    for curve in (plots.train_curve, plots.val_curve, plots.lr_curve):
        assert curve.xData is None or len(curve.xData) == 0
    assert plots.epoch_label.text() == "Epoch —"
    assert plots.best_label.text() == "Best val. loss —"
    plots.set_history(History())
    assert plots.best_label.text() == "Best val. loss —"
    _feed(plots, _run(epochs=1))  # usable again after clearing
    assert len(plots.val_curve.xData) == 1


def test_renders(plots: TrainingPlots, qtbot, tmp_path) -> None:
    plots.resize(900, 560)
    plots.show()
    qtbot.waitExposed(plots)
    _feed(plots, _run(epochs=20, steps=50, every=5, loss=4.0, done=12))
    image = plots.grab().toImage()
    assert image.width() == 900 and image.height() == 560
    assert plots.grab().save(str(tmp_path / "training_plots.png"))
