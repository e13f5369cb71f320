"""Training data: normalisation, train/validation split and on-the-fly patches.

Patches are cut from the images at random positions when a batch is drawn
(nothing is pre-materialised) and augmented by one of the 8 rotations and
mirrors of the square. A share of them may be drawn where the frames are bright
(:func:`place_weights`): in fluorescence images the bright structures hold most of
the squared error, and where a patch is drawn does not change what the network
learns to predict from it, only how much it sees of each kind of neighbourhood.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .errors import InvalidImageError


@dataclass(frozen=True)
class Normalisation:
    """The network sees ``(x - mean) / std``; its outputs are mapped back with the same."""

    mean: float
    std: float

    @classmethod
    def of(cls, frames: Sequence[np.ndarray]) -> Normalisation:
        total = sum(f.size for f in frames)
        mean = sum(float(f.sum(dtype=np.float64)) for f in frames) / total
        var = sum(float(((f - mean) ** 2).sum(dtype=np.float64)) for f in frames) / total
        return cls(mean=mean, std=max(var**0.5, 1e-6))

    def apply(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.mean) / self.std

    def invert(self, values: torch.Tensor) -> torch.Tensor:
        return values * self.std + self.mean


def as_frames(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Flatten images and stacks into a list of contiguous float32 2-D frames."""
    frames = []
    for image in images:
        array = np.asarray(image)
        if array.ndim < 2:
            raise InvalidImageError(f"An image has {array.ndim} dimensions; expected 2 or 3.")
        frames.extend(
            np.ascontiguousarray(f, dtype=np.float32) for f in array.reshape(-1, *array.shape[-2:])
        )
    if not frames:
        raise InvalidImageError("No training images were given.", "Add noisy images to train on.")
    return frames


