"""Reading TIFF files, whole or one frame at a time.

A TIFF whose image series all have the same axes, shape and dtype (e.g. pages written
one by one) is read as one stack, as Fiji does; otherwise only the first series is
read and a warning is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from pn2v_engine.errors import InvalidImageError

from .image import FIJI_HINT, Image, ImageMetadata, check_dtype, check_size, damaged
from .layout import Layout, plan
from .pixel_size import tiff_pixel_size

logger = logging.getLogger(__name__)


def _series(tif: tifffile.TiffFile, name: str) -> list[Any]:
    """The series to read: all of them if they stack, else the first."""
    series = list(tif.series)
    if not series:
        raise InvalidImageError(f"{name} contains no images.", FIJI_HINT)
    first = series[0]
    key = (first.get_axes(False), first.get_shape(False), first.dtype)
    if len(series) > 1:
        if all((s.get_axes(False), s.get_shape(False), s.dtype) == key for s in series):
            return series
        logger.warning("%s: reading the first of %d image series", name, len(series))
    return [first]


def _checked_layout(series: list[Any], name: str, channel: int | None) -> tuple[Layout, str]:
    """The layout of ``series`` and its native dtype name; raise if unusable."""
    axes, shape = series[0].get_axes(False), series[0].get_shape(False)
    if len(series) > 1:
        axes, shape = "I" + axes, (len(series), *shape)
    layout = plan(name, axes, shape, channel)
    source_dtype = check_dtype(name, series[0].dtype)
    check_size(name, layout.height, layout.width)
    return layout, source_dtype


def read_tiff(path: Path, channel: int | None) -> Image:
    name = path.name
    try:
        with tifffile.TiffFile(path) as tif:
            series = _series(tif, name)
            layout, source_dtype = _checked_layout(series, name, channel)
            page = series[0].keyframe if series[0].pages else None
            size, unit = tiff_pixel_size(tif, page)
            arrays = [s.asarray() for s in series]
    except (InvalidImageError, MemoryError):
        raise
    except Exception as exc:  # tifffile raises many kinds on damaged files
        raise damaged(name, exc) from exc
    data = arrays[0] if len(arrays) == 1 else np.stack(arrays)
    data = layout.to_frames(data).astype(source_dtype, copy=False)
    return Image(data, ImageMetadata(layout.out_axes, source_dtype, size, unit, str(path)))


def tiff_frames(path: Path) -> Iterator[np.ndarray]:
    """Yield the 2-D frames of a TIFF one at a time, in the file's dtype."""
    name = path.name
    try:
        tif = tifffile.TiffFile(path)
    except MemoryError:
        raise
    except Exception as exc:
        raise damaged(name, exc) from exc
    with tif:
        try:
            series = _series(tif, name)
            layout, source_dtype = _checked_layout(series, name, None)
        except (InvalidImageError, MemoryError):
            raise
        except Exception as exc:
            raise damaged(name, exc) from exc
        plane = layout.height * layout.width
        per_series = layout.frames // len(series)
        for s in series:
            for frame in _series_frames(tif, s, per_series, plane, layout, name):
                yield frame.reshape(layout.height, layout.width).astype(source_dtype, copy=False)


def _series_frames(
    tif: tifffile.TiffFile, series: Any, count: int, plane: int, layout: Layout, name: str
) -> Iterator[np.ndarray]:
    """Frames of one series: page by page, contiguous reads, or (last resort) all at once."""
    try:
        pages = list(series.pages)
        readers: list[Callable[[], np.ndarray]]
        if (
            series.transform is None
            and len(pages) == count
            and all(p is not None and int(np.prod(p.shape)) == plane for p in pages)
        ):
            readers = [p.asarray for p in pages]
        elif series.transform is None and series.dataoffset is not None:
            dtype = np.dtype(series.dtype).newbyteorder(tif.byteorder)
            offset, nbytes = series.dataoffset, plane * dtype.itemsize

            def _reader(i: int) -> Callable[[], np.ndarray]:
                def read() -> np.ndarray:
                    tif.filehandle.seek(offset + i * nbytes)
                    return tif.filehandle.read_array(dtype, plane)

                return read

            readers = [_reader(i) for i in range(count)]
        else:
            logger.debug("%s: series cannot be read frame by frame; reading it whole", name)
            whole = Layout(
                series.get_axes(False),
                series.get_shape(False),
                None,
                None,
                layout.out_axes,
                count,
                layout.height,
                layout.width,
            )
            stack = whole.to_frames(series.asarray())
            readers = [lambda f=f: f for f in stack]
    except MemoryError:
        raise
    except Exception as exc:
        raise damaged(name, exc) from exc
    for index, read in enumerate(readers):
        try:
            frame = np.asarray(read())
        except MemoryError:
            raise
        except Exception as exc:
            raise damaged(f"frame {index} of {name}", exc) from exc
        yield frame
