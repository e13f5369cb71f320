"""Pixel size and unit of a TIFF, from OME, ImageJ or plain TIFF tags."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import tifffile

_MICRON_SPELLINGS = {"micron", "microns", "um", "µm", "μm", "\\u00b5m", "micrometer"}
_NO_UNIT = {"", "pixel", "pixels", "none"}

PixelSize = tuple[tuple[float, float] | None, str | None]


def normalize_unit(unit: Any) -> str | None:
    """``"micron"`` for any spelling of it, ``None`` for no unit."""
    if not isinstance(unit, str) or unit.strip().lower() in _NO_UNIT:
        return None
    unit = unit.strip()
    return "micron" if unit.lower() in _MICRON_SPELLINGS else unit


def _ome_pixel_size(xml: str) -> PixelSize:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None, None
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] != "Pixels":
            continue
        try:
            size_x = float(element.attrib["PhysicalSizeX"])
            size_y = float(element.attrib["PhysicalSizeY"])
        except (KeyError, ValueError):
            return None, None
        unit = element.attrib.get("PhysicalSizeXUnit", "µm")
        if size_x > 0 and size_y > 0:
            return (size_y, size_x), normalize_unit(unit)
        return None, None
    return None, None


def tiff_pixel_size(tif: tifffile.TiffFile, page: Any) -> PixelSize:
    """Pixel size ``(y, x)`` and unit, or ``(None, None)`` if uncalibrated."""
    if tif.is_ome and tif.ome_metadata:
        size, unit = _ome_pixel_size(tif.ome_metadata)
        if size is not None:
            return size, unit
    if page is None or 282 not in page.tags or 283 not in page.tags:  # X/YResolution
        return None, None
    xres, yres = page.get_resolution()
    if not (xres > 0 and yres > 0 and np.isfinite(xres) and np.isfinite(yres)):
        return None, None
    ij = tif.imagej_metadata
    shaped = tif.shaped_metadata
    if ij is not None:
        unit = normalize_unit(ij.get("unit"))
        if unit is None and ij.get("unit") is not None:
            return None, None  # ImageJ says "pixel": uncalibrated
    elif shaped and isinstance(shaped[0], dict) and "unit" in shaped[0]:
        unit = normalize_unit(shaped[0]["unit"])
    else:
        unit = {2: "inch", 3: "cm", 4: "mm", 5: "micron"}.get(int(page.resolutionunit))
    if unit is None and xres == 1 and yres == 1:
        return None, None
    return (1.0 / float(yres), 1.0 / float(xres)), unit