def split_train_validation(
    frames: Sequence[np.ndarray], val_fraction: float, patch_size: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Hold out the bottom ``val_fraction`` of the rows of every frame for validation.

    The held-out strip is at least one patch high. Frames too small to split
    this way go whole to validation if there are several (the last ones), or
    are shared by both (with a single small frame nothing else is possible).
    """
    for f in frames:
        if min(f.shape) < patch_size:
            raise InvalidImageError(
                f"An image of {f.shape[1]}x{f.shape[0]} pixels is smaller than the "
                f"{patch_size}x{patch_size} training patches.",
                "Choose a smaller patch size, or train on larger images.",
            )
    train, val = [], []
    splittable = [f for f in frames if f.shape[0] >= 2 * patch_size]
    if len(splittable) == len(frames):
        for f in frames:
            rows = max(patch_size, round(f.shape[0] * val_fraction))
            train.append(f[: f.shape[0] - rows])
            val.append(f[f.shape[0] - rows :])
        return train, val
    if len(frames) > 1:
        n_val = max(1, round(len(frames) * val_fraction))
        return list(frames[:-n_val]), list(frames[-n_val:])
    return list(frames), list(frames)


_DIHEDRAL = 8


def _transform(patch: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th of the 8 rotations/mirrors of the last two axes."""
    if k >= 4:
        patch = patch.flip(-1)
    return torch.rot90(patch, k % 4, dims=(-2, -1))


class PatchSampler:
    """Draws random, augmented square patches from a list of 2-D frames.

    ``bright_share`` of the patches (in expectation) are placed by :func:`place_weights`,
    the rest uniformly; each frame keeps its share of the patches by its area.
    """

    def __init__(
        self, frames: Sequence[np.ndarray], patch_size: int, seed: int, bright_share: float = 0.0
    ) -> None:
        self.frames = [torch.from_numpy(np.ascontiguousarray(f)) for f in frames]
        self.patch_size = patch_size
        areas = np.array(
            [(f.shape[0] - patch_size + 1) * (f.shape[1] - patch_size + 1) for f in frames],
            dtype=np.float64,
        )
        self._weights = areas / areas.sum()
        self.rng = np.random.default_rng(seed)
        self._places = (
            [_Places(f, patch_size, bright_share) for f in frames] if bright_share > 0 else None
        )

    def sample(self, batch: int) -> torch.Tensor:
        """A (batch, 1, P, P) float32 tensor of raw (not normalised) patches."""
        p = self.patch_size
        which = self.rng.choice(len(self.frames), size=batch, p=self._weights)
        transforms = self.rng.integers(0, _DIHEDRAL, size=batch)
        patches = []
        for index, k in zip(which, transforms, strict=True):
            frame = self.frames[index]
            if self._places is None:
                y = int(self.rng.integers(0, frame.shape[0] - p + 1))
                x = int(self.rng.integers(0, frame.shape[1] - p + 1))
            else:
                y, x = self._places[index].draw(self.rng)
            patches.append(_transform(frame[y : y + p, x : x + p], int(k)))
        return torch.stack(patches).unsqueeze(1).contiguous()

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def place_weights(frame: np.ndarray, patch_size: int, step: int, bright_share: float) -> np.ndarray:
    """Probabilities of the patch positions on a grid of ``step`` (each standing for the
    up to step x step positions from it): ``1 - bright_share`` in proportion to those
    positions, ``bright_share`` in proportion to them times the square of the patch
    mean's excess over the frame's median (its background; none where the frame is
    flat)."""
    p = patch_size
    height, width = frame.shape
    ys, xs = np.arange(0, height - p + 1, step), np.arange(0, width - p + 1, step)
    integral = np.zeros((height + 1, width + 1))
    np.cumsum(frame, axis=0, dtype=np.float64, out=integral[1:, 1:])
    np.cumsum(integral[1:, 1:], axis=1, out=integral[1:, 1:])
    top, bottom = integral[ys], integral[ys + p]
    box = bottom[:, xs + p] - top[:, xs + p] - bottom[:, xs] + top[:, xs]
    positions = np.outer(
        np.minimum(step, height - p + 1 - ys), np.minimum(step, width - p + 1 - xs)
    )
    uniform = positions / positions.sum()
    excess = np.maximum(box / p**2 - np.median(frame), 0.0) ** 2 * positions
    total = excess.sum()
    if not (np.isfinite(total) and total > 0):
        return uniform
    return (1.0 - bright_share) * uniform + bright_share * excess / total


class _Places:
    """Where :class:`PatchSampler` puts a frame's patches: a grid cell by
    :func:`place_weights`, then uniformly within it."""

    def __init__(self, frame: np.ndarray, patch_size: int, bright_share: float) -> None:
        self.step = max(1, patch_size // 4)
        self.limits = (frame.shape[0] - patch_size + 1, frame.shape[1] - patch_size + 1)
        weights = place_weights(frame, patch_size, self.step, bright_share)
        self.columns = weights.shape[1]
        self.cumulative = np.cumsum(weights.ravel())

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        """A patch's top-left corner (y, x)."""
        drawn = rng.random() * self.cumulative[-1]
        cell = min(
            int(np.searchsorted(self.cumulative, drawn, side="right")), self.cumulative.size - 1
        )
        row, column = divmod(cell, self.columns)
        y0, x0 = row * self.step, column * self.step
        y = y0 + int(rng.integers(0, min(self.step, self.limits[0] - y0)))
        x = x0 + int(rng.integers(0, min(self.step, self.limits[1] - x0)))
        return y, x


def grid_patches(frames: Sequence[np.ndarray], patch_size: int, limit: int) -> torch.Tensor:
    """Up to ``limit`` non-overlapping patches on a regular grid (for validation)."""
    p = patch_size
    patches = [
        torch.from_numpy(np.ascontiguousarray(f[y : y + p, x : x + p]))
        for f in frames
        for y in range(0, f.shape[0] - p + 1, p)
        for x in range(0, f.shape[1] - p + 1, p)
    ]
    if len(patches) > limit:
        keep = np.linspace(0, len(patches) - 1, limit).round().astype(int)
        patches = [patches[i] for i in keep]
    return torch.stack(patches).unsqueeze(1)
