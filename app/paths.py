"""Where PN2V Studio keeps its settings, logs and demo data (platformdirs).

``PN2V_STUDIO_HOME`` overrides all three with one folder: tests and portable
installs use it so nothing touches the user's real profile.
"""

from __future__ import annotations

import os
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
