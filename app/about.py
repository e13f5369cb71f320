"""The About box: version, this build, how to cite, and the licences of what PN2V Studio
is built on (their texts ship in the standalone app's ``licences`` folder)."""

from __future__ import annotations

import platform
from importlib import metadata

from PySide6.QtWidgets import QMessageBox, QWidget

from app import APP_NAME
from app.paths import is_frozen, licences_dir

CITATION = (
    "Krull, A., Vičar, T., Prakash, M., Lalit, M., Jug, F. Probabilistic Noise2Void: "
    "unsupervised content-aware denoising. Frontiers in Computer Science 2, 5 (2020). "
    "doi:10.3389/fcomp.2020.00005"
)
FMD_CITATION = (
    "Zhang, Y., Zhu, Y., Nichols, E., Wang, Q., Zhang, S., Smith, C., Howard, S. "
    "A Poisson-Gaussian denoising dataset with real fluorescence microscopy images. "
    "CVPR 2019, 11710-11718. arXiv:1812.10366"
)
#: (component, licence, distribution whose version is shown); the standalone app ships
#: each licence text under ``licences/<distribution>/`` (packaging/pn2v-studio.spec).
COMPONENTS = [
    ("Python", "PSF-2.0", ""),
    ("PySide6 / Qt 6", "LGPL-3.0", "PySide6-Essentials"),
    ("PyTorch", "BSD-3-Clause (and its third-party notices)", "torch"),
    ("NumPy (with OpenBLAS)", "BSD-3-Clause", "numpy"),
    ("pyqtgraph", "MIT", "pyqtgraph"),
    ("tifffile", "BSD-3-Clause", "tifffile"),
    ("Pillow", "MIT-CMU (HPND)", "pillow"),
    ("pydantic, pydantic-core", "MIT", "pydantic"),
    ("platformdirs", "MIT", "platformdirs"),
    ("tqdm", "MPL-2.0 and MIT", "tqdm"),
]


def component_version(distribution: str) -> str:
    """The installed version of a distribution (Python's own for "")."""
    if not distribution:
        return platform.python_version()
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return ""


def build_text() -> str:
    """One line on this build: how it runs, Qt and PyTorch (imports torch)."""
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion

    from app.devices import torch_build

    how = "standalone app" if is_frozen() else "running from Python"
    return (
        f"{how}; Python {platform.python_version()}, Qt {qVersion()} "
        f"(PySide6 {pyside_version}), {torch_build()}"
    )


def about_text() -> str:
    from pn2v_engine import __version__

    rows = "".join(
        f"<li>{name} {component_version(dist)}: {licence}</li>"
        for name, licence, dist in COMPONENTS
    )
    folder = licences_dir()
    texts = (
        f"<p>The licence texts are in <code>{folder}</code>.</p>"
        if folder.is_dir()
        else "<p>The standalone app ships their licence texts in its "
        "<code>licences</code> folder.</p>"
    )
    return (
        f"<h3>{APP_NAME} {__version__}</h3>"
        "<p>Denoise fluorescence microscopy images with Probabilistic Noise2Void, "
        "trained on your own noisy images.</p>"
        f"<p><b>This build:</b> {build_text()}.</p>"
        f"<p><b>Please cite</b> the method: {CITATION}</p>"
        f"<p>If you use the FMD dataset (the benchmarks do), cite: {FMD_CITATION}</p>"
        f"<p><b>Built on</b> (licences):</p><ul>{rows}</ul>{texts}"
        "<p>PN2V Studio is released under the BSD-3-Clause licence.</p>"
    )


def show_about(parent: QWidget | None) -> None:
    QMessageBox.about(parent, f"About {APP_NAME}", about_text())
