"""The user's preferences (recent projects, last folders, window, device), kept apart
from projects in the platformdirs config folder.

Loading forgives everything: an unreadable file, unknown keys and values of the
wrong type fall back to the defaults one field at a time.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.paths import config_dir

log = logging.getLogger(__name__)
MAX_RECENT = 10
SETTINGS_VERSION = 1


class UserSettings(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    version: int = SETTINGS_VERSION
    recent_projects: list[str] = Field(default_factory=list)
    last_folders: dict[str, str] = Field(default_factory=dict)
    window_geometry: str = ""
    device: str = "auto"

    def add_recent(self, path: str | os.PathLike[str]) -> None:
        text = str(Path(path).resolve())
        self.recent_projects = [text, *(p for p in self.recent_projects if p != text)][:MAX_RECENT]

    def existing_recent(self) -> list[Path]:
        return [Path(p) for p in self.recent_projects if Path(p).is_file()]

    def last_folder(self, purpose: str) -> str:
        folder = self.last_folders.get(purpose, "")
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    def remember_folder(self, purpose: str, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        folder = path if path.is_dir() else path.parent
        self.last_folders = {**self.last_folders, purpose: str(folder)}


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings(path: Path | None = None) -> UserSettings:
    path = path or settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return UserSettings()
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings file %s: %s", path, exc)
        return UserSettings()
    if not isinstance(raw, dict):
        return UserSettings()
    kept: dict[str, Any] = {}
    for name in UserSettings.model_fields:
        if name not in raw:
            continue
        try:
            UserSettings.model_validate({name: raw[name]})
        except ValidationError:
            log.warning("ignoring the setting %s=%r", name, raw[name])
            continue
        kept[name] = raw[name]
    return UserSettings.model_validate(kept)


def save_settings(settings: UserSettings, path: Path | None = None) -> None:
    """Write atomically; a failure is logged, never raised (preferences are not work)."""
    path = path or settings_path()
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(settings.model_dump_json(indent=2), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("could not save settings to %s: %s", path, exc)
