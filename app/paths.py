"""Where PN2V Studio keeps its settings, logs and demo data (platformdirs), and where
its bundled resources (style sheet, icon, licences) are.

``PN2V_STUDIO_HOME`` overrides the first three with one folder: tests and portable
installs use it so nothing touches the user's real profile.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from app import APP_NAME, ORGANISATION

HOME_VARIABLE = "PN2V_STUDIO_HOME"


def _folder(kind: str) -> Path:
    home = os.environ.get(HOME_VARIABLE)
    if home:
        path = Path(home) / kind
    elif kind == "config":
        path = Path(platformdirs.user_config_dir(APP_NAME, ORGANISATION))
    elif kind == "logs":
        path = Path(platformdirs.user_log_dir(APP_NAME, ORGANISATION))
    else:
        path = Path(platformdirs.user_data_dir(APP_NAME, ORGANISATION))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    return _folder("config")


def log_dir() -> Path:
    return _folder("logs")


def data_dir() -> Path:
    return _folder("data")


def log_file() -> Path:
    return log_dir() / "pn2v-studio.log"


def is_frozen() -> bool:
    """True in the standalone app made by PyInstaller."""
    return bool(getattr(sys, "frozen", False))


def resources_dir() -> Path:
    """``resources/``: beside ``app/`` in a checkout, in ``_internal/`` (``sys._MEIPASS``)
    in the standalone app."""
    bundle = getattr(sys, "_MEIPASS", None)
    root = Path(bundle) if bundle else Path(__file__).resolve().parent.parent
    return root / "resources"


def resource_path(name: str) -> Path:
    """A bundled resource file, e.g. ``resource_path("icon.png")``."""
    return resources_dir() / name


def licences_dir() -> Path:
    """The licence texts of the bundled components (only in the standalone app)."""
    return resources_dir().parent / "licences"
