"""DenoisePage: queue by drop or buttons, batches, failures, cancel, options, demo PSNR."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QMessageBox

import pn2v_engine as engine
from app.pages.denoise import DenoisePage
from app.pages.denoise_jobs import RESULT_SUFFIXES, is_pn2v_result
from app.state import DemoInfo
from app.widgets.queue_table import Column, Status
from app.workers import Job

SIZE = 64
GAIN, READ_NOISE = 2.0, 5.0
TINY = {
    "network.depth": 2,
    "network.features": 8,
    "network.n_samples": 16,
    "training.patch_size": 32,
    "training.batch_size": 4,
    "training.epochs": 1,
    "training.steps_per_epoch": 2,
    "training.val_patches": 4,
    "preset": "custom",
}


def _signal(seed: int) -> np.ndarray:
    """Blurry blobs on a dim background, 150 to about 900 ADU."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    signal = np.full((SIZE, SIZE), 150.0)
    for _ in range(6):
        cy, cx = rng.uniform(0, SIZE, 2)
        signal += 600 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(3, 8) ** 2))
    return signal


def _noisy(signal: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    values = rng.poisson(signal / GAIN) * GAIN + rng.normal(0, READ_NOISE, signal.shape)
    return np.clip(np.round(values), 0, 65535).astype(np.uint16)


def _write(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, _noisy(_signal(seed), seed))
    return path


@pytest.fixture(scope="module")
def trained() -> tuple[Any, Any]:
    """A noise model from a Poisson-Gaussian ramp and a network trained for two steps."""
    ramp = np.tile(np.linspace(50.0, 1200.0, SIZE), (SIZE, 1))
    noise_model = engine.histogram_from_pairs(
        [ramp] * 8, [_noisy(ramp, seed) for seed in range(8)], bins=64
    )
    images = [_noisy(_signal(seed), seed).astype(np.float32) for seed in range(3)]
    settings = engine.preset("cpu").with_changes(**TINY)
    result = engine.run_train(images, noise_model, settings, device="cpu")
    return noise_model, result


@pytest.fixture
def page(context, qtbot, trained) -> DenoisePage:
    noise_model, result = trained
    context.state.noise_model = noise_model
    context.state.set_training(result)
    widget = DenoisePage(context)
    qtbot.addWidget(widget)
    widget.resize(1280, 840)
    return widget


def _run(page: DenoisePage, qtbot, timeout: int = 30_000) -> None:
    """Press Start and wait until the batch's job has finished."""
    assert page.start_button.isEnabled(), page.start_button.toolTip()
    page.start_button.click()
    assert page.running
    qtbot.waitUntil(lambda: not page.running, timeout=timeout)


def _statuses(page: DenoisePage) -> dict[str, Status]:
    return {row.source.name: row.status for row in page.model.rows()}


def _text(page: DenoisePage, position: int, column: Column) -> str:
    return page.model.index(position, column).data()


def _drop(widget, paths: list[Path]) -> None:
    """Drag ``paths`` onto ``widget`` and drop them (Qt delivers a drop after an accepted enter)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    action, button = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton
    modifiers = Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(10, 10), action, mime, button, modifiers)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(widget, QDropEvent(QPointF(10, 10), action, mime, button, modifiers))


def _snapshot(paths: list[Path]) -> dict[Path, tuple[bytes, int]]:
    return {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in paths}


def _no_error_box(context) -> bool:
    return not [box for box in context.window.findChildren(QMessageBox) if box.isVisible()]


def test_untrained_project_blocks_start(context, qtbot, tmp_path: Path) -> None:
    page = DenoisePage(context)
    qtbot.addWidget(page)
    page.add_paths([_write(tmp_path / "a.tif", 0)])
    assert not page.untrained_box.isHidden()
    assert not page.start_button.isEnabled()
    with qtbot.waitSignal(context.go_to_step) as blocker:
        page.train_button.click()
    assert blocker.args == [2]
    page.start()  # ignored
    assert not page.running


def test_files_and_dropped_folder_are_denoised_into_a_new_folder(
    page: DenoisePage, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [
        _write(tmp_path / "loose" / name, seed) for seed, name in enumerate(["a.tif", "b.tif"])
    ]
    folder = tmp_path / "plate"
    nested = [_write(folder / "c.tif", 2), _write(folder / "well2" / "d.tif", 3)]
    inputs = _snapshot(files + nested)
    monkeypatch.setattr(
        QFileDialog, "getOpenFileNames", lambda *args: ([str(path) for path in files], "")
    )
    page.queue.add_files_button.click()
    _drop(page.drop_zone, [folder])
    assert [row.source.name for row in page.model.rows()] == ["a.tif", "b.tif", "c.tif", "d.tif"]
    assert _text(page, 0, Column.SHAPE) == "—"
    assert page.findChild(QLabel, "pageTitle").text() == "Denoise"

    _run(page, qtbot)

    assert set(_statuses(page).values()) == {Status.DONE}
    out = tmp_path / "loose_pn2v"  # the loose files' folder, not the first file, names it
    expected = [
        out / "a_pn2v.tif",
        out / "b_pn2v.tif",
        out / "c_pn2v.tif",
        out / "well2" / "d_pn2v.tif",
    ]
    assert [row.outputs[0] for row in page.model.rows()] == [p.resolve() for p in expected]
    for path in expected:
        assert tifffile.imread(path).dtype == np.float32
    assert sorted(p.name for p in out.rglob("*")) == sorted(
        ["a_pn2v.tif", "b_pn2v.tif", "c_pn2v.tif", "well2", "d_pn2v.tif"]
    )
    assert _snapshot(files + nested) == inputs
    assert _text(page, 3, Column.SHAPE) == f"{SIZE} × {SIZE}"
    assert _text(page, 0, Column.OUTPUT) == "a_pn2v.tif"
    assert re.fullmatch(
        rf"Denoised 4 files into {re.escape(str(out))} in \d+ s\.", page.status_label.text()
    )
    assert page.queue.table.isColumnHidden(Column.PSNR)


def test_bad_files_fail_their_own_rows(page: DenoisePage, qtbot, tmp_path: Path) -> None:
    good = _write(tmp_path / "in" / "good.tif", 0)
    fake = tmp_path / "in" / "notes.tif"
    fake.write_text("this is not an image")
    rgb = tmp_path / "in" / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((SIZE, SIZE, 3), np.uint8), photometric="rgb")
    late = _write(tmp_path / "in" / "zlate.tif", 1)
    page.add_paths([tmp_path / "in"])
    gone = _write(tmp_path / "gone.tif", 2)
    page.add_paths([gone])
    gone.unlink()  # moved away after it was queued
    page.add_paths([tmp_path / "readme.txt"])  # missing and not an image: refused at once
    assert not page.queue.message.isHidden()
    assert "readme.txt" in page.queue.message.text()

    _run(page, qtbot)

    statuses = _statuses(page)
    assert statuses == {
        "good.tif": Status.DONE,
        "notes.tif": Status.FAILED,
        "rgb.tif": Status.FAILED,
        "zlate.tif": Status.DONE,
        "gone.tif": Status.FAILED,
    }
    rows = {row.source.name: row for row in page.model.rows()}
    assert "not a TIFF or PNG" in rows["notes.tif"].reason
    assert "was not found" in rows["gone.tif"].reason
    assert rows["rgb.tif"].reason
    assert _text(page, 1, Column.STATUS).startswith("Failed: ")
    assert rows["rgb.tif"].hint in page.model.index(2, Column.STATUS).data(
        Qt.ItemDataRole.ToolTipRole
    )
    assert rows["zlate.tif"].outputs[0].is_file()
    assert good.is_file() and late.is_file()
    assert "Denoised 2 files (3 failed)" in page.status_label.text()
    assert _no_error_box(page.context)


def _gated(monkeypatch: pytest.MonkeyPatch, gate: Callable[[Any, Any], None]) -> None:
    """Make the batch call ``gate(job, cancel)`` before each file."""
    real = engine.iter_denoise_file

    def gated(denoiser, job, options, *, protect=(), cancel=None):
        gate(job, cancel)
        return (yield from real(denoiser, job, options, protect=protect, cancel=cancel))

    monkeypatch.setattr(engine, "iter_denoise_file", gated)


def test_cancel_marks_the_rest_cancelled_without_an_error(
    page: DenoisePage, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def hold_second(job: Any, cancel: Any) -> None:
        if job.source.name != "f0.tif":  # wait for Cancel (at most 10 s)
            for _ in range(1000):
                if cancel.cancelled:
                    return
                threading.Event().wait(0.01)

    _gated(monkeypatch, hold_second)
    page.add_paths([_write(tmp_path / "in" / f"f{i}.tif", i) for i in range(4)])
    page.start_button.click()
    qtbot.waitUntil(lambda: page.model.row(1).status == Status.RUNNING, timeout=20_000)
    assert page.cancel_button.isEnabled()
    page.cancel_button.click()
    qtbot.waitUntil(lambda: not page.running, timeout=20_000)

    assert [row.status for row in page.model.rows()] == [
        Status.DONE,
        Status.CANCELLED,
        Status.CANCELLED,
        Status.CANCELLED,
    ]
    assert page.status_label.text().startswith("Cancelled. Denoised 1 file into")
    assert _no_error_box(page.context)

    # the next Start runs the cancelled rows only, into a fresh folder
    monkeypatch.undo()
    _run(page, qtbot)
    rows = page.model.rows()
    assert {row.status for row in rows} == {Status.DONE}
    assert rows[0].outputs[0].parent != rows[1].outputs[0].parent


def test_options_write_uncertainty_and_prior_mean(page: DenoisePage, qtbot, tmp_path: Path) -> None:
    source = _write(tmp_path / "cells.tif", 0)
    page.add_paths([source])
    page.results.uncertainty_check.setChecked(True)
    page.results.prior_check.setChecked(True)
    page.results.dtype_combo.setCurrentIndex(page.results.dtype_combo.findData("input"))
    for widget in (
        page.results.uncertainty_check,
        page.results.prior_check,
        page.results.dtype_combo,
        page.results.output_edit,
    ):
        assert widget.toolTip()

    _run(page, qtbot)

    out = tmp_path / "cells_pn2v"
    names = {path.name for path in page.model.row(0).outputs}
    assert names == {"cells_pn2v.tif", "cells_pn2v_uncertainty.tif", "cells_pn2v_prior_mean.tif"}
    assert tifffile.imread(out / "cells_pn2v.tif").dtype == np.uint16
    assert tifffile.imread(out / "cells_pn2v_prior_mean.tif").dtype == np.uint16
    uncertainty = tifffile.imread(out / "cells_pn2v_uncertainty.tif")
    assert uncertainty.dtype == np.float32
    assert uncertainty.shape == (SIZE, SIZE) and np.all(uncertainty >= 0)


def test_four_rotations_average_the_turned_results(
    page: DenoisePage, qtbot, tmp_path: Path, trained
) -> None:
    source = _write(tmp_path / "cells.tif", 4)
    page.add_paths([source])
    combo = page.results.passes_combo
    assert combo.currentData() == 1 and combo.toolTip()
    combo.setCurrentIndex(combo.findData(4))
    assert page.results.options().orientations == 4

    _run(page, qtbot)

    written = tifffile.imread(tmp_path / "cells_pn2v" / "cells_pn2v.tif")
    noise_model, result = trained
    denoiser = engine.Denoiser(
        result.settings, result.best_weights, result.normalisation, noise_model, "cpu"
    )
    pixels = tifffile.imread(source).astype(np.float32)
    np.testing.assert_allclose(
        written, engine.run_predict(denoiser, pixels, orientations=4).mmse, atol=1e-3
    )
    assert np.abs(written - engine.run_predict(denoiser, pixels).mmse).max() > 1e-2


def test_the_bootstraps_noise2void_network_is_offered_and_averaged_in(
    page: DenoisePage, context, qtbot, tmp_path: Path, trained
) -> None:
    from pn2v_engine.bootstrap import n2v_settings, source_network

    check = page.results.n2v_check
    assert check.isHidden() and page.results.n2v_share() is None  # a calibrated model
    noise_model, result = trained
    images = [_noisy(_signal(seed), seed).astype(np.float32) for seed in range(3)]
    n2v = engine.run_train(images, None, n2v_settings(result.settings), device="cpu")
    bootstrapped = engine.HistogramNoiseModel(
        noise_model.density, noise_model.low, noise_model.high
    )
    bootstrapped.source_network = source_network(n2v)
    context.state.set_noise_model(bootstrapped, [])
    assert not check.isHidden() and check.isChecked() and check.toolTip()
    assert result.settings.prediction.n2v_share == page.results.n2v_share() == 0.5
    source = _write(tmp_path / "cells.tif", 4)
    pixels = tifffile.imread(source).astype(np.float32)
    expected = {}
    for share in (0.5, 0.0):
        denoiser = engine.Denoiser(
            result.settings, result.best_weights, result.normalisation, bootstrapped, "cpu", share
        )
        expected[share] = engine.run_predict(denoiser, pixels).mmse
    assert np.abs(expected[0.5] - expected[0.0]).max() > 1e-2
    page.add_paths([source])
    _run(page, qtbot)
    written = tifffile.imread(tmp_path / "cells_pn2v" / "cells_pn2v.tif")
    np.testing.assert_allclose(written, expected[0.5], atol=1e-3)
    check.setChecked(False)
    assert page.results.n2v_share() == 0.0
    page.queue.table.selectRow(0)
    page.queue.requeue_button.click()
    _run(page, qtbot)
    alone = tifffile.imread(tmp_path / "cells_pn2v_2" / "cells_pn2v.tif")
    np.testing.assert_allclose(alone, expected[0.0], atol=1e-3)
    context.state.set_noise_model(noise_model, [])
    assert check.isHidden()


def test_output_folder_holding_inputs_is_refused_inline(
    page: DenoisePage, qtbot, tmp_path: Path
) -> None:
    source = _write(tmp_path / "a.tif", 0)
    before = sorted(tmp_path.iterdir())
    page.add_paths([source])
    page.results.output_edit.setText(str(tmp_path))
    page.start_button.click()
    assert not page.running
    assert not page.results.output_message.isHidden()
    assert "holds the input a.tif" in page.results.output_message.text()
    assert page.model.row(0).status == Status.QUEUED
    assert sorted(tmp_path.iterdir()) == before

    page.results.output_edit.setText("results")  # relative: where would that be?
    page.start_button.click()
    assert not page.running
    assert "full path" in page.results.output_message.text()

    page.results.output_edit.setText(str(tmp_path / "results"))  # typing hides the message
    assert page.results.output_message.isHidden()
    _run(page, qtbot)
    assert (tmp_path / "results" / "a_pn2v.tif").is_file()


def test_demo_ground_truth_gives_psnr(
    page: DenoisePage, qtbot, tmp_path: Path, trained: tuple[Any, Any]
) -> None:
    images = [_write(tmp_path / "images" / f"cells_0{i}.tif", i) for i in (1, 2)]
    truths = []
    for i in (1, 2):
        truth = tmp_path / "ground_truth" / f"cells_0{i}.tif"
        truth.parent.mkdir(exist_ok=True)
        tifffile.imwrite(truth, _signal(i).astype(np.float32))
        truths.append(truth)
    demo = DemoInfo(tmp_path, tmp_path / "cal.tif", images, dict(zip(images, truths, strict=True)))
    state = page.context.state
    state.load_demo(demo, state.settings)  # resets the project: train it again
    assert [row.source for row in page.model.rows()] == images
    assert not page.queue.table.isColumnHidden(Column.PSNR)
    noise_model, result = trained
    state.noise_model = noise_model
    state.set_training(result)

    _run(page, qtbot)

    for position, (image, truth) in enumerate(zip(images, truths, strict=True)):
        text = _text(page, position, Column.PSNR)
        match = re.fullmatch(r"(\d+\.\d) → (\d+\.\d)", text)
        assert match, text
        expected = engine.psnr(tifffile.imread(truth), tifffile.imread(image).astype(np.float32))
        assert float(match.group(1)) == pytest.approx(expected, abs=0.05)
    gains = [row.gain for row in page.model.rows()]
    assert re.fullmatch(r"<b>Mean gain [+-]\d+\.\d dB</b> in PSNR .*", page.summary_label.text())
    assert f"{np.mean(gains):+.1f}" in page.summary_label.text()
    assert not page.summary_label.isHidden()


def test_batch_after_batch_keeps_earlier_results(page: DenoisePage, qtbot, tmp_path: Path) -> None:
    first = [_write(tmp_path / "data" / f"{name}.tif", i) for i, name in enumerate("ab")]
    page.add_paths(first)
    _run(page, qtbot)
    first_out = tmp_path / "data_pn2v"
    results = _snapshot(sorted(first_out.iterdir()))
    assert len(results) == 2

    page.add_paths([_write(tmp_path / "data" / f"{name}.tif", 5) for name in "cd"])
    assert page.model.rowCount() == 4
    _run(page, qtbot)
    second_out = tmp_path / "data_pn2v_2"
    assert sorted(p.name for p in second_out.iterdir()) == ["c_pn2v.tif", "d_pn2v.tif"]
    assert _snapshot(sorted(first_out.iterdir())) == results  # a and b did not run again
    assert f"Denoised 2 files into {second_out}" in page.status_label.text()

    assert not page.start_button.isEnabled()  # nothing left to run
    page.queue.table.selectRow(0)
    page.queue.requeue_button.click()
    assert page.model.row(0).status == Status.QUEUED
    _run(page, qtbot)
    assert sorted(p.name for p in (tmp_path / "data" / "a_pn2v").iterdir()) == ["a_pn2v.tif"]
    assert _snapshot(sorted(first_out.iterdir())) == results


def test_viewer_compares_the_selected_row_and_opens_its_folder(
    page: DenoisePage, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page.add_paths([_write(tmp_path / "in" / f"{name}.tif", i) for i, name in enumerate("ab")])
    assert not page.viewer.open_button.isEnabled()
    _run(page, qtbot)

    # the first finished row is shown without being asked
    qtbot.waitUntil(lambda: page.viewer.compare.before_view.image is not None, timeout=10_000)
    page.queue.table.selectRow(1)
    assert "preview" in [job.name for job in Job.running()]
    assert not page.context.busy  # reading a result is a background job
    row = page.model.row(1)
    expected = tifffile.imread(row.outputs[0])
    qtbot.waitUntil(
        lambda: np.array_equal(page.viewer.compare.after_view.image[0], expected), timeout=10_000
    )
    assert np.array_equal(page.viewer.compare.before_view.image[0], tifffile.imread(row.source))
    assert "b.tif" in page.viewer.compare.before_view.title

    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    assert page.viewer.open_button.isEnabled()
    page.viewer.open_button.click()
    assert [Path(url.toLocalFile()) for url in opened] == [row.outputs[0].parent]

    page.queue.remove_button.click()  # removes the selected row
    assert [r.source.name for r in page.model.rows()] == ["a.tif"]
    page.queue.clear_button.click()
    assert page.model.rowCount() == 0 and not page.queue.placeholder.isHidden()


def test_out_of_memory_stops_the_batch_with_an_error_box(
    page: DenoisePage, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_memory(job: Any, cancel: Any) -> None:
        raise engine.ResourceError("Out of memory on cpu.", "Choose a smaller tile size.")

    _gated(monkeypatch, out_of_memory)
    shown: list[Any] = []
    monkeypatch.setattr(page.context, "error", lambda title, info: shown.append(info))
    page.add_paths([_write(tmp_path / "in" / f"{name}.tif", i) for i, name in enumerate("ab")])
    _run(page, qtbot)
    assert [info.message for info in shown] == ["Out of memory on cpu."]
    assert [row.status for row in page.model.rows()] == [Status.FAILED, Status.QUEUED]
    assert page.status_label.text().startswith("Stopped: Out of memory")


def test_dropped_folder_skips_earlier_results(page: DenoisePage, qtbot, tmp_path: Path) -> None:
    data = tmp_path / "data"
    a, b = _write(data / "a.tif", 0), _write(data / "b.tif", 1)
    page.add_paths([a])  # one file: its results go into data/a_pn2v
    page.results.uncertainty_check.setChecked(True)
    page.results.prior_check.setChecked(True)
    _run(page, qtbot)
    results = sorted((data / "a_pn2v").iterdir())
    assert len(results) == 3 and all(is_pn2v_result(path) for path in results)

    page.queue.clear_button.click()
    page.results.uncertainty_check.setChecked(False)
    page.results.prior_check.setChecked(False)
    _drop(page.drop_zone, [data])
    assert [row.source for row in page.model.rows()] == [a, b]
    message = page.queue.message
    assert not message.isHidden() and message.objectName() == "note"
    where = Path("data", "a_pn2v")
    assert message.text().startswith(f"Skipped 3 earlier PN2V results in {where}.")
    _run(page, qtbot)
    assert sorted(p.name for p in (tmp_path / "data_pn2v").rglob("*")) == [
        "a_pn2v.tif",
        "b_pn2v.tif",
    ]

    assert page.add_paths([results[0]]) == 1  # a result named on its own is taken
    assert message.isHidden()
    page.add_paths([data / "a_pn2v", tmp_path / "notes.txt"])
    assert message.objectName() == "errorText"
    assert "notes.txt" in message.text()
    assert "Skipped 3 earlier PN2V results in a_pn2v." in message.text()


def test_result_names_are_the_engines() -> None:
    from pn2v_engine import batch

    assert RESULT_SUFFIXES == (batch.SUFFIX_MMSE, batch.SUFFIX_STD, batch.SUFFIX_PRIOR)
    assert is_pn2v_result(Path("cells_2_pn2v_uncertainty.tif"))
    assert is_pn2v_result(Path("cells_pn2v_prior_mean.TIF"))
    assert not is_pn2v_result(Path("cells_pn2v.png"))  # results are always TIFF
    assert not is_pn2v_result(Path("pn2v.tif"))
    assert not is_pn2v_result(Path("cells_pn2v_old.tif"))
