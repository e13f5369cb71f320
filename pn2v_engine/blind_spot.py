"""A U-Net whose output at a pixel never sees that pixel (Laine et al. 2019).

Masking (:mod:`pn2v_engine.masking`) hides a few pixels of each training patch
and trains only there. This network has the blind spot built in, so every pixel
of a patch can be trained on, and its input is never altered:

- each branch sees only the rows at or above the output's row: its 3x3
  convolutions are padded with two rows on top and none below, and each
  max-pooling is preceded by a shift of one row down;
- after the branch, a last shift of one row down leaves it the half-plane
  strictly above the pixel;
- the image passes through the same branch four times, rotated by 0, 90, 180 and
  270 degrees; rotated back, the four half-planes cover every pixel but the
  centre, and 1x1 convolutions merge them into the features the K-sample head
  reads.

It costs four trunk passes per image; the K-sample head is
:class:`pn2v_engine.unet.SampleNetwork`'s.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .unet import SampleNetwork, add_levels, run_levels

_ROTATIONS = (0, 1, 2, 3)


def _shift_down(x: torch.Tensor) -> torch.Tensor:
    """Move the feature map one row down, zeros entering at the top."""
    return F.pad(x, (0, 0, 1, 0))[..., : x.shape[-2], :]


class _UpwardConv(nn.Conv2d):
    """A 3x3 convolution whose output at row y reads input rows y-2 to y only."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 3, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (1, 1, 2, 0)))


def _shifted_pool(x: torch.Tensor) -> torch.Tensor:
    # pooled row i covers rows 2i-1 and 2i; upsampled, it feeds rows 2i and 2i+1, so no
    # row reads below itself
    return F.max_pool2d(_shift_down(x), 2)


class _UpwardUNet(nn.Module):
    """The paper's U-Net in which every feature at row y depends on rows <= y only."""

    def __init__(self, depth: int, features: int) -> None:
        super().__init__()
        add_levels(self, depth, features, _UpwardConv)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return _shift_down(run_levels(self, image, _shifted_pool))


class BlindSpotUNet(SampleNetwork):
    """K samples per pixel, each pixel's own value unseen (see the module's docstring)."""

    def __init__(
        self, depth: int = 3, features: int = 64, n_samples: int = 800, output_scale: float = 1.0
    ) -> None:
        super().__init__(depth, features, n_samples, output_scale)
        self.branch = _UpwardUNet(depth, features)
        self.merge = nn.Sequential(
            nn.Conv2d(4 * features, 2 * features, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * features, features, 1),
            nn.ReLU(inplace=True),
        )
        self._add_head()

    @property
    def receptive_radius(self) -> int:
        radius = 1  # the branch's last shift
        for level in range(self.depth):
            convs = 2 if level == self.depth - 1 else 4
            # an upward convolution reaches two rows; each pooling shifts one row first
            radius += 2 * convs * 2**level + (2 * 2**level if level else 0)
        return radius

    def trunk(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        if height == width:  # one pass over the four rotations stacked in the batch
            rotated = torch.cat([torch.rot90(image, r, (2, 3)) for r in _ROTATIONS])
            halves = self.branch(rotated).chunk(len(_ROTATIONS))
        else:
            halves = tuple(self.branch(torch.rot90(image, r, (2, 3))) for r in _ROTATIONS)
        unrotated = [torch.rot90(h, -r, (2, 3)) for h, r in zip(halves, _ROTATIONS, strict=True)]
        return self.merge(torch.cat(unrotated, dim=1))
