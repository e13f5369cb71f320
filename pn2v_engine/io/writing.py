"""Writing results as ImageJ-compatible TIFFs, atomically."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from pn2v_engine.errors import OutputError
from pn2v_engine.files import atomic_path

from .image import SUPPORTED_DTYPES, ImageMetadata
from .pixel_size import normalize_unit

logger = logging.getLogger(__name__)

_TIFF_SUFFIXES = (".tif", ".tiff")
#: Data types the ImageJ TIFF format can hold (see ``tifffile.TiffWriter.write``).
_IMAGEJ_DTYPES = ("uint8", "uint16", "int16", "float32")


def write_image(
    path: str | os.PathLike,
    data: np.ndarray,
    metadata: ImageMetadata | None = None,
    dtype: str = "float32",
    protect: Sequence[str | os.PathLike] = (),
) -> Path:
    """Write ``(Y, X)`` or ``(frames, Y, X)`` pixels atomically as a TIFF; return the path.

    ``metadata`` gives the axes, pixel size and unit to carry over, and the dtype for
    ``dtype="input"``. Integer dtypes are rounded and clipped to their range (NaN -> 0).
    Types ImageJ cannot hold are written as plain TIFFs. ``protect`` lists paths (the
    inputs) never to overwrite. Raises :class:`OutputError`, leaving ``path`` as it was.
    """
    path = Path(path)
    data = np.asarray(data)
    if data.ndim not in (2, 3):
        raise ValueError(f"data must be (Y, X) or (frames, Y, X), got shape {data.shape}")
    if dtype == "input":
        if metadata is None:
            raise ValueError("dtype='input' needs metadata with the source dtype")
        dtype = metadata.source_dtype
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"dtype must be 'input' or one of {SUPPORTED_DTYPES}, got {dtype!r}")
    if path.suffix.lower() not in _TIFF_SUFFIXES:
        raise OutputError(
            f"Cannot write {path.name}: results are saved as TIFF, not {path.suffix or 'no'!r}.",
            "Use a file name ending in .tif or .tiff.",
        )
    for other in protect:
        if _same_file(path, Path(other)):
            raise OutputError(
                f"Refusing to overwrite the input {path}.",
                "Choose another output folder or file name; inputs are never overwritten.",
            )
    if path.is_dir():
        raise OutputError(f"Cannot write {path}: it is a folder.", "Choose a file name.")

    pixels = data[0] if data.ndim == 3 and data.shape[0] == 1 else data
    if pixels.ndim == 2:
        axes = "YX"
    elif metadata is not None and len(metadata.axes) == 3 and metadata.axes[0] in "TZ":
        axes = metadata.axes
    else:
        axes = "TYX"
    pixels = _convert(pixels, np.dtype(dtype))
    imagej = dtype in _IMAGEJ_DTYPES
    if not imagej:
        logger.info("%s: %s is not an ImageJ type; writing a plain TIFF", path.name, dtype)
    pixel_size = metadata.pixel_size if metadata is not None else None
    unit = normalize_unit(metadata.unit) if metadata is not None else None

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        _tiff_write(fh, pixels, imagej=imagej, axes=axes, pixel_size=pixel_size, unit=unit)
    logger.debug("wrote %s (%s, axes %s, %s)", path, pixels.shape, axes, dtype)
    return path


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _convert(data: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast to ``dtype``; for integer types round to nearest and clip to the range."""
    if dtype.kind == "f":
        return data.astype(dtype, copy=False)
    if data.dtype.kind in "iub" and np.can_cast(data.dtype, dtype, casting="safe"):
        return data.astype(dtype)
    info = np.iinfo(dtype)
    out = np.empty(data.shape, dtype=dtype)
    flat_in, flat_out = data.reshape(-1, *data.shape[-2:]), out.reshape(-1, *data.shape[-2:])
    clipped = nans = 0
    for src, dst in zip(flat_in, flat_out, strict=True):  # frame by frame, to bound memory
        work = np.rint(src.astype(np.float64))
        nan = np.isnan(work)
        if nan.any():
            nans += int(nan.sum())
            work[nan] = 0
        clipped += int(np.count_nonzero((work < info.min) | (work > info.max)))
        dst[...] = np.clip(work, info.min, info.max)
    if clipped:
        logger.warning(
            "%d pixels clipped to the %s range [%d, %d]", clipped, dtype, info.min, info.max
        )
    if nans:
        logger.warning("%d NaN pixels written as 0 in %s", nans, dtype)
    return out


def _tiff_write(
    target: Any,
    data: np.ndarray,
    *,
    imagej: bool,
    axes: str,
    pixel_size: tuple[float, float] | None,
    unit: str | None,
) -> None:
    # The one call of tifffile.imwrite: tifffile 2026.5 renames imagej=True to kind="imagej".
    metadata: dict[str, Any] = {"axes": axes}
    kwargs: dict[str, Any] = {}
    if pixel_size is not None:
        kwargs["resolution"] = (1.0 / pixel_size[1], 1.0 / pixel_size[0])
        kwargs["resolutionunit"] = tifffile.RESUNIT.NONE
        if unit:
            metadata["unit"] = unit
    tifffile.imwrite(target, data, imagej=imagej, metadata=metadata, **kwargs)
