"""The standalone app: built once with ``python packaging/build.py``, then run.

The build (PyInstaller over torch and PySide6) takes about two minutes here; every
test of this module shares it. It goes to a temporary ``dist`` folder, so a
developer's ``dist/`` is left alone; PyInstaller's cache in ``build/`` is reused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import PyInstaller  # noqa: F401  (in the dev extra: a missing build tool fails, not skips)
import pytest

ROOT = Path(__file__).resolve().parents[2]
LINUX = sys.platform.startswith("linux")
#: The CPU build is about 630 MiB; more means a trimmed part came back.
MAX_SIZE_MIB = 720
STEPS = ["environment", "window", "data", "calibrate", "train", "project", "denoise"]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The output folder of one build, with the app folder and its archive (~850 MiB,
    removed afterwards)."""
    folder = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py"), "--dist", str(folder)],
        cwd=ROOT,
        check=True,
        timeout=1500,
    )
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _executable(dist: Path) -> Path:
    if sys.platform == "win32":
        return dist / "pn2v-studio" / "pn2v-studio.exe"
    if sys.platform == "darwin":
        return dist / "PN2V Studio.app" / "Contents" / "MacOS" / "pn2v-studio"
    return dist / "pn2v-studio" / "pn2v-studio"


def _self_test(
    dist: Path, home: Path, report: Path, **kwargs: object
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PN2V_STUDIO_HOME": str(home)}
    env.pop("QT_QPA_PLATFORM", None)  # the self-test must go offscreen by itself
    command = [str(_executable(dist)), "--self-test", "--self-test-report", str(report)]
    return subprocess.run(command, env=env, timeout=600, **kwargs)  # type: ignore[call-overload]


def test_self_test_of_the_standalone_app(dist: Path, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    run = _self_test(dist, tmp_path / "home", report_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "self-test passed" in run.stdout
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["passed"] is True and report["frozen"] is True
    assert [step["name"] for step in report["steps"]] == STEPS
    assert all(step["ok"] is True for step in report["steps"]), report["steps"]
    assert report["build"].startswith("standalone app; Python 3.")
    assert "PyTorch 2." in report["build"] and report["device"]
    assert min(report["psnr_gain_db"]) >= 1.0
    assert Path(report["screenshot"]).stat().st_size > 1000
    log = (tmp_path / "home" / "logs" / "pn2v-studio.log").read_text(encoding="utf-8")
    assert "self-test passed" in log


@pytest.mark.skipif(sys.platform == "win32", reason="closes the standard streams (POSIX)")
def test_runs_without_standard_streams(dist: Path, tmp_path: Path) -> None:
    """As when started by double-click: no stdout or stderr (Python sees None)."""

    def close_streams() -> None:
        os.close(1)
        os.close(2)

    report_path = tmp_path / "report.json"
    run = _self_test(dist, tmp_path / "home", report_path, preexec_fn=close_streams)
    assert run.returncode == 0
    assert json.loads(report_path.read_text(encoding="utf-8"))["passed"] is True


def test_bundle_holds_what_the_app_needs_and_no_more(dist: Path) -> None:
    internal = _executable(dist).parent / "_internal"
    if sys.platform == "darwin":
        internal = _executable(dist).parent.parent / "Resources"
    assert (internal / "resources" / "style.qss").is_file()
    assert (internal / "resources" / "icon.png").is_file()
    licences = internal / "licences"
    for component in ("python", "pyside6-essentials", "torch", "numpy", "pyqtgraph"):
        assert any((licences / component).iterdir()), component
    for dropped in ("torch/include", "torch/test", "PySide6/Qt/translations", "scipy"):
        assert not (internal / dropped).exists(), dropped
    size = sum(f.stat().st_size for f in internal.rglob("*") if f.is_file())
    assert size / 2**20 < MAX_SIZE_MIB


@pytest.mark.skipif(not LINUX, reason="the Linux archive and menu entry")
def test_linux_archive_with_menu_entry(dist: Path) -> None:
    folder = dist / "pn2v-studio"
    desktop = (folder / "pn2v-studio.desktop").read_text(encoding="utf-8")
    assert "Exec=pn2v-studio %f" in desktop and "Icon=pn2v-studio" in desktop
    assert (folder / "pn2v-studio.png").is_file()
    assert os.access(folder / "install-desktop-entry.sh", os.X_OK)
    (archive,) = dist.glob("pn2v-studio-*-linux-*.tar.gz")
    with tarfile.open(archive) as tar:
        executable = tar.getmember("pn2v-studio/pn2v-studio")
        assert executable.mode & 0o111
        tar.getmember("pn2v-studio/pn2v-studio.desktop")


@pytest.mark.skipif(not LINUX, reason="the Linux menu entry")
def test_menu_entry_installs_for_the_user(dist: Path, tmp_path: Path) -> None:
    script = dist / "pn2v-studio" / "install-desktop-entry.sh"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    subprocess.run(["sh", str(script)], env=env, check=True, capture_output=True)
    entry = (tmp_path / "applications" / "pn2v-studio.desktop").read_text(encoding="utf-8")
    assert f'Exec="{dist / "pn2v-studio" / "pn2v-studio"}" %f' in entry
    assert f"Icon={dist / 'pn2v-studio' / 'pn2v-studio.png'}" in entry
