"""The U-Net of the PN2V paper, with a K-sample output head.

Depth ``d`` means ``d`` resolution levels (``d - 1`` max-poolings), two 3x3
convolutions with ReLU per level, features doubling per level, transposed
convolutions for upsampling and concatenating skip connections (the
``merge_mode="concat"``, ``up_mode="transpose"`` U-Net the paper used).
Optionally without the skip connection at the first level, as N2V2 (Höck et al.
2022): the full-resolution output is then built from the coarser levels only.

The final 1x1 convolution that maps features to the K samples is kept apart
(:attr:`UNet.head`) so that training can apply it only at the masked pixels
(:meth:`UNet.samples_at`): the loss needs the K samples there and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .masking import MaskedPixels

ConvFactory = Callable[[int, int], nn.Module]


def _same_conv(in_channels: int, out_channels: int) -> nn.Module:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


def _double_conv(in_channels: int, out_channels: int, conv: ConvFactory) -> nn.Sequential:
    return nn.Sequential(
        conv(in_channels, out_channels),
        nn.ReLU(inplace=True),
        conv(out_channels, out_channels),
        nn.ReLU(inplace=True),
    )


def add_levels(
    network: nn.Module, depth: int, features: int, conv: ConvFactory, top_skip: bool = True
) -> None:
    """Give ``network`` the U-Net's levels: ``down``, ``upsample`` and ``up``.

    Two 3x3 convolutions (made by ``conv``) per level, features doubling per level,
    transposed convolutions up; the attribute names are those of saved weights.
    Without ``top_skip`` the last decoder level reads only the upsampled features.
    """
    widths = [features * 2**level for level in range(depth)]
    merged = [w if level == 0 and not top_skip else 2 * w for level, w in enumerate(widths)]
    network.down = nn.ModuleList(
        _double_conv(1 if level == 0 else widths[level - 1], widths[level], conv)
        for level in range(depth)
    )
    network.upsample = nn.ModuleList(
        nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2)
        for level in range(depth - 1)
    )
    network.up = nn.ModuleList(
        _double_conv(merged[level], widths[level], conv) for level in range(depth - 1)
    )


def run_levels(
    network: nn.Module,
    image: torch.Tensor,
    pool: Callable[[torch.Tensor], torch.Tensor],
    top_skip: bool = True,
) -> torch.Tensor:
    """The levels of :func:`add_levels` on ``image``, with concatenating skips."""
    skips = []
    x = image
    last = len(network.down) - 1
    for level, block in enumerate(network.down):
        x = block(x)
        if level < last:
            skips.append(x)
            x = pool(x)
    for level in reversed(range(last)):
        x = network.upsample[level](x)
        if level or top_skip:
            x = torch.cat([x, skips[level]], dim=1)
        x = network.up[level](x)
    return x


class SampleNetwork(nn.Module):
    """A network mapping a (B, 1, H, W) image to K samples per pixel.

    H and W must be multiples of ``2 ** (depth - 1)`` (see :attr:`size_multiple`).
    Subclasses build :meth:`trunk` (features of width ``features`` per pixel) and
    :attr:`receptive_radius`, and call :meth:`_add_head` last (so that the random
    initialisation of the head follows the trunk's, as it always has).
    """

    def __init__(self, depth: int, features: int, n_samples: int, output_scale: float) -> None:
        super().__init__()
        if depth < 1 or features < 1 or n_samples < 1:
            raise ValueError("depth, features and n_samples must be positive")
        self.depth, self.features, self.n_samples = depth, features, n_samples
        self.output_scale = output_scale
        #: The trunk's arithmetic (:meth:`trunk_features`); the head stays float32.
        self.compute_dtype = torch.float32

    def _add_head(self) -> None:
        self.head = nn.Conv2d(self.features, self.n_samples, 1)

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (the pooling grid)."""
        return 2 ** (self.depth - 1)

    @property
    def receptive_radius(self) -> int:
        """An upper bound on how far (in pixels) an output pixel sees."""
        raise NotImplementedError

    def trunk(self, image: torch.Tensor) -> torch.Tensor:
        """Features (B, features, H, W) before the sample head."""
        raise NotImplementedError

    def trunk_features(self, image: torch.Tensor) -> torch.Tensor:
        """:meth:`trunk` run in :attr:`compute_dtype`, returned as float32."""
        if self.compute_dtype == torch.float32:
            return self.trunk(image)
        with torch.autocast(image.device.type, dtype=self.compute_dtype):
            return self.trunk(image).float()

    def apply_head(self, features: torch.Tensor) -> torch.Tensor:
        """The K samples for feature vectors of shape (N, features): shape (N, K)."""
        weight = self.head.weight.view(self.n_samples, self.features)
        return F.linear(features, weight, self.head.bias) * self.output_scale

    def samples_at(self, image: torch.Tensor, pixels: MaskedPixels) -> torch.Tensor:
        """The K samples at the given pixels only, shape (N, K)."""
        features = self.trunk_features(image)
        return self.apply_head(features[pixels.batch, :, pixels.y, pixels.x])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The K samples at every pixel, shape (B, K, H, W)."""
        return self.head(self.trunk_features(image)) * self.output_scale


class UNet(SampleNetwork):
    """The paper's U-Net (see the module's docstring)."""

    def __init__(
        self,
        depth: int = 3,
        features: int = 64,
        n_samples: int = 800,
        output_scale: float = 1.0,
        top_skip: bool = True,
    ) -> None:
        super().__init__(depth, features, n_samples, output_scale)
        self.top_skip = top_skip
        add_levels(self, depth, features, _same_conv, top_skip)
        self._add_head()

    @property
    def receptive_radius(self) -> int:
        radius = 0
        for level in range(self.depth):
            convs = 2 if level == self.depth - 1 else 4
            radius += convs * 2**level + (2**level if level else 0)
        return radius

    def trunk(self, image: torch.Tensor) -> torch.Tensor:
        return run_levels(self, image, lambda x: F.max_pool2d(x, 2), self.top_skip)
