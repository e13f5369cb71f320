"""Build the standalone PN2V Studio: ``python packaging/build.py``.

Runs PyInstaller on ``packaging/pn2v-studio.spec`` with this Python (the project's
virtual environment, so the bundle gets exactly its torch: CPU or CUDA), then adds
what each system needs and packs it:

* Linux: ``dist/pn2v-studio/`` with the executable ``pn2v-studio``, a ``.desktop``
  file, the icon and ``install-desktop-entry.sh``; archived as
  ``dist/pn2v-studio-<version>-linux-<machine>.tar.gz``.
* Windows: ``dist\\pn2v-studio\\pn2v-studio.exe``, a ``.zip`` of it and, when Inno
  Setup's ``ISCC.exe`` is on PATH, ``dist\\pn2v-studio-<version>-windows-x64-setup.exe``.
* macOS: ``dist/PN2V Studio.app``, archived as ``.tar.gz``.

Finally it prints the unpacked size and what dominates it. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "pn2v-studio.spec"
NAME = "pn2v-studio"
MAC_APP = "PN2V Studio.app"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument(
        "--work", type=Path, default=ROOT / "build" / "pyinstaller", help="PyInstaller's cache"
    )
    parser.add_argument("--no-archive", action="store_true", help="skip the archive/installer")
    parser.add_argument(
        "--no-trim", action="store_true", help="keep the parts the app never uses (bigger)"
    )
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    return parser.parse_args(argv)


def version() -> str:
    sys.path.insert(0, str(ROOT))
    from pn2v_engine import __version__

    return __version__


def ensure_icons() -> None:
    """Draw the icons if a checkout lacks one (they are committed in resources/)."""
    names = ("icon.png", "icon.ico", "icon.icns")
    if not all((ROOT / "resources" / name).is_file() for name in names):
        sys.path.insert(0, str(PACKAGING))
        from make_icon import write_icons

        write_icons()


def run_pyinstaller(args: argparse.Namespace) -> None:
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        sys.exit('PyInstaller is missing: pip install -e ".[dev]" (it is in the dev extra).')
    command = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm"]
    command += ["--distpath", str(args.dist), "--workpath", str(args.work)]
    if args.clean:
        command.append("--clean")
    env = {**os.environ, "PN2V_NO_TRIM": "1" if args.no_trim else "0"}
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def add_linux_files(folder: Path) -> None:
    """The menu entry (a template and the script that installs it) and the icon."""
    shutil.copy2(PACKAGING / "linux" / f"{NAME}.desktop", folder / f"{NAME}.desktop")
    shutil.copy2(ROOT / "resources" / "icon.png", folder / f"{NAME}.png")
    script = folder / "install-desktop-entry.sh"
    shutil.copy2(PACKAGING / "linux" / script.name, script)
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def make_tar(source: Path, archive: Path) -> Path:
    """A .tar.gz of ``source`` (symbolic links and permissions kept)."""
    partial = archive.with_name(archive.name + ".part")
    with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
        tar.add(source, arcname=source.name)
    os.replace(partial, archive)
    return archive


def make_installer(dist: Path, the_version: str) -> list[Path]:
    """Windows: a .zip and, with Inno Setup on PATH, a setup.exe with Start-menu entries."""
    base = dist / f"{NAME}-{the_version}-windows-{platform.machine().lower()}"
    made = [Path(shutil.make_archive(str(base), "zip", dist, NAME))]
    iscc = shutil.which("iscc") or shutil.which("ISCC")
    if iscc is None:
        print("Inno Setup (ISCC.exe) not on PATH: no setup.exe, only the .zip")
        return made
    script = PACKAGING / "windows" / f"{NAME}.iss"
    defines = [f"/DAppVersion={the_version}", f"/DSourceDir={dist / NAME}", f"/DOutputDir={dist}"]
    subprocess.run([iscc, *defines, str(script)], check=True)
    return [*made, dist / f"{NAME}-{the_version}-windows-x64-setup.exe"]


def package(args: argparse.Namespace, the_version: str) -> list[Path]:
    """Platform files and archives; returns the archives made."""
    folder = args.dist / NAME
    machine = platform.machine().lower()
    if sys.platform.startswith("linux"):
        add_linux_files(folder)
        if not args.no_archive:
            return [make_tar(folder, args.dist / f"{NAME}-{the_version}-linux-{machine}.tar.gz")]
    elif sys.platform == "win32" and not args.no_archive:
        return make_installer(args.dist, the_version)
    elif sys.platform == "darwin" and not args.no_archive:
        app = args.dist / MAC_APP
        return [make_tar(app, args.dist / f"{NAME}-{the_version}-macos-{machine}.tar.gz")]
    return []


def tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (links not followed, not counted)."""
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def size_report(folder: Path, top: int = 12) -> str:
    """The folder's size and its largest parts (two levels into ``_internal``)."""
    total = tree_size(folder)
    internal = folder / "_internal"
    parts: list[Path] = []
    for child in internal.iterdir() if internal.is_dir() else folder.iterdir():
        parts += list(child.iterdir()) if child.name in ("torch", "PySide6") else [child]
    sizes = sorted(((tree_size(p), p) for p in parts), key=lambda item: -item[0])[:top]
    lines = [f"{folder}: {total / 2**20:.0f} MiB unpacked; largest parts:"]
    lines += [f"  {size / 2**20:8.1f} MiB  {p.relative_to(folder)}" for size, p in sizes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.dist, args.work = args.dist.resolve(), args.work.resolve()
    started = time.monotonic()
    the_version = version()
    ensure_icons()
    run_pyinstaller(args)
    built = time.monotonic()
    archives = package(args, the_version)
    print(f"\nPN2V Studio {the_version}: PyInstaller {built - started:.0f} s, ", end="")
    print(f"packing {time.monotonic() - built:.0f} s")
    print(f"app folder: {args.dist / NAME} (run {NAME} in it; --self-test checks it)")
    for archive in archives:
        print(f"archive:    {archive} ({archive.stat().st_size / 2**20:.0f} MiB)")
    print(size_report(args.dist / NAME))
    return 0


if __name__ == "__main__":
    sys.exit(main())
