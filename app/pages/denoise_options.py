"""The Denoise page's "Results" box: where results go, their pixel type, how many
orientations are averaged, whether the bootstrap's Noise2Void network takes part, extra
maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from app.context import AppContext

DEFAULT_FOLDER_HINT = "New folder beside the inputs (automatic)"

OUTPUT_TYPES = (
    ("32-bit float (recommended)", "float32"),
    ("Same as input", "input"),
)

#: The bootstrap's Noise2Void network's share where the project's settings give none.
DEFAULT_N2V_SHARE = 0.5

PASSES = (
    ("One pass (fastest)", 1),
    ("4 rotations averaged (4× the time, a little less noise)", 4),
)


def _choices(choices: tuple[tuple[str, Any], ...], tooltip: str) -> QComboBox:
    """A combo box of (text, value) ``choices``, the first chosen."""
    combo = QComboBox()
    for text, value in choices:
        combo.addItem(text, value)
    combo.setToolTip(tooltip)
    return combo


class ResultOptions(QGroupBox):
    """The output folder (empty: automatic), the pixel type, the passes, the optional maps."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Results", parent)
        self.context = context
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText(DEFAULT_FOLDER_HINT)
        self.output_edit.setClearButtonEnabled(True)
        self.output_edit.setToolTip(
            "Where the denoised files go. Leave empty for a new folder beside the inputs "
            "for every batch (named like <folder>_pn2v), so earlier results are never "
            "overwritten. A folder that holds input files is refused."
        )
        self.output_edit.textChanged.connect(lambda: self.output_message.hide())
        self.choose_button = QPushButton("C&hoose…")
        self.choose_button.setToolTip("Choose the output folder.")
        self.choose_button.clicked.connect(self._choose_output)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.output_edit, 1)
        folder_row.addWidget(self.choose_button)
        self.output_message = QLabel()
        self.output_message.setObjectName("errorText")
        self.output_message.setWordWrap(True)
        self.output_message.hide()
        self.dtype_combo = _choices(
            OUTPUT_TYPES,
            "32-bit float keeps the denoised values exactly, including fractions of a grey "
            "level; Fiji and most tools open it.\n"
            "Same as input writes the input's pixel type (for example 16-bit): smaller files "
            "that behave like your originals, with values rounded and clipped to that type.",
        )
        self.passes_combo = _choices(
            PASSES,
            "One pass denoises each image once.\n"
            "4 rotations denoises it turned by 0, 90, 180 and 270 degrees and averages the "
            "four results: a little less noise (0.04-0.07 dB on the FMD benchmark) for four "
            "times the time. The uncertainty map then also holds where the four disagree.",
        )
        self.n2v_check = QCheckBox("Average with the bootstrap's &Noise2Void network")
        self.n2v_check.setChecked(True)
        self.n2v_check.setToolTip(
            "The noise model was bootstrapped from your images by a Noise2Void network, "
            "which the project keeps. Ticked, that network denoises each image too and the "
            "result is the average of its prediction and PN2V's: their errors differ, so "
            "the average has less noise (0.04-0.4 dB on the FMD benchmark, see the README). "
            "Untick for PN2V's result alone."
        )
        self.n2v_check.hide()
        self._n2v_share = DEFAULT_N2V_SHARE
        self.uncertainty_check = QCheckBox("&Uncertainty map")
        self.uncertainty_check.setToolTip(
            "Also save <name>_pn2v_uncertainty.tif (32-bit): for every pixel the posterior "
            "standard deviation, in the image's grey levels — how sure PN2V is of the "
            "denoised value (averaged with the Noise2Void network: the posterior's spread "
            "around the result). Bright areas deserve caution when you measure."
        )
        self.prior_check = QCheckBox("&Prior mean")
        self.prior_check.setToolTip(
            "Also save <name>_pn2v_prior_mean.tif: the network's guess before the noise model "
            "weighs it against the pixel you measured (a Noise2Void-like result). Useful for "
            "comparison; the main result is usually better."
        )
        extras = QHBoxLayout()
        extras.addWidget(self.uncertainty_check)
        extras.addWidget(self.prior_check)
        extras.addStretch(1)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Output folder:", folder_row)
        form.addRow("", self.output_message)
        dtype_label = QLabel("Pixel t&ype:")
        dtype_label.setBuddy(self.dtype_combo)
        form.addRow(dtype_label, self.dtype_combo)
        passes_label = QLabel("P&asses:")
        passes_label.setBuddy(self.passes_combo)
        form.addRow(passes_label, self.passes_combo)
        form.addRow("", self.n2v_check)
        form.addRow("Also save:", extras)

    def fields(self) -> list[QWidget]:
        """The editable widgets, in tab order."""
        return [
            self.output_edit,
            self.choose_button,
            self.dtype_combo,
            self.passes_combo,
            self.n2v_check,
            self.uncertainty_check,
            self.prior_check,
        ]

    def chosen_folder(self) -> Path | None:
        """The folder typed or chosen, or ``None`` for a new one beside the inputs."""
        text = self.output_edit.text().strip()
        return Path(text).expanduser() if text else None

    def options(self) -> Any:
        """The :class:`pn2v_engine.DenoiseOptions` chosen here."""
        from pn2v_engine import DenoiseOptions

        return DenoiseOptions(
            uncertainty=self.uncertainty_check.isChecked(),
            prior_mean=self.prior_check.isChecked(),
            dtype=self.dtype_combo.currentData(),
            orientations=self.passes_combo.currentData(),
        )

    def offer_n2v(self, share: float | None) -> None:
        """Offer the bootstrap's Noise2Void network (``share``: the project's setting), or
        not (``None``: there is none, or the project is not a trained PN2V run)."""
        self.n2v_check.setVisible(share is not None)
        if share is not None:
            self._n2v_share = share if share > 0 else DEFAULT_N2V_SHARE
            self.n2v_check.setChecked(share > 0)

    def n2v_share(self) -> float | None:
        """The Noise2Void network's share chosen here; ``None`` where it is not offered."""
        if self.n2v_check.isHidden():
            return None
        return self._n2v_share if self.n2v_check.isChecked() else 0.0

    def refuse(self, text: str) -> None:
        """Say under the folder why it cannot be used; typing hides it again."""
        self.output_message.setText(text.strip())
        self.output_message.show()

    def _choose_output(self) -> None:
        start = self.output_edit.text() or self.context.last_folder("denoise output")
        folder = QFileDialog.getExistingDirectory(self, "Folder for the denoised files", start)
        if folder:
            self.context.remember_folder("denoise output", Path(folder))
            self.output_edit.setText(folder)
