"""Blind-spot masking as in Noise2Void and PN2V.

About ``fraction`` of the pixels of each patch are chosen by stratified
sampling (one uniformly random pixel per box of side ``1/sqrt(fraction)``; 312
per 100x100 patch at the default 3.12%), and each is replaced by a uniformly
random *other* pixel of its ``(2r+1) x (2r+1)`` window that lies inside the
patch. Replacements read the unmodified patch, so a masked pixel's own value
never reaches the network input at its position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MaskedPixels:
    """Flat coordinates of the masked pixels of a batch (all ``LongTensor`` of length N)."""

    batch: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor

    def __len__(self) -> int:
        return int(self.batch.numel())

    def values(self, images: torch.Tensor) -> torch.Tensor:
        """The pixel values of ``images`` (B, 1, H, W) at the masked coordinates, shape (N,)."""
        return images[self.batch, 0, self.y, self.x]


def stratified_pixels(
    batch: int, height: int, width: int, fraction: float, generator: torch.Generator
) -> MaskedPixels:
    """One random pixel per stratification box, independently for each patch."""
    if not 0 < fraction <= 1:
        raise ValueError(f"masking fraction must be in (0, 1], got {fraction}")
    box = 1.0 / math.sqrt(fraction)
    ny, nx = math.ceil(height / box), math.ceil(width / box)
    origin_y = (torch.arange(ny, dtype=torch.float64) * box).view(1, ny, 1)
    origin_x = (torch.arange(nx, dtype=torch.float64) * box).view(1, 1, nx)
    offsets = torch.rand((2, batch, ny, nx), generator=generator, dtype=torch.float64) * box
    y = (origin_y + offsets[0]).floor().long()
    x = (origin_x + offsets[1]).floor().long()
    b = torch.arange(batch).view(batch, 1, 1).expand(batch, ny, nx)
    inside = (y < height) & (x < width)
    # Neighbouring boxes share the pixel row/column their fractional edge falls in,
    # so two boxes can draw the same pixel: keep it once (sorted by batch, y, x).
    flat = torch.unique((b[inside] * height + y[inside]) * width + x[inside])
    return MaskedPixels(flat // (height * width), flat // width % height, flat % width)


def _neighbour_offset(
    position: torch.Tensor, size: int, radius: int, generator: torch.Generator
) -> torch.Tensor:
    low = torch.clamp(-position, min=-radius)
    high = torch.clamp(size - 1 - position, max=radius)
    u = torch.rand(position.shape, generator=generator, dtype=torch.float64)
    return low + (u * (high - low + 1)).floor().long().clamp(max=high - low)


def replace_with_neighbours(
    patches: torch.Tensor, pixels: MaskedPixels, generator: torch.Generator, radius: int = 2
) -> torch.Tensor:
    """A copy of ``patches`` (B, 1, H, W) with each masked pixel replaced by a random neighbour.

    The neighbour is uniform over the pixels of the window inside the patch,
    excluding the masked pixel itself.
    """
    _, _, height, width = patches.shape
    dy = _neighbour_offset(pixels.y, height, radius, generator)
    dx = _neighbour_offset(pixels.x, width, radius, generator)
    same = (dy == 0) & (dx == 0)
    while bool(same.any()):
        idx = same.nonzero().squeeze(1)
        sub = MaskedPixels(pixels.batch[idx], pixels.y[idx], pixels.x[idx])
        dy[idx] = _neighbour_offset(sub.y, height, radius, generator)
        dx[idx] = _neighbour_offset(sub.x, width, radius, generator)
        same = (dy == 0) & (dx == 0)
    masked = patches.clone()
    masked[pixels.batch, 0, pixels.y, pixels.x] = patches[
        pixels.batch, 0, pixels.y + dy, pixels.x + dx
    ]
    return masked
