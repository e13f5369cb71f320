"""The .pn2v project file: round trip, atomic save, validated and safe load."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from pn2v_engine.config import preset
from pn2v_engine.errors import ProjectFileError
from pn2v_engine.noise_models import histogram_from_pairs
from pn2v_engine.prediction import run_predict
from pn2v_engine.project import FORMAT_VERSION, DataReference, Project, load_project, save_project
from pn2v_engine.training import run_train

TINY = preset("cpu").with_changes(
    **{
        "network.depth": 2,
        "network.features": 8,
        "network.n_samples": 16,
        "training.patch_size": 32,
        "training.batch_size": 4,
        "training.epochs": 2,
        "training.steps_per_epoch": 3,
        "training.val_patches": 4,
    }
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, np.ndarray]:
    rng = np.random.default_rng(0)
    signal = np.tile(np.linspace(10, 200, 96), (96, 1))
    noisy = [np.round(rng.normal(signal, np.sqrt(2 * signal + 4))) for _ in range(3)]
    model = histogram_from_pairs([signal] * 3, noisy)
    image = noisy[0].astype(np.float32)
    result = run_train([image], model, TINY)
    source = tmp_path_factory.mktemp("data") / "train.tif"
    source.write_bytes(b"not really an image, but hashed")
    project = Project(
        settings=TINY,
        noise_model=model,
        training=result,
        training_images=[DataReference.to_file(source)],
        name="tiny",
    )
    return project, image


def test_round_trip_keeps_everything(trained, tmp_path: Path) -> None:
    project, image = trained
    path = save_project(project, tmp_path / "p")
    assert path.suffix == ".pn2v"
    loaded = load_project(path)
    assert loaded.name == "tiny"
    assert loaded.settings == project.settings
    assert loaded.training.normalisation == project.training.normalisation
    assert loaded.training.history.to_dict() == project.training.history.to_dict()
    assert loaded.training.epochs_done == project.training.epochs_done
    for key, value in project.training.best_weights.items():
        assert torch.equal(loaded.training.best_weights[key], value)
    assert loaded.training_images[0].sha256 == project.training_images[0].sha256
    assert loaded.training_images[0].relative is not None
    before = run_predict(project.denoiser("cpu"), image).mmse
    after = run_predict(loaded.denoiser("cpu"), image).mmse
    np.testing.assert_array_equal(before, after)


def test_loaded_project_resumes_training(trained, tmp_path: Path) -> None:
    project, image = trained
    loaded = load_project(save_project(project, tmp_path / "p.pn2v"))
    more = loaded.training.settings.with_changes(**{"training.epochs": 3})
    result = run_train([image], loaded.noise_model, more, resume=loaded.training)
    assert result.history.epoch == [1, 2, 3]


def test_blind_spot_network_round_trip(trained, tmp_path: Path) -> None:
    project, image = trained
    settings = TINY.with_changes(**{"network.blind_spot": "network", "masking.fraction": 1.0})
    result = run_train([image], project.noise_model, settings)
    blind = Project(settings=settings, noise_model=project.noise_model, training=result)
    loaded = load_project(save_project(blind, tmp_path / "blind.pn2v"))
    assert loaded.settings.network.blind_spot == "network"
    before = run_predict(blind.denoiser("cpu"), image).mmse
    np.testing.assert_array_equal(run_predict(loaded.denoiser("cpu"), image).mmse, before)


def test_u_net_without_top_skip_round_trip(trained, tmp_path: Path) -> None:
    project, image = trained
    settings = TINY.with_changes(**{"network.top_skip": False})
    result = run_train([image], project.noise_model, settings)
    skipless = Project(settings=settings, noise_model=project.noise_model, training=result)
    loaded = load_project(save_project(skipless, tmp_path / "skipless.pn2v"))
    assert not loaded.settings.network.top_skip
    before = run_predict(skipless.denoiser("cpu"), image).mmse
    np.testing.assert_array_equal(run_predict(loaded.denoiser("cpu"), image).mmse, before)


def test_untrained_project_round_trip(tmp_path: Path) -> None:
    path = save_project(Project(name="new"), tmp_path / "new.pn2v")
    loaded = load_project(path)
    assert loaded.training is None and loaded.noise_model is None
    with pytest.raises(ProjectFileError, match="no trained network"):
        loaded.denoiser()


def _rewrite(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_newer_format_is_refused_clearly(tmp_path: Path) -> None:
    path = save_project(Project(), tmp_path / "p.pn2v")
    members = _members(path)
    manifest = json.loads(members["project.json"])
    manifest["format_version"] = FORMAT_VERSION + 1
    members["project.json"] = json.dumps(manifest).encode()
    _rewrite(path, members)
    with pytest.raises(ProjectFileError, match="newer PN2V Studio") as info:
        load_project(path)
    assert "Update" in info.value.hint


@pytest.mark.parametrize(
    "content", [b"", b"plain text", b"PK\x03\x04 truncated zip"], ids=["empty", "text", "zip"]
)
def test_corrupt_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pn2v"
    path.write_bytes(content)
    with pytest.raises(ProjectFileError):
        load_project(path)


def test_unexpected_and_traversal_members_are_refused(tmp_path: Path) -> None:
    path = save_project(Project(), tmp_path / "p.pn2v")
    for evil in ("../../outside.txt", "extra.py"):
        members = _members(path)
        members[evil] = b"import os"
        _rewrite(path, members)
        with pytest.raises(ProjectFileError, match="unexpected member"):
            load_project(path)


def test_pickled_code_in_weights_is_not_executed(trained, tmp_path: Path) -> None:
    project, _ = trained
    path = save_project(project, tmp_path / "p.pn2v")
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    buffer = io.BytesIO()
    torch.save({"weight": Evil()}, buffer)
    members = _members(path)
    members["weights_best.pt"] = buffer.getvalue()
    _rewrite(path, members)
    with pytest.raises(ProjectFileError, match="cannot be loaded safely"):
        load_project(path)
    assert not marker.exists()


def test_invalid_manifest_names_the_field(tmp_path: Path) -> None:
    path = save_project(Project(), tmp_path / "p.pn2v")
    members = _members(path)
    manifest = json.loads(members["project.json"])
    manifest["settings"]["training"]["epochs"] = -3
    members["project.json"] = json.dumps(manifest).encode()
    _rewrite(path, members)
    with pytest.raises(ProjectFileError, match="epochs"):
        load_project(path)


def test_save_is_atomic(trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, _ = trained
    path = save_project(project, tmp_path / "p.pn2v")
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail)
    from pn2v_engine.errors import OutputError

    with pytest.raises(OutputError, match="disk is full"):
        save_project(project, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.pn2v"]
