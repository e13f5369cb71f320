"""The About box: version, how to cite, and the licences of what PN2V Studio is built on."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from app import APP_NAME

CITATION = (
    "Krull, A., Vičar, T., Prakash, M., Lalit, M., Jug, F. Probabilistic Noise2Void: "
    "unsupervised content-aware denoising. Frontiers in Computer Science 2, 5 (2020)."
)
FMD_CITATION = (
    "Zhang, Y. et al. A Poisson-Gaussian denoising dataset with real fluorescence microscopy "
    "images. CVPR 2019."
)
COMPONENTS = [
    ("PySide6 / Qt 6", "LGPL-3.0"),
    ("PyTorch", "BSD-3-Clause"),
    ("NumPy", "BSD-3-Clause"),
    ("pyqtgraph", "MIT"),
    ("tifffile", "BSD-3-Clause"),
    ("Pillow", "MIT-CMU (HPND)"),
    ("pydantic", "MIT"),
    ("platformdirs", "MIT"),
]


def about_text() -> str:
    from pn2v_engine import __version__

    rows = "".join(f"<li>{name}: {licence}</li>" for name, licence in COMPONENTS)
    return (
        f"<h3>{APP_NAME} {__version__}</h3>"
        "<p>Denoise fluorescence microscopy images with Probabilistic Noise2Void, "
        "trained on your own noisy images.</p>"
        f"<p><b>Please cite</b> the method: {CITATION}</p>"
        f"<p>Benchmarks use the FMD dataset: {FMD_CITATION}</p>"
        f"<p><b>Built on</b> (licences):</p><ul>{rows}</ul>"
        "<p>PN2V Studio is released under the BSD-3-Clause licence.</p>"
    )


def show_about(parent: QWidget | None) -> None:
    QMessageBox.about(parent, f"About {APP_NAME}", about_text())
