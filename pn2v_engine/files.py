"""Atomic file writes with errors a user can act on (DESIGN.md rule 8)."""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError


def output_error(path: Path, exc: OSError) -> OutputError:
    """Translate an OSError raised while writing ``path`` into an :class:`OutputError`."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return OutputError(
            f"The disk is full: cannot write {path.name} to {path.parent}.",
            "Free some space or choose an output folder on another disk; nothing was lost.",
        )
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return OutputError(
            f"Cannot write to folder {path.parent} (permission denied or read-only).",
            "Choose an output folder you can write to.",
        )
    if isinstance(exc, NotADirectoryError | FileExistsError) or exc.errno == errno.ENOTDIR:
        return OutputError(
            f"Cannot write to folder {path.parent}: part of that path is a file, not a folder.",
            "Choose another output folder.",
        )
    return OutputError(
        f"Cannot write {path}: {exc.strerror or exc}.", "Choose another output folder."
    )


def _create_temporary(path: Path) -> Path:
    """A new empty file beside ``path``, with the permissions the umask gives (not 0600)."""
    for _ in range(100):
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDWR)  # Windows cannot sync a read-only descriptor
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is synced and replaces ``path``.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_name = _create_temporary(path)
    except OSError as exc:
        raise output_error(path, exc) from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise output_error(path, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
