"""The Train page's settings: a preset or custom values, and the device to train on.

The custom values are spin boxes built from the bounds and descriptions of the
engine's pydantic settings; the engine validates every combination (a patch
size the U-Net cannot halve, a batch that ``accumulate`` does not divide), and
one it refuses is shown in red and goes no further.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

import pn2v_engine as engine

if TYPE_CHECKING:
    from pn2v_engine import Settings

PRESETS = {
    "cpu": "CPU quick (minutes)",
    "paper": "Paper (GPU)",
    "demo": "Demo (short)",
    "custom": "Custom",
}
PRESET_TIP = (
    "CPU quick: a small network that trains in minutes on a laptop.\n"
    "Paper: the settings of the PN2V paper; they need a GPU (hours on a CPU).\n"
    "Custom: start from the values shown and change them below."
)
#: ``network.precision`` values and how the form names them.
PRECISIONS = {
    "float32": "float32",
    "bfloat16": "bfloat16",
    "auto": "Automatic",
}
#: What the device list offers before the devices are known.
DETECTING = [("auto", "Automatic (detecting devices…)")]


def _bounds(model: Any, name: str, step: float) -> tuple[float, float]:
    """The (low, high) a spin box allows for a pydantic field; ``step`` inside open bounds."""
    low, high = 0.0, 1e9
    for rule in model.model_fields[name].metadata:
        if getattr(rule, "ge", None) is not None:
            low = rule.ge
        elif getattr(rule, "gt", None) is not None:
            low = rule.gt + step
        elif getattr(rule, "le", None) is not None:
            high = rule.le
        elif getattr(rule, "lt", None) is not None:
            high = rule.lt - step
    return low, high


def _tip(model: Any, name: str, extra: str = "") -> str:
    description = model.model_fields[name].description or ""
    return " ".join(part for part in (description, extra) if part)


def _int_spin(model: Any, name: str, extra: str = "") -> QSpinBox:
    spin = QSpinBox()
    low, high = _bounds(model, name, 1)
    spin.setRange(int(low), int(min(high, 2**31 - 1)))
    spin.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
    spin.setToolTip(_tip(model, name, extra))
    spin.setKeyboardTracking(False)
    return spin


def _percent_spin(model: Any, name: str, extra: str = "") -> QDoubleSpinBox:
    """A spin box in percent for a pydantic field that holds a share (0-1)."""
    spin = QDoubleSpinBox()
    spin.setDecimals(1)
    spin.setSuffix(" %")
    spin.setSingleStep(10)
    spin.setRange(*(100 * v for v in _bounds(model, name, 0.001)))
    spin.setKeyboardTracking(False)
    spin.setToolTip(_tip(model, name, extra))
    return spin


def _one_two_five(value: float, up: bool) -> float:
    """The next value of the 1-2-5 series (…, 1e-4, 2e-4, 5e-4, 1e-3, …) above or below."""
    decade = math.floor(math.log10(value))
    ladder = [m * 10.0**d for d in range(decade - 1, decade + 2) for m in (1, 2, 5)]
    if up:
        return min(v for v in ladder if v > value * (1 + 1e-9))
    return max(v for v in ladder if v < value * (1 - 1e-9))


class LearningRateSpinBox(QDoubleSpinBox):
    """A rate in plain or scientific notation; the arrows step along 1, 2, 5, 10, …"""

    def __init__(self) -> None:
        super().__init__()
        self.setDecimals(6)

    def textFromValue(self, value: float) -> str:
        return f"{value:g}"

    def valueFromText(self, text: str) -> float:
        return float(text)

    def validate(self, text: str, position: int) -> tuple[QValidator.State, str, int]:
        try:
            value = float(text)
        except ValueError:
            return QValidator.State.Intermediate, text, position
        inside = self.minimum() <= value <= self.maximum()
        return (
            QValidator.State.Acceptable if inside else QValidator.State.Intermediate,
            text,
            position,
        )

    def stepBy(self, steps: int) -> None:
        value = self.value()
        for _ in range(abs(steps)):
            value = _one_two_five(value, steps > 0)
        self.setValue(min(max(value, self.minimum()), self.maximum()))


class TrainingSettingsForm(QGroupBox):
    """The "Settings" box: preset, device, and the values that Custom lets the user change.

    ``settings_edited(Settings)``: the user chose a preset or changed a custom value,
    and the result is valid and new. ``error_changed(str)``: the custom values shown
    cannot be used (why, in words), or can again (``""``); ``error_label`` shows it.
    It is not in the box: its owner places it (under the box's row, so that a wrapped
    line cannot squeeze the widgets beside the box). ``device_chosen(str)``: the user
    picked a device. Disable the form while training runs.
    """

    settings_edited = Signal(object)
    error_changed = Signal(str)
    device_chosen = Signal(str)

    def __init__(self, settings: Settings) -> None:
        super().__init__("Settings")
        self._settings = settings
        self._demo_settings: Settings | None = None
        self._demo_project = False
        self._error = ""
        self._smallest: tuple[int, int] | None = None

        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip(PRESET_TIP)
        for key in ("cpu", "paper", "custom"):
            self.preset_combo.addItem(PRESETS[key], key)
        self.preset_combo.activated.connect(self._preset_chosen)
        self.device_combo = QComboBox()
        self.device_combo.setToolTip(
            "Where the network trains. A GPU is many times faster; your choice is remembered."
        )
        self.device_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.device_combo.setMinimumContentsLength(16)
        self.device_combo.activated.connect(
            lambda index: self.device_chosen.emit(self.device_combo.itemData(index))
        )
        top = QFormLayout()
        top.setVerticalSpacing(6)
        for text, combo in (("Prese&t", self.preset_combo), ("Dev&ice", self.device_combo)):
            label = QLabel(text)
            label.setBuddy(combo)
            top.addRow(label, combo)

        self.error_label = QLabel()
        self.error_label.setObjectName("errorText")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.custom_note = QLabel("Choose the Custom preset to change these values.")
        self.custom_note.setObjectName("note")
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addLayout(top)
        layout.addWidget(self._build_custom_box())
        layout.addWidget(self.custom_note)
        layout.addStretch(1)
        self._show(settings)

    def _build_custom_box(self) -> QWidget:
        net, tr = engine.NetworkConfig, engine.TrainingConfig
        self.samples_spin = _int_spin(
            net, "n_samples", "More samples describe the signal better but cost memory and time."
        )
        self.depth_spin = _int_spin(
            net, "depth", "Patch size must be a multiple of 2^(depth - 1) (4 for depth 3)."
        )
        self.features_spin = _int_spin(net, "features", "More learn more but train slower.")
        self.patch_spin = _int_spin(tr, "patch_size", "At most the size of the smallest image.")
        self.patch_spin.setStepType(QAbstractSpinBox.StepType.DefaultStepType)
        self.patch_spin.setSingleStep(8)
        self.batch_spin = _int_spin(tr, "batch_size", "Larger batches need more memory.")
        self.epochs_spin = _int_spin(
            tr, "epochs", "Rounds of training; the validation loss is measured after each."
        )
        self.steps_spin = _int_spin(tr, "steps_per_epoch", "Optimisation steps in one epoch.")
        self.rate_spin = LearningRateSpinBox()
        self.rate_spin.setRange(*_bounds(tr, "learning_rate", 1e-6))
        self.rate_spin.setKeyboardTracking(False)
        self.rate_spin.setToolTip(
            "The optimiser's (Adam's) initial step size; too high diverges, too low learns "
            "slowly. The arrows step 1, 2, 5, 10, … (type e.g. 5e-4)."
        )
        self.val_spin = _percent_spin(tr, "val_fraction", "It measures the validation loss.")
        self.val_spin.setSingleStep(5)
        self.bright_spin = _percent_spin(
            tr,
            "bright_patches",
            "At 0 % every patch is drawn anywhere; for sparse, bright structures on a dark "
            "background keep most of them where the images are bright.",
        )

        self.precision_combo = QComboBox()
        for key, text in PRECISIONS.items():
            self.precision_combo.addItem(text, key)
        self.precision_combo.setToolTip(_tip(net, "precision"))

        network_form = QFormLayout()
        training_form = QFormLayout()
        for form in (network_form, training_form):
            form.setVerticalSpacing(6)
        rows = (
            (network_form, "&K samples", self.samples_spin),
            (network_form, "&Depth", self.depth_spin),
            (network_form, "&Features", self.features_spin),
            (network_form, "Patch si&ze", self.patch_spin),
            (network_form, "&Batch size", self.batch_spin),
            (network_form, "Arith&metic", self.precision_combo),
            (training_form, "&Epochs", self.epochs_spin),
            (training_form, "Steps pe&r epoch", self.steps_spin),
            (training_form, "&Learning rate", self.rate_spin),
            (training_form, "&Validation share", self.val_spin),
            (training_form, "Bri&ght patches", self.bright_spin),
        )
        for form, text, spin in rows:
            if isinstance(spin, QComboBox):
                spin.currentIndexChanged.connect(self._custom_edited)
            else:
                spin.valueChanged.connect(self._custom_edited)
            label = QLabel(text)
            label.setBuddy(spin)
            label.setToolTip(spin.toolTip())
            form.addRow(label, spin)
        self.custom_box = QWidget()
        self.custom_box.setToolTip("Choose the Custom preset to change these values.")
        forms = QHBoxLayout(self.custom_box)
        forms.setContentsMargins(0, 0, 0, 0)
        forms.setSpacing(24)
        forms.addLayout(network_form)
        forms.addLayout(training_form)
        forms.addStretch(1)
        return self.custom_box

    # -------------------------------------------------------------------- API
    @property
    def settings(self) -> Settings:
        """The valid settings shown (the last ones set or edited)."""
        return self._settings

    @property
    def error(self) -> str:
        """Why the custom values shown cannot be used; empty when they can."""
        return self._error

    @property
    def device(self) -> str:
        return self.device_combo.currentData() or "auto"

    @property
    def patch_problem(self) -> str:
        """Why the patch size does not fit the smallest image (empty if it does, or unknown)."""
        patch = self._settings.training.patch_size
        if self._smallest is None or patch <= min(self._smallest):
            return ""
        height, width = self._smallest
        return (
            f"The patch size ({patch}) is larger than the smallest image "
            f"({width}×{height} pixels): choose Custom and lower Patch size."
        )

    def set_settings(self, settings: Settings, demo_project: bool = False) -> None:
        """Show ``settings`` (the project's), without signals; the same object is a no-op.

        Settings of preset ``demo`` are then offered as the Demo preset, for as long as
        ``demo_project`` says that the project is the demo.
        """
        if settings is self._settings:
            return
        self._demo_project = demo_project
        self._show(settings)

    def set_smallest_image(self, size: tuple[int, int] | None) -> None:
        """The (height, width) of the smallest training image; ``None`` when unknown."""
        self._smallest = size

    def set_devices(self, devices: list[tuple[str, str]], preferred: str) -> None:
        """Offer ``devices`` (id, description) and select ``preferred``, without signals."""
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        for device, description in devices or DETECTING:
            self.device_combo.addItem(description, device)
            self.device_combo.setItemData(
                self.device_combo.count() - 1, description, Qt.ItemDataRole.ToolTipRole
            )
        index = self.device_combo.findData(preferred)
        self.device_combo.setCurrentIndex(max(index, 0))
        self.device_combo.blockSignals(False)

    # --------------------------------------------------------------- internals
    def _show(self, settings: Settings) -> None:
        self._settings = settings
        if settings.preset == "demo":
            self._demo_settings = settings
        elif not self._demo_project:
            self._demo_settings = None
        demo_index = self.preset_combo.findData("demo")
        if self._demo_settings is not None and demo_index < 0:
            self.preset_combo.insertItem(0, PRESETS["demo"], "demo")
        elif self._demo_settings is None and demo_index >= 0:
            self.preset_combo.removeItem(demo_index)
        key = settings.preset if settings.preset in PRESETS else "custom"
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(key))
        self.custom_box.setEnabled(key == "custom")
        self.custom_note.setVisible(key != "custom")
        n, t = settings.network, settings.training
        values = (
            (self.samples_spin, n.n_samples),
            (self.depth_spin, n.depth),
            (self.features_spin, n.features),
            (self.patch_spin, t.patch_size),
            (self.batch_spin, t.batch_size),
            (self.epochs_spin, t.epochs),
            (self.steps_spin, t.steps_per_epoch),
            (self.rate_spin, t.learning_rate),
            (self.val_spin, 100 * t.val_fraction),
            (self.bright_spin, 100 * t.bright_patches),
        )
        for spin, value in values:
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self.precision_combo.blockSignals(True)
        self.precision_combo.setCurrentIndex(self.precision_combo.findData(n.precision))
        self.precision_combo.blockSignals(False)
        self._error = ""
        self.error_label.clear()
        self.error_label.hide()

    def _preset_chosen(self, index: int) -> None:
        key = self.preset_combo.itemData(index)
        if key == "custom":
            settings = self._settings.with_changes(preset="custom")
        elif key == "demo" and self._demo_settings is not None:
            settings = self._demo_settings
        else:
            settings = engine.preset(key)
        if settings != self._settings:
            self._show(settings)
            self.settings_edited.emit(settings)

    def _custom_edited(self) -> None:
        """Adopt the custom values, or show why they cannot be used."""
        changes = {
            "preset": "custom",
            "network.n_samples": self.samples_spin.value(),
            "network.depth": self.depth_spin.value(),
            "network.features": self.features_spin.value(),
            "network.precision": self.precision_combo.currentData(),
            "training.patch_size": self.patch_spin.value(),
            "training.batch_size": self.batch_spin.value(),
            "training.epochs": self.epochs_spin.value(),
            "training.steps_per_epoch": self.steps_spin.value(),
            "training.learning_rate": self.rate_spin.value(),
            "training.val_fraction": round(self.val_spin.value() / 100, 4),
            "training.bright_patches": round(self.bright_spin.value() / 100, 4),
        }
        try:
            settings = self._settings.with_changes(**changes)
        except engine.ConfigError as error:
            self._set_error(f"{error.message} {error.hint}".strip())
            return
        self._set_error("")
        if settings != self._settings:
            self._settings = settings
            self.settings_edited.emit(settings)

    def _set_error(self, text: str) -> None:
        if text != self._error:
            self._error = text
            self.error_label.setText(text)
            self.error_label.setVisible(bool(text))
            self.error_changed.emit(text)
