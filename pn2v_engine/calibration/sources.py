"""Turning file paths or arrays into frame streams that can be read more than once."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pn2v_engine import io as image_io
from pn2v_engine.errors import CalibrationError

from .checks import IDEAL_FRAMES

#: What :func:`~pn2v_engine.calibration.iter_calibrate` accepts: file paths (each a 2-D
#: image or a stack; a folder stands for the images in it), a ``(frames, Y, X)`` array,
#: or 2-D arrays.
CalibrationSources = (
    str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | np.ndarray | Sequence[np.ndarray]
)


@dataclass
class FrameSource:
    """Frames that can be read, one at a time, more than once."""

    open: Callable[[], Iterator[np.ndarray]]
    total: int | None  # number of frames, if known before reading
    files: bool


def no_frames_error() -> CalibrationError:
    return CalibrationError(
        "No calibration frames were given.",
        "Choose the calibration stack, or the files of the calibration frames "
        f"(20 or more frames of a static scene, {IDEAL_FRAMES} is ideal).",
    )


def frame_source(sources: Any) -> FrameSource:
    """The frames of :data:`CalibrationSources`; files are read anew on every ``open()``."""
    if sources is None:
        raise no_frames_error()
    if _is_path(sources):
        sources = [sources]
    if isinstance(sources, np.ndarray):
        if sources.ndim not in (2, 3):
            raise CalibrationError(
                f"The calibration array has shape {sources.shape}; expected (frames, Y, X).",
                "Give a stack of single-channel frames.",
            )
        return array_source([sources])
    if not isinstance(sources, Iterable):
        raise TypeError(f"sources must be file paths or arrays, got {type(sources).__name__}")
    items = list(sources)
    if not items:
        raise no_frames_error()
    if all(_is_path(item) for item in items):
        paths = _expand_paths(items)
        if not paths:
            raise no_frames_error()
        return FrameSource(
            lambda: image_io.read_frames(paths), _count_file_frames(paths), files=True
        )
    if any(_is_path(item) for item in items):
        raise TypeError("sources must be all file paths or all arrays, not a mixture")
    return array_source([np.asarray(item) for item in items])


def array_source(arrays: Sequence[np.ndarray]) -> FrameSource:
    """The frames of 2-D arrays and ``(frames, Y, X)`` stacks, in order."""
    total = sum(1 if a.ndim == 2 else (a.shape[0] if a.ndim == 3 else 0) for a in arrays)
    return FrameSource(lambda: _array_frames(arrays), total, files=False)


def _is_path(item: object) -> bool:
    return isinstance(item, str | os.PathLike)


def _array_frames(arrays: Sequence[np.ndarray]) -> Iterator[np.ndarray]:
    for index, array in enumerate(arrays):
        if array.ndim == 2:
            yield array
        elif array.ndim == 3:
            yield from array
        else:
            raise CalibrationError(
                f"Calibration array {index} has shape {array.shape}; expected a 2-D frame "
                "(Y, X) or a stack (frames, Y, X).",
                "Give single-channel frames or stacks of frames.",
            )


def _expand_paths(items: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files in the order given; a folder stands for its images (natural order)."""
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths.extend(image_io.list_images([path]))
        else:
            paths.append(path)
    return paths


def _count_file_frames(paths: Sequence[Path]) -> int | None:
    """Frames in the files, from their headers; ``None`` where that is not possible.

    Only sizes the first pass's progress, so it follows :mod:`pn2v_engine.io` loosely:
    every axis but Y, X, channels and samples counts frames, and series of one shape and
    type stack.
    """
    import tifffile

    total = 0
    try:
        for path in paths:
            if path.suffix.lower() == ".png":
                total += 1
                continue
            with tifffile.TiffFile(path) as tif:
                series = list(tif.series)
                first = series[0]
                key = (first.get_axes(False), first.get_shape(False), first.dtype)
                same = all((s.get_axes(False), s.get_shape(False), s.dtype) == key for s in series)
                axes, shape = key[0].upper(), key[1]
                frames = math.prod(n for a, n in zip(axes, shape, strict=True) if a not in "YXCS")
                total += frames * (len(series) if same else 1)
    except Exception:  # the real read reports any problem with a proper message
        return None
    return total
