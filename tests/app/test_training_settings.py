"""TrainingSettingsForm: presets, custom values validated by the engine, devices."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QVBoxLayout, QWidget

import pn2v_engine as engine
from app.widgets.training_settings import TrainingSettingsForm


@pytest.fixture
def form(qtbot) -> Iterator[TrainingSettingsForm]:
    """The form on the cpu preset, with its error label placed under it as a page does."""
    container = QWidget()
    qtbot.addWidget(container)
    widget = TrainingSettingsForm(engine.preset("cpu"))
    layout = QVBoxLayout(container)
    layout.addWidget(widget)
    layout.addWidget(widget.error_label)
    yield widget


def record(signal) -> list:
    received: list = []
    signal.connect(received.append)
    return received


def choose(combo, data: str) -> None:
    """Pick an item of a combo box as a user does (``activated`` follows)."""
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def presets(form: TrainingSettingsForm) -> list[str]:
    combo = form.preset_combo
    return [combo.itemData(i) for i in range(combo.count())]


def test_choosing_a_preset_shows_and_emits_its_values(form: TrainingSettingsForm) -> None:
    edited = record(form.settings_edited)
    assert presets(form) == ["cpu", "paper", "custom"]
    assert not form.custom_box.isEnabled() and not form.custom_note.isHidden()

    choose(form.preset_combo, "paper")
    assert edited == [engine.preset("paper")] and form.settings == engine.preset("paper")
    assert (form.samples_spin.value(), form.depth_spin.value()) == (800, 3)
    assert (form.patch_spin.value(), form.batch_spin.value()) == (100, 80)
    assert form.rate_spin.text() == "0.0001"

    choose(form.preset_combo, "custom")  # Custom starts from the values shown
    assert edited[-1] == engine.preset("paper").with_changes(preset="custom")
    assert form.custom_box.isEnabled() and form.custom_note.isHidden()
    choose(form.preset_combo, "custom")  # nothing new: no signal
    assert len(edited) == 2


def test_custom_values_are_validated_before_they_are_emitted(
    form: TrainingSettingsForm,
) -> None:
    choose(form.preset_combo, "custom")
    edited, errors = record(form.settings_edited), record(form.error_changed)
    form.epochs_spin.setValue(7)
    form.val_spin.setValue(25)
    form.rate_spin.stepBy(-1)  # 1e-3 -> 5e-4 on the 1-2-5 ladder
    assert form.bright_spin.value() == pytest.approx(80)  # the cpu preset's share
    form.bright_spin.setValue(0)
    assert [s.training.epochs for s in edited] == [7, 7, 7, 7]
    assert edited[-1].training.val_fraction == pytest.approx(0.25)
    assert edited[-1].training.bright_patches == 0.0
    assert edited[-1].training.learning_rate == pytest.approx(5e-4)
    assert form.settings is edited[-1] and errors == []

    # depth 4 needs a patch size that is a multiple of 8: refused by the engine
    patch = form.settings.training.patch_size
    form.patch_spin.setValue(60)
    form.depth_spin.setValue(4)
    assert len(edited) == 5  # the patch of 60 (fine at depth 3), not the depth
    assert not form.error_label.isHidden()
    assert "multiple of 8" in form.error and form.error_label.text() == form.error
    assert errors == [form.error]
    assert form.settings.network.depth == 3

    form.patch_spin.setValue(patch)  # a multiple of 8 again
    assert errors[-1] == "" and form.error == "" and form.error_label.isHidden()
    assert (edited[-1].network.depth, edited[-1].training.patch_size) == (4, patch)


def test_the_arithmetic_is_chosen_in_custom_settings(form: TrainingSettingsForm) -> None:
    assert form.precision_combo.currentData() == engine.preset("cpu").network.precision
    assert "bfloat16" in form.precision_combo.toolTip()
    choose(form.preset_combo, "custom")
    edited = record(form.settings_edited)
    for key in ("bfloat16", "float32", "auto"):
        form.precision_combo.setCurrentIndex(form.precision_combo.findData(key))
        assert edited[-1].network.precision == key and form.settings is edited[-1]
    assert len(edited) == 3
    form.set_settings(engine.preset("cpu").with_changes(**{"network.precision": "float32"}))
    assert form.precision_combo.currentText() == "float32" and len(edited) == 3


def test_set_settings_reflects_without_signals(form: TrainingSettingsForm) -> None:
    edited, errors = record(form.settings_edited), record(form.error_changed)
    custom = engine.preset("cpu").with_changes(**{"preset": "custom", "training.epochs": 9})
    form.set_settings(custom)
    assert form.preset_combo.currentData() == "custom" and form.epochs_spin.value() == 9
    assert form.custom_box.isEnabled()

    form.patch_spin.setValue(62)  # depth 3 needs a multiple of 4
    assert form.error and len(errors) == 1
    form.set_settings(custom)  # the same object: the user's values and the error stay
    assert form.patch_spin.value() == 62 and form.error
    form.set_settings(engine.preset("paper"))
    assert form.preset_combo.currentData() == "paper" and form.patch_spin.value() == 100
    assert form.bright_spin.value() == 0  # the paper draws its patches anywhere
    assert form.error == "" and form.error_label.isHidden()
    assert not form.custom_box.isEnabled()
    assert edited == [] and len(errors) == 1


def test_the_demo_preset_is_offered_while_the_project_is_the_demo(
    form: TrainingSettingsForm,
) -> None:
    demo = engine.preset("cpu").with_changes(**{"preset": "demo", "training.epochs": 8})
    form.set_settings(demo, demo_project=True)
    assert presets(form) == ["demo", "cpu", "paper", "custom"]
    assert form.preset_combo.currentText() == "Demo (short)"
    assert not form.custom_box.isEnabled()

    edited = record(form.settings_edited)
    choose(form.preset_combo, "cpu")
    choose(form.preset_combo, "demo")
    assert edited == [engine.preset("cpu"), demo]

    form.set_settings(engine.preset("cpu"))  # another project
    assert presets(form) == ["cpu", "paper", "custom"]


def test_patch_problem_compares_the_patch_with_the_smallest_image(
    form: TrainingSettingsForm,
) -> None:
    patch = form.settings.training.patch_size
    assert form.patch_problem == ""  # images unknown
    form.set_smallest_image((patch, patch + 10))
    assert form.patch_problem == ""
    form.set_smallest_image((patch - 1, 300))
    assert form.patch_problem == (
        f"The patch size ({patch}) is larger than the smallest image "
        f"(300×{patch - 1} pixels): choose Custom and lower Patch size."
    )
    form.set_smallest_image(None)
    assert form.patch_problem == ""


def test_devices(form: TrainingSettingsForm) -> None:
    combo = form.device_combo
    form.set_devices([], "auto")
    assert combo.count() == 1 and combo.currentText() == "Automatic (detecting devices…)"
    assert form.device == "auto"

    chosen = record(form.device_chosen)
    devices = [("auto", "Automatic: GPU"), ("cpu", "CPU"), ("cuda:0", "GPU 0")]
    form.set_devices(devices, "cuda:0")
    assert form.device == "cuda:0" and chosen == []
    choose(combo, "cpu")
    assert chosen == ["cpu"] and form.device == "cpu"
    form.set_devices(devices, "gone")  # not offered: the first
    assert form.device == "auto"
