"""The ``.pn2v`` project file: one zip with a manifest, noise model, weights and history.

Members (flat names only; anything else is refused on load):

``project.json``     manifest: format version, versions, settings, normalisation,
                     data references (absolute and relative paths, sha256), timestamps
``noise_model.npz``  the noise model (no pickle)
``weights_best.pt``  the network's state_dict at the best validation loss
``weights_last.pt``  the state_dict when training ended or was stopped
``checkpoint.pt``    optimiser, scheduler and random states, for resuming
``history.json``     per-epoch loss curves, learning rate, timings

Weights and checkpoint are loaded with ``torch.load(weights_only=True)``: opening
a project from another lab never executes code from it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import Settings, preset
from .data import Normalisation
from .errors import ProjectFileError
from .files import atomic_path
from .noise_models import NoiseModel, noise_model_from_npz_bytes
from .training import History, TrainResult

FORMAT_VERSION = 1
SUFFIX = ".pn2v"
_MEMBERS = {
    "project.json",
    "noise_model.npz",
    "weights_best.pt",
    "weights_last.pt",
    "checkpoint.pt",
    "history.json",
}
_MAX_MEMBER_BYTES = 4 * 1024**3


def engine_version() -> str:
    from . import __version__

    return __version__


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class DataReference(BaseModel):
    """Where an input file was, and how to recognise it again."""

    model_config = ConfigDict(extra="forbid")

    path: str
    relative: str | None = None
    sha256: str | None = None
    size: int | None = None

    @classmethod
    def to_file(cls, path: str | os.PathLike, hash_file: bool = True) -> DataReference:
        path = Path(path).resolve()
        digest = _sha256(path) if hash_file and path.is_file() else None
        size = path.stat().st_size if path.is_file() else None
        return cls(path=str(path), sha256=digest, size=size)

    def locate(self, project_dir: Path | None) -> Path | None:
        """The file, found by its absolute path or relative to the project; ``None`` if gone."""
        candidates = [Path(self.path)]
        if self.relative and project_dir is not None:
            candidates.insert(0, project_dir / self.relative)
        return next((p for p in candidates if p.is_file()), None)


class TrainingSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs_done: int
    stopped: bool
    best_val_loss: float | None
    warnings: list[str] = Field(default_factory=list)
    started_from: str | None = None


class Manifest(BaseModel):
    """The strict schema of ``project.json``."""

    model_config = ConfigDict(extra="forbid")

    format_version: int
    app: str = "PN2V Studio"
    engine_version: str
    created: str
    modified: str
    name: str = ""
    settings: Settings
    normalisation: dict[str, float] | None = None
    noise_model: str | None = None
    training: TrainingSummary | None = None
    training_images: list[DataReference] = Field(default_factory=list)
    calibration_files: list[DataReference] = Field(default_factory=list)
    notes: str = ""


@dataclass
class Project:
    """Everything a PN2V run needs and produced; what the app and the CLI save."""

    settings: Settings = field(default_factory=lambda: preset("cpu"))
    noise_model: NoiseModel | None = None
    training: TrainResult | None = None
    training_images: list[DataReference] = field(default_factory=list)
    calibration_files: list[DataReference] = field(default_factory=list)
    name: str = ""
    notes: str = ""
    created: str = field(default_factory=_now)
    path: Path | None = None

    @property
    def is_trained(self) -> bool:
        return self.training is not None

    def denoiser(
        self, device: str = "auto", weights: str = "best", n2v_share: float | None = None
    ) -> Any:
        """A :class:`~pn2v_engine.prediction.Denoiser` from the trained weights
        (``n2v_share``: in place of the settings' ``prediction.n2v_share``)."""
        from .prediction import Denoiser

        if self.training is None:
            raise ProjectFileError(
                "This project has no trained network yet.", "Train it first (pn2v train)."
            )
        state = self.training.best_weights if weights == "best" else self.training.last_weights
        return Denoiser(
            self.training.settings,
            state,
            self.training.normalisation,
            self.noise_model,
            device,
            n2v_share,
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _torch_bytes(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _relative(reference: DataReference, folder: Path) -> DataReference:
    try:
        relative = os.path.relpath(reference.path, folder)
    except ValueError:  # another drive on Windows
        relative = None
    return reference.model_copy(update={"relative": relative})


def save_project(project: Project, path: str | os.PathLike) -> Path:
    """Write ``project`` to ``path`` (``.pn2v`` added if missing) atomically."""
    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    folder = path.resolve().parent
    training = project.training
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        engine_version=engine_version(),
        created=project.created,
        modified=_now(),
        name=project.name or path.stem,
        settings=training.settings if training else project.settings,
        normalisation=(
            {"mean": training.normalisation.mean, "std": training.normalisation.std}
            if training
            else None
        ),
        noise_model=project.noise_model.describe() if project.noise_model else None,
        training=(
            TrainingSummary(
                epochs_done=training.epochs_done,
                stopped=training.stopped,
                best_val_loss=training.best_val_loss if training.history.val_loss else None,
                warnings=training.warnings,
                started_from=training.started_from,
            )
            if training
            else None
        ),
        training_images=[_relative(r, folder) for r in project.training_images],
        calibration_files=[_relative(r, folder) for r in project.calibration_files],
        notes=project.notes,
    )
    members: dict[str, bytes] = {"project.json": manifest.model_dump_json(indent=2).encode()}
    if project.noise_model is not None:
        members["noise_model.npz"] = project.noise_model.to_npz_bytes()
    if training is not None:
        members["weights_best.pt"] = _torch_bytes(training.best_weights)
        members["weights_last.pt"] = _torch_bytes(training.last_weights)
        members["checkpoint.pt"] = _torch_bytes(training.checkpoint)
        members["history.json"] = json.dumps(training.history.to_dict()).encode()
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    project.path = path
    return path


def _read_members(path: Path) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = {}
            for info in archive.infolist():
                if info.filename not in _MEMBERS:
                    raise ProjectFileError(
                        f"{path.name} contains an unexpected member {info.filename!r}; "
                        "it was not written by PN2V Studio or has been tampered with.",
                        "Only open project files from sources you trust.",
                    )
                if info.file_size > _MAX_MEMBER_BYTES:
                    raise ProjectFileError(f"{path.name}: member {info.filename} is too large.")
                members[info.filename] = archive.read(info)
            return members
    except FileNotFoundError as exc:
        raise ProjectFileError(f"Project file not found: {path}", "Check the path.") from exc
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise ProjectFileError(
            f"{path.name} is not a PN2V project file, or it is damaged ({exc}).",
            "Open another copy of the project, or start a new one.",
        ) from exc
    except OSError as exc:
        raise ProjectFileError(f"Cannot read {path}: {exc.strerror}.") from exc


def _parse_manifest(data: bytes, name: str) -> Manifest:
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise ProjectFileError(f"{name}: the manifest is not valid JSON ({exc}).") from exc
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if not isinstance(version, int):
        raise ProjectFileError(f"{name}: the manifest has no format version.")
    if version > FORMAT_VERSION:
        raise ProjectFileError(
            f"{name} was saved by a newer PN2V Studio (project format {version}; this version "
            f"reads up to {FORMAT_VERSION}).",
            "Update PN2V Studio to open it.",
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ProjectFileError(f"{name}: the manifest is invalid ({problems}).") from exc


def _load_torch(data: bytes, member: str, name: str) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad or unsafe file
        raise ProjectFileError(
            f"{name}: {member} cannot be loaded safely ({type(exc).__name__}).",
            "The file is damaged or was not written by PN2V Studio.",
        ) from exc


def load_project(path: str | os.PathLike) -> Project:
    """Read and validate a project file; never executes code from it."""
    path = Path(path)
    members = _read_members(path)
    if "project.json" not in members:
        raise ProjectFileError(f"{path.name} has no manifest (project.json).")
    manifest = _parse_manifest(members["project.json"], path.name)
    noise_model = None
    if "noise_model.npz" in members:
        noise_model = noise_model_from_npz_bytes(members["noise_model.npz"], path.name)
    training = None
    if manifest.training is not None:
        missing = {"weights_best.pt", "weights_last.pt", "checkpoint.pt", "history.json"} - set(
            members
        )
        if missing or manifest.normalisation is None:
            lacking = ", ".join(sorted(missing)) or "its normalisation"
            raise ProjectFileError(f"{path.name} says it is trained but lacks {lacking}.")
        try:
            history = History.from_dict(json.loads(members["history.json"]))
        except (ValueError, TypeError) as exc:
            raise ProjectFileError(f"{path.name}: the training history is damaged.") from exc
        training = TrainResult(
            settings=manifest.settings,
            normalisation=Normalisation(**manifest.normalisation),
            best_weights=_load_torch(members["weights_best.pt"], "weights_best.pt", path.name),
            last_weights=_load_torch(members["weights_last.pt"], "weights_last.pt", path.name),
            history=history,
            checkpoint=_load_torch(members["checkpoint.pt"], "checkpoint.pt", path.name),
            epochs_done=manifest.training.epochs_done,
            stopped=manifest.training.stopped,
            warnings=manifest.training.warnings,
            started_from=manifest.training.started_from,
        )
    return Project(
        settings=manifest.settings,
        noise_model=noise_model,
        training=training,
        training_images=manifest.training_images,
        calibration_files=manifest.calibration_files,
        name=manifest.name,
        notes=manifest.notes,
        created=manifest.created,
        path=path,
    )
