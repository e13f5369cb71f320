"""How a file's axes become a stack of 2-D frames ``(frames, Y, X)``.

* Singleton axes are dropped, whatever their letter.
* ``C`` (channels) or ``S`` (RGB/RGBA samples) with size > 1 are refused unless
  ``channel`` picks one.
* Every other axis with size > 1 (``T``, ``Z``, ``I``, ``Q``...) is a frames axis;
  several are flattened in file order (for ``TZYX``: ``frame = t * nz + z``).
* The recorded axes are ``"YX"`` for one frame, ``"ZYX"`` when Z is the only frames
  axis, and ``"TYX"`` otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pn2v_engine.errors import InvalidImageError

from .image import FIJI_HINT

logger = logging.getLogger(__name__)

_CHANNEL_AXES = "CS"


@dataclass(frozen=True)
class Layout:
    """How a source array (axes, shape) maps onto ``(frames, Y, X)``."""

    axes: str  # full axes of the source, e.g. "TZCYXS"
    shape: tuple[int, ...]
    channel_axis: int | None  # index in ``axes`` of the selected channel axis
    channel: int | None
    out_axes: str
    frames: int
    height: int
    width: int

    def to_frames(self, data: np.ndarray) -> np.ndarray:
        """Reshape an array of this layout's full shape to ``(frames, Y, X)``."""
        data = data.reshape(self.shape)
        axes = self.axes
        if self.channel_axis is not None:
            data = np.take(data, self.channel, axis=self.channel_axis)
            axes = axes[: self.channel_axis] + axes[self.channel_axis + 1 :]
        order = [i for i, a in enumerate(axes) if a not in "YX"] + [
            axes.index("Y"),
            axes.index("X"),
        ]
        data = np.transpose(data, order)
        return np.ascontiguousarray(data.reshape(self.frames, self.height, self.width))


def _squeezed(axes: str, shape: Sequence[int]) -> tuple[str, tuple[int, ...]]:
    """Axes and shape without singleton axes (Y and X are always kept)."""
    kept = [(a, n) for a, n in zip(axes, shape, strict=True) if n != 1 or a in "YX"]
    return "".join(a for a, _ in kept), tuple(n for _, n in kept)


def plan(name: str, axes: str, shape: Sequence[int], channel: int | None) -> Layout:
    """Decide how ``axes``/``shape`` become frames; raise for unusable layouts."""
    axes = axes.upper()
    shape = tuple(int(n) for n in shape)
    sq_axes, sq_shape = _squeezed(axes, shape)
    if any(n == 0 for n in shape):
        raise InvalidImageError(
            f"{name} contains no pixels (axes {sq_axes}, shape {sq_shape}).",
            "The file may be incomplete; export the image again.",
        )
    if axes.count("Y") != 1 or axes.count("X") != 1:
        raise InvalidImageError(
            f"{name} has an unsupported layout (axes {sq_axes}, shape {sq_shape}).",
            FIJI_HINT,
        )
    height, width = shape[axes.index("Y")], shape[axes.index("X")]

    multi = [i for i, a in enumerate(axes) if a in _CHANNEL_AXES and shape[i] > 1]
    channel_axis: int | None = None
    if len(multi) > 1:
        raise InvalidImageError(
            f"{name} has both channels and color samples (axes {sq_axes}, shape {sq_shape}); "
            "PN2V denoises one channel at a time.",
            "Split the channels in Fiji (Image > Color > Split Channels) and save each one.",
        )
    if multi:
        channel_axis = multi[0]
        count = shape[channel_axis]
        if channel is None:
            if axes[channel_axis] == "S":
                kind = {3: "an RGB", 4: "an RGBA"}.get(count, f"a {count}-sample")
                what = f"is {kind} color image"
            else:
                what = f"has {count} channels"
            raise InvalidImageError(
                f"{name} {what} (axes {sq_axes}, shape {sq_shape}); "
                "PN2V denoises one channel at a time.",
                "Choose a channel (channel=...) or split the channels in Fiji.",
            )
        if not 0 <= channel < count:
            raise InvalidImageError(
                f"Channel {channel} does not exist in {name}: it has {count} channels "
                f"(0 to {count - 1}; axes {sq_axes}, shape {sq_shape}).",
                f"Choose a channel between 0 and {count - 1}.",
            )
    elif channel is not None and channel != 0:
        raise InvalidImageError(
            f"Channel {channel} does not exist in {name}: it has a single channel "
            f"(axes {sq_axes}, shape {sq_shape}).",
            "Leave the channel unset, or choose channel 0.",
        )

    frame_axes = [(a, n) for a, n in zip(axes, shape, strict=True) if a not in "YX" + _CHANNEL_AXES]
    frames = int(np.prod([n for _, n in frame_axes], dtype=np.int64))
    letters = [a for a, n in frame_axes if n > 1]
    out_axes = "YX" if not letters else ("ZYX" if letters == ["Z"] else "TYX")
    if len(letters) > 1:
        logger.info("%s: axes %s flattened into %d frames", name, "".join(letters), frames)
    return Layout(
        axes=axes,
        shape=shape,
        channel_axis=channel_axis,
        channel=channel if channel_axis is not None else None,
        out_axes=out_axes,
        frames=frames,
        height=height,
        width=width,
    )
