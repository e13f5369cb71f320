"""Tests for pn2v_engine.blind_spot: the U-Net that never sees the pixel it predicts."""

from __future__ import annotations

import pytest
import torch

from pn2v_engine.blind_spot import BlindSpotUNet
from pn2v_engine.masking import stratified_pixels
from pn2v_engine.unet import UNet


def _sensitivity(network: torch.nn.Module, shape: tuple[int, int], y: int, x: int) -> torch.Tensor:
    """|d output(y, x) / d input| over the image, for positive weights and input.

    Positive everywhere, no ReLU is ever cut off, so the gradient is non-zero exactly
    where the architecture connects.
    """
    torch.manual_seed(0)
    for parameter in network.parameters():
        torch.nn.init.uniform_(parameter, 0.01, 0.1)
    network = network.double()
    image = torch.rand(1, 1, *shape, dtype=torch.float64).add_(0.1).requires_grad_()
    (gradient,) = torch.autograd.grad(network(image)[0, :, y, x].sum(), image)
    return gradient[0, 0].abs()


@pytest.mark.parametrize(
    "depth, shape, y, x",
    [(1, (12, 12), 5, 6), (2, (32, 32), 0, 0), (2, (32, 48), 31, 20), (3, (40, 24), 17, 9)],
)
def test_output_never_sees_its_own_pixel(depth: int, shape, y: int, x: int) -> None:
    seen = _sensitivity(BlindSpotUNet(depth, features=4, n_samples=3), shape, y, x)
    assert seen[y, x] == 0
    height, width = shape
    neighbours = [(y + dy, x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    inside = [(a, b) for a, b in neighbours if 0 <= a < height and 0 <= b < width]
    assert all(seen[a, b] > 0 for a, b in inside), "every neighbour is context"


def test_the_plain_unet_does_see_its_own_pixel() -> None:
    seen = _sensitivity(UNet(2, features=4, n_samples=3), (16, 16), 7, 7)
    assert seen[7, 7] > 0


@pytest.mark.parametrize(
    "make",
    [
        lambda depth: BlindSpotUNet(depth, features=8, n_samples=1),
        lambda depth: UNet(depth, features=8, n_samples=1),
        lambda depth: UNet(depth, features=8, n_samples=1, top_skip=False),
    ],
    ids=["blind-spot network", "U-Net", "U-Net without its top skip"],
)
@pytest.mark.parametrize("depth", [2, 3])
def test_receptive_radius_bounds_what_a_pixel_sees(make, depth: int) -> None:
    network = make(depth)
    m = network.size_multiple
    size = (2 * network.receptive_radius + 8) // m * m + m
    centre = size // 2
    seen = _sensitivity(network, (size, size), centre, centre).nonzero()
    reach = int((seen - centre).abs().max())
    assert reach <= network.receptive_radius
    assert reach > network.receptive_radius // 2  # the bound is not vacuous


def test_samples_at_equals_forward_gathered() -> None:
    torch.manual_seed(1)
    network = BlindSpotUNet(2, features=4, n_samples=5)
    image = torch.randn(3, 1, 16, 16)
    pixels = stratified_pixels(3, 16, 16, 0.2, torch.Generator().manual_seed(0))
    full = network(image)
    gathered = full[pixels.batch, :, pixels.y, pixels.x]
    torch.testing.assert_close(network.samples_at(image, pixels), gathered)


def test_every_pixel_can_be_trained_on() -> None:
    pixels = stratified_pixels(2, 8, 8, 1.0, torch.Generator().manual_seed(0))
    assert len(pixels) == 2 * 8 * 8
