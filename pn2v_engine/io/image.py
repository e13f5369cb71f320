"""The Image type and the checks every pixel array must pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pn2v_engine.errors import InvalidImageError

#: Pixel types that can be read (and written with ``dtype="input"``).
SUPPORTED_DTYPES = (
    "uint8",
    "uint16",
    "uint32",
    "int8",
    "int16",
    "int32",
    "float32",
    "float64",
)

#: Smallest frame, in pixels per side, that PN2V can work with.
MIN_SIDE = 8

FIJI_HINT = "Open it in Fiji and save it again with File > Save As > Tiff..."


@dataclass(frozen=True)
class ImageMetadata:
    """What is known about an image besides its pixels.

    ``axes`` is ``"YX"``, ``"TYX"`` or ``"ZYX"``; ``source_dtype`` the numpy dtype name
    in the file; ``pixel_size`` is ``(y, x)`` in ``unit`` (e.g. ``"micron"``), if known.
    """

    axes: str
    source_dtype: str
    pixel_size: tuple[float, float] | None = None
    unit: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class Image:
    """Pixels of shape ``(frames, Y, X)`` in the file's dtype, and their metadata."""

    data: np.ndarray
    metadata: ImageMetadata

    def __post_init__(self) -> None:
        if self.data.ndim != 3:
            raise ValueError(f"Image.data must be (frames, Y, X), got shape {self.data.shape}")

    @property
    def frames(self) -> int:
        return int(self.data.shape[0])

    def as_float32(self) -> np.ndarray:
        """The pixels as a new float32 array."""
        return np.array(self.data, dtype=np.float32, copy=True)


def check_dtype(name: str, dtype: np.dtype) -> str:
    """The native-byte-order name of ``dtype``; raise if PN2V cannot use it."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        raise InvalidImageError(
            f"{name} is a binary (1-bit, true/false) image, not intensities.",
            "Denoise the original 8- or 16-bit image instead of a mask.",
        )
    if dtype.kind == "c":
        raise InvalidImageError(
            f"{name} has complex-valued pixels ({dtype.name}).",
            "Save the magnitude or the real part as a 32-bit image in Fiji.",
        )
    native = dtype.newbyteorder("=")
    if native.name not in SUPPORTED_DTYPES:
        raise InvalidImageError(
            f"{name} has pixels of type {native.name}, which PN2V cannot read.",
            "Convert it to 8-bit, 16-bit or 32-bit (float) in Fiji (Image > Type).",
        )
    return native.name


def check_size(name: str, height: int, width: int) -> None:
    if height < MIN_SIDE or width < MIN_SIDE:
        raise InvalidImageError(
            f"{name} is only {width}×{height} pixels (width×height); "
            f"PN2V needs at least {MIN_SIDE}×{MIN_SIDE}.",
            "Use a larger image.",
        )


def count_not_finite(pixels: np.ndarray) -> int:
    if pixels.dtype.kind != "f":
        return 0
    return int(pixels.size - np.count_nonzero(np.isfinite(pixels)))


def not_finite_error(name: str, bad: int, total: int) -> InvalidImageError:
    return InvalidImageError(
        f"{name} has {bad} of {total} pixels that are not finite (NaN or infinity).",
        "Replace them with a number in Fiji (Process > Math > Remove NaNs...) or crop them away.",
    )


def damaged(name: str, exc: Exception) -> InvalidImageError:
    return InvalidImageError(
        f"Cannot read {name}: the file is damaged or uses an unsupported feature ({exc}).",
        FIJI_HINT,
    )
