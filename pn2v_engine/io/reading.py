"""Reading images by path: whole (:func:`read_image`) or streamed (:func:`read_frames`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from pn2v_engine.errors import InvalidImageError

from .image import FIJI_HINT, Image, count_not_finite, not_finite_error
from .png import read_png
from .tiff import read_tiff, tiff_frames

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".tif", ".tiff", ".png")

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_suffix(path: Path) -> None:
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InvalidImageError(
            f"{path.name} is not a TIFF or PNG image (suffix {path.suffix or 'missing'!r}).",
            "PN2V reads .tif, .tiff and .png files; convert the image in Fiji.",
        )


def _check_file(path: str | os.PathLike) -> tuple[Path, str]:
    """Check that ``path`` looks like a readable image file; return it and its kind."""
    path = Path(path)
    if not path.exists():
        raise InvalidImageError(
            f"{path}: file not found.", "Check the path, or choose the file again."
        )
    if path.is_dir():
        raise InvalidImageError(
            f"{path} is a folder, not an image file.", "Choose a .tif, .tiff or .png file."
        )
    check_suffix(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise InvalidImageError(
            f"Cannot open {path}: {exc.strerror or exc}.",
            "Check that the file is readable and not locked by another program.",
        ) from exc
    if not head:
        raise InvalidImageError(
            f"{path.name} is empty (0 bytes); it is not a TIFF or PNG image.",
            "The file may be incomplete; copy or export it again.",
        )
    if head[:4] in _TIFF_MAGIC:
        return path, "tiff"
    if head.startswith(_PNG_MAGIC):
        return path, "png"
    raise InvalidImageError(
        f"{path.name} is not a TIFF or PNG image (its content does not start like one).",
        "The file may be damaged or renamed; " + FIJI_HINT,
    )


def read_image(path: str | os.PathLike, channel: int | None = None) -> Image:
    """Read a TIFF or PNG image as a stack of 2-D frames (see :mod:`.layout`).

    ``channel`` picks one channel (or color sample) of a multichannel or RGB image,
    which is refused otherwise. Raises :class:`InvalidImageError` for any file PN2V
    cannot use.
    """
    path, kind = _check_file(path)
    image = read_tiff(path, channel) if kind == "tiff" else read_png(path, channel)
    bad = sum(count_not_finite(frame) for frame in image.data)
    if bad:
        raise not_finite_error(path.name, bad, image.data.size)
    logger.debug(
        "read %s: %s frames of %dx%d %s (axes %s)",
        path,
        image.frames,
        image.data.shape[2],
        image.data.shape[1],
        image.metadata.source_dtype,
        image.metadata.axes,
    )
    return image


def read_frames(paths: Sequence[str | os.PathLike]) -> Iterator[np.ndarray]:
    """Yield the 2-D frames of the images, in order, one at a time, in their dtype.

    Every path is checked before the first frame is read; TIFF stacks are read page by
    page. Raises as :func:`read_image`, or when a frame's shape differs from the first.
    """
    checked = [_check_file(p) for p in paths]
    return _iter_frames(checked)


def _iter_frames(checked: list[tuple[Path, str]]) -> Iterator[np.ndarray]:
    first: tuple[tuple[int, ...], Path] | None = None
    for path, kind in checked:
        frames = tiff_frames(path) if kind == "tiff" else iter(read_png(path, None).data)
        for index, frame in enumerate(frames):
            if first is None:
                first = (frame.shape, path)
            elif frame.shape != first[0]:
                raise InvalidImageError(
                    f"Frame {index} of {path.name} is {frame.shape[1]}×{frame.shape[0]} pixels "
                    f"(shape {frame.shape}) but {first[1].name} has frames of "
                    f"{first[0][1]}×{first[0][0]} pixels (shape {first[0]}).",
                    "Use images of one size together, or crop them to the same size in Fiji.",
                )
            bad = count_not_finite(frame)
            if bad:
                raise not_finite_error(f"Frame {index} of {path.name}", bad, frame.size)
            yield frame
