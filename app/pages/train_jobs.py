"""What the Train page runs in workers: the check of the images, and the training.

Qt-free job bodies (see :class:`app.workers.Job`) and the data they hand back.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import pn2v_engine as engine

if TYPE_CHECKING:
    from pn2v_engine import NoiseModel, RangeReport, Settings, TrainResult

#: Side of the centred crop of the first image that is denoised for the live preview.
PREVIEW_SIDE = 128
#: Previews per run (one every ``epochs // PREVIEWS`` epochs, and after the last).
PREVIEWS = 10


@dataclass(frozen=True)
class ImageCheck:
    """What the page needs to know about the training images before it can train."""

    frames: int
    height: int
    width: int
    low: float
    high: float
    range_report: RangeReport | None


@dataclass(frozen=True)
class PreviewCrop:
    """Yielded by the training job before training: the noisy crop the preview denoises."""

    crop: np.ndarray


def centred_crop(frame: np.ndarray, multiple: int, side: int = PREVIEW_SIDE) -> np.ndarray | None:
    """The centre of ``frame``, at most ``side`` pixels square, sides multiples of ``multiple``.

    ``None`` when the frame is smaller than ``multiple`` (the network's pixel grid).
    """
    height, width = (min(side, n) // multiple * multiple for n in frame.shape[-2:])
    if height == 0 or width == 0:
        return None
    top, left = (frame.shape[-2] - height) // 2, (frame.shape[-1] - width) // 2
    return np.array(frame[top : top + height, left : left + width], dtype=np.float32)


def check_images(
    paths: Sequence[Path], noise_model: NoiseModel | None, token: Any
) -> Generator[Any, None, ImageCheck]:
    """Job factory: read every image once for its size and range, keeping no pixels."""
    frames, height, width, low, high = 0, math.inf, math.inf, math.inf, -math.inf
    reports: list[RangeReport] = []
    for index, path in enumerate(paths):
        token.raise_if_cancelled()
        yield engine.StageProgress("Checking the images", index, len(paths))
        data = engine.read_image(path).data
        frames += data.shape[0]
        height, width = min(height, data.shape[1]), min(width, data.shape[2])
        low, high = min(low, float(data.min())), max(high, float(data.max()))
        if noise_model is not None:
            reports.append(noise_model.check_range(data))
    report = None
    if reports:
        report = engine.RangeReport(
            low=reports[0].low,
            high=reports[0].high,
            n_pixels=sum(r.n_pixels for r in reports),
            n_below=sum(r.n_below for r in reports),
            n_above=sum(r.n_above for r in reports),
        )
    return ImageCheck(frames, int(height), int(width), low, high, report)


def train(
    paths: Sequence[Path],
    noise_model: NoiseModel | None,
    settings: Settings,
    options: dict[str, Any],
    token: Any,
) -> Generator[Any, None, TrainResult]:
    """Job factory: read the images, yield the preview crop, then train (``iter_train``)."""
    images = []
    for index, path in enumerate(paths):
        token.raise_if_cancelled()
        yield engine.StageProgress("Reading the images", index, len(paths))
        images.append(engine.read_image(path).as_float32())
    crop = centred_crop(images[0][0], 2 ** (settings.network.depth - 1))
    if crop is not None:
        yield PreviewCrop(crop)
    return (
        yield from engine.iter_train(
            images, noise_model, settings, cancel=token, preview=crop, **options
        )
    )
