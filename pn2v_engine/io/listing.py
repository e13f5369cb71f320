"""Expanding files and folders into a sorted list of image files."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pn2v_engine.errors import InvalidImageError

from .reading import IMAGE_SUFFIXES, check_suffix


def list_images(inputs: Sequence[str | os.PathLike], recursive: bool = True) -> list[Path]:
    """The image files named in ``inputs`` or found in its folders.

    Hidden files and folders (".name") are skipped. The result is de-duplicated by
    resolved path and in natural order (``img2.tif`` before ``img10.tif``). Raises
    :class:`InvalidImageError` for a missing input, a file that is not an image, or
    a folder without images.
    """
    found: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            pattern = item.rglob("*") if recursive else item.iterdir()
            images = [
                p
                for p in pattern
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not _is_hidden(p, item)
            ]
            if not images:
                where = "or its sub-folders " if recursive else ""
                raise InvalidImageError(
                    f"The folder {item} {where}contains no .tif, .tiff or .png images.",
                    "Choose a folder that contains images, or the image files themselves.",
                )
            found.extend(images)
        elif item.is_file():
            check_suffix(item)
            found.append(item)
        else:
            raise InvalidImageError(
                f"{item}: file or folder not found.", "Check the path, or choose it again."
            )
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return sorted(unique.values(), key=_natural_key)


def _natural_key(path: Path) -> list[Any]:
    """Case-insensitive, with digit runs compared as numbers."""
    parts = re.split(r"(\d+)", str(path).lower())
    return [(int(p), p) if p.isdigit() else (-1, p) for p in parts]


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
