"""Reading PNG files (8/16-bit gray, RGB(A), palette) with Pillow."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from .image import Image, ImageMetadata, check_dtype, check_size, damaged
from .layout import plan

logger = logging.getLogger(__name__)


def _pixels(path: Path) -> np.ndarray:
    """Pixels as ``(Y, X)`` or ``(Y, X, S)``; palette images become RGB(A)."""
    name = path.name
    try:
        with PILImage.open(path) as im:
            if getattr(im, "n_frames", 1) > 1:
                logger.warning("%s: animated PNG, reading its first frame only", name)
            mode = im.mode
            if mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif mode == "PA":
                im = im.convert("RGBA")
            data = np.asarray(im)
    except MemoryError:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, DecompressionBombError...
        raise damaged(name, exc) from exc
    if mode == "P":
        logger.info("%s: palette (indexed color) PNG converted to RGB", name)
    return data


def read_png(path: Path, channel: int | None) -> Image:
    name = path.name
    data = _pixels(path)
    layout = plan(name, "YX" if data.ndim == 2 else "YXS", data.shape, channel)
    source_dtype = check_dtype(name, data.dtype)
    check_size(name, layout.height, layout.width)
    data = layout.to_frames(data).astype(source_dtype, copy=False)
    return Image(data, ImageMetadata(layout.out_axes, source_dtype, None, None, str(path)))
