"""Tests for pn2v_engine.masking: stratified blind-spot pixels and neighbour replacement."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pn2v_engine.masking import MaskedPixels, replace_with_neighbours, stratified_pixels
from pn2v_engine.unet import UNet


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _unique_patches(batch: int, height: int, width: int) -> torch.Tensor:
    """Patches whose every pixel holds a different value (its flat index), float64."""
    return torch.arange(batch * height * width, dtype=torch.float64).view(batch, 1, height, width)


def _all_pixels(batch: int, height: int, width: int) -> MaskedPixels:
    b, y, x = torch.meshgrid(
        torch.arange(batch), torch.arange(height), torch.arange(width), indexing="ij"
    )
    return MaskedPixels(b.reshape(-1), y.reshape(-1), x.reshape(-1))


def _sources(
    patches: torch.Tensor, masked: torch.Tensor, pixels: MaskedPixels
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(batch, y, x) of the original pixel each masked pixel's new value came from."""
    _, _, height, width = patches.shape
    values = masked[pixels.batch, 0, pixels.y, pixels.x].numpy().astype(np.int64)
    b, rest = np.divmod(values, height * width)
    y, x = np.divmod(rest, width)
    return b, y, x


# ----------------------------------------------------------------------- stratified


def test_stratified_default_fraction_gives_312_per_100x100_patch() -> None:
    pixels = stratified_pixels(400, 100, 100, 0.0312, _generator(0))
    counts = np.bincount(pixels.batch.numpy(), minlength=400)
    assert abs(counts.mean() - 312) < 10
    box = 1 / math.sqrt(0.0312)
    full_boxes = math.floor(100 / box) ** 2
    all_boxes = math.ceil(100 / box) ** 2
    assert counts.min() >= full_boxes
    assert counts.max() <= all_boxes
    assert len(pixels) == counts.sum()


@pytest.mark.parametrize("height, width", [(100, 100), (17, 23), (16, 16), (64, 48)])
def test_stratified_coordinates_inside_patch(height: int, width: int) -> None:
    pixels = stratified_pixels(50, height, width, 0.0312, _generator(1))
    assert pixels.batch.dtype == pixels.y.dtype == pixels.x.dtype == torch.long
    assert len(pixels) > 0
    assert int(pixels.y.min()) >= 0 and int(pixels.y.max()) < height
    assert int(pixels.x.min()) >= 0 and int(pixels.x.max()) < width
    assert int(pixels.batch.min()) == 0 and int(pixels.batch.max()) == 49
    # no pixel is drawn twice in one patch
    flat = (pixels.batch * height + pixels.y) * width + pixels.x
    assert flat.unique().numel() == flat.numel()


@pytest.mark.parametrize(
    "fraction, height, width", [(1 / 16, 100, 100), (1 / 25, 50, 35), (1 / 16, 30, 22)]
)
def test_stratified_exactly_one_pixel_per_box(fraction: float, height: int, width: int) -> None:
    """With an integer box side every pixel's box is known: each box gets one pixel.

    Boxes that reach over the patch edge hold at most one (their pixel may fall outside).
    """
    box = round(1 / math.sqrt(fraction))
    batch = 200
    pixels = stratified_pixels(batch, height, width, fraction, _generator(2))
    ny, nx = math.ceil(height / box), math.ceil(width / box)
    index = (pixels.batch * ny + pixels.y // box) * nx + pixels.x // box
    counts = torch.bincount(index, minlength=batch * ny * nx).view(batch, ny, nx)
    full_y, full_x = height // box, width // box
    assert torch.all(counts[:, :full_y, :full_x] == 1)
    assert torch.all(counts <= 1)
    # a partial box is hit with probability (inside part) / box
    if height % box:
        share = counts[:, full_y, :full_x].float().mean().item()
        assert share == pytest.approx((height % box) / box, abs=0.05)


def test_stratified_position_uniform_within_box() -> None:
    box = 4
    pixels = stratified_pixels(400, 64, 64, 1 / box**2, _generator(3))
    offsets = (pixels.y % box) * box + pixels.x % box
    counts = np.bincount(offsets.numpy(), minlength=box * box).astype(float)
    expected = counts.sum() / counts.size
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 50  # 15 degrees of freedom: mean 15, sd 5.5


def test_stratified_patches_independent_and_seeded() -> None:
    a = stratified_pixels(4, 100, 100, 0.0312, _generator(5))
    b = stratified_pixels(4, 100, 100, 0.0312, _generator(5))
    assert torch.equal(a.y, b.y) and torch.equal(a.x, b.x) and torch.equal(a.batch, b.batch)
    first = set(zip(a.y[a.batch == 0].tolist(), a.x[a.batch == 0].tolist(), strict=True))
    second = set(zip(a.y[a.batch == 1].tolist(), a.x[a.batch == 1].tolist(), strict=True))
    assert first != second


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_stratified_rejects_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError):
        stratified_pixels(1, 10, 10, fraction, _generator(0))


def test_masked_pixels_values() -> None:
    images = _unique_patches(2, 5, 6)
    pixels = MaskedPixels(torch.tensor([0, 1]), torch.tensor([4, 0]), torch.tensor([5, 2]))
    assert len(pixels) == 2
    assert pixels.values(images).tolist() == [29.0, 32.0]


# -------------------------------------------------------------------- replacement


def _check_replacements(
    patches: torch.Tensor, masked: torch.Tensor, pixels: MaskedPixels, radius: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Assert the replacement rules; return the offsets (dy, dx) of the sources."""
    _, _, height, width = patches.shape
    b, sy, sx = _sources(patches, masked, pixels)
    y, x = pixels.y.numpy(), pixels.x.numpy()
    dy, dx = sy - y, sx - x
    assert np.array_equal(b, pixels.batch.numpy()), "replacement came from another patch"
    assert np.all(np.abs(dy) <= radius) and np.all(np.abs(dx) <= radius)
    assert not np.any((dy == 0) & (dx == 0)), "a masked pixel kept its own value"
    assert np.all((sy >= 0) & (sy < height) & (sx >= 0) & (sx < width))
    # the value is the ORIGINAL value at the source position
    source_values = patches[pixels.batch, 0, torch.from_numpy(sy), torch.from_numpy(sx)]
    assert torch.equal(masked[pixels.batch, 0, pixels.y, pixels.x], source_values)
    # pixels that are not masked are untouched, and the input is not modified
    untouched = torch.ones_like(patches, dtype=torch.bool)
    untouched[pixels.batch, 0, pixels.y, pixels.x] = False
    assert torch.equal(masked[untouched], patches[untouched])
    return dy, dx


def test_replacement_stratified_patches() -> None:
    patches = _unique_patches(20, 100, 100)
    original = patches.clone()
    gen = _generator(7)
    pixels = stratified_pixels(20, 100, 100, 0.0312, gen)
    masked = replace_with_neighbours(patches, pixels, gen)
    assert torch.equal(patches, original)
    _check_replacements(patches, masked, pixels)


def test_replacement_every_pixel_of_small_patches_many_draws() -> None:
    """Masking every pixel of 16x16 patches stresses borders, corners and rows 0/1/14/15."""
    patches = _unique_patches(8, 16, 16)
    pixels = _all_pixels(8, 16, 16)
    gen = _generator(8)
    for _ in range(40):
        masked = replace_with_neighbours(patches, pixels, gen)
        _check_replacements(patches, masked, pixels)


@pytest.mark.parametrize("radius", [1, 3])
def test_replacement_other_radius(radius: int) -> None:
    patches = _unique_patches(4, 16, 20)
    pixels = _all_pixels(4, 16, 20)
    dy, dx = _check_replacements(
        patches, replace_with_neighbours(patches, pixels, _generator(9), radius), pixels, radius
    )
    assert np.abs(dy).max() == radius and np.abs(dx).max() == radius


def test_replacement_tiny_patch() -> None:
    """A 2x1 patch: the only neighbour is the other pixel."""
    patches = torch.tensor([[[[1.0], [2.0]]]])
    pixels = MaskedPixels(torch.tensor([0, 0]), torch.tensor([0, 1]), torch.tensor([0, 0]))
    masked = replace_with_neighbours(patches, pixels, _generator(0))
    assert masked.flatten().tolist() == [2.0, 1.0]


def _offset_counts(y: int, x: int, size: int, draws: int, seed: int) -> dict:
    """Offsets of the replacement of pixel (y, x), masked in each of ``draws`` patches."""
    patches = _unique_patches(draws, size, size)
    pixels = MaskedPixels(
        torch.arange(draws),
        torch.full((draws,), y, dtype=torch.long),
        torch.full((draws,), x, dtype=torch.long),
    )
    masked = replace_with_neighbours(patches, pixels, _generator(seed))
    dy, dx = _check_replacements(patches, masked, pixels)
    counts: dict[tuple[int, int], int] = {}
    for key in zip(dy.tolist(), dx.tolist(), strict=True):
        counts[key] = counts.get(key, 0) + 1
    return counts


def _chi2(counts: dict, cells: list) -> float:
    observed = np.array([counts.get(c, 0) for c in cells], dtype=float)
    assert observed.sum() == sum(counts.values()), "offsets outside the expected window"
    expected = observed.sum() / len(cells)
    return float(((observed - expected) ** 2 / expected).sum())


def test_replacement_uniform_over_24_neighbours_interior() -> None:
    counts = _offset_counts(2, 2, 5, draws=24 * 1500, seed=10)
    cells = [(a, b) for a in range(-2, 3) for b in range(-2, 3) if (a, b) != (0, 0)]
    assert set(counts) == set(cells)
    # 23 degrees of freedom: mean 23, sd 6.8; 60 is p ~ 4e-5
    assert _chi2(counts, cells) < 60


@pytest.mark.parametrize(
    "y, x, size, rows, cols",
    [
        (0, 0, 16, range(0, 3), range(0, 3)),  # corner: 8 neighbours
        (1, 1, 8, range(-1, 3), range(-1, 3)),  # 15 neighbours
        (15, 15, 16, range(-2, 1), range(-2, 1)),  # opposite corner
        (14, 0, 16, range(-2, 2), range(0, 3)),  # second-to-last row, first column
        (0, 3, 7, range(0, 3), range(-2, 3)),  # top edge
        (4, 6, 7, range(-2, 3), range(-2, 1)),  # right edge
    ],
)
def test_replacement_uniform_at_borders(
    y: int, x: int, size: int, rows: range, cols: range
) -> None:
    cells = [(a, b) for a in rows for b in cols if (a, b) != (0, 0)]
    counts = _offset_counts(y, x, size, draws=len(cells) * 1000, seed=11 + y + x)
    assert set(counts) == set(cells)
    dof = len(cells) - 1
    assert _chi2(counts, cells) < dof + 6 * math.sqrt(2 * dof)


# -------------------------------------------------------------------- blind spot


def test_masked_input_never_depends_on_own_value() -> None:
    """Changing the original value of a masked pixel (and re-masking with the same
    generator state) leaves the network input at that pixel unchanged."""
    patches = torch.rand(6, 1, 32, 32, generator=_generator(12), dtype=torch.float64)
    pixels = stratified_pixels(6, 32, 32, 0.0312, _generator(13))
    state = _generator(14).get_state()
    gen = torch.Generator()
    gen.set_state(state)
    masked = replace_with_neighbours(patches, pixels, gen)
    for i in range(len(pixels)):
        b, y, x = int(pixels.batch[i]), int(pixels.y[i]), int(pixels.x[i])
        changed = patches.clone()
        changed[b, 0, y, x] = 1000.0 + i
        gen.set_state(state)
        remasked = replace_with_neighbours(changed, pixels, gen)
        assert remasked[b, 0, y, x] == masked[b, 0, y, x]
        assert remasked[b, 0, y, x] != 1000.0 + i


def test_unet_output_at_masked_pixel_has_zero_gradient_wrt_own_value() -> None:
    """Through masking + U-Net, no output (in particular not the masked pixel's own)
    depends on a masked pixel's original value, unless another masked pixel copied
    that value as its replacement (those pixels are skipped)."""
    torch.manual_seed(0)
    net = UNet(depth=2, features=8, n_samples=4).double()
    values = _unique_patches(2, 32, 32)
    pixels = stratified_pixels(2, 32, 32, 0.0312, _generator(15))
    masked_ids = replace_with_neighbours(values, pixels, _generator(16))
    _, sy, sx = _sources(values, masked_ids, pixels)
    sources = set(zip(pixels.batch.tolist(), sy.tolist(), sx.tolist(), strict=True))

    original = torch.rand(2, 1, 32, 32, generator=_generator(17), dtype=torch.float64)
    original.requires_grad_(True)
    output = net(replace_with_neighbours(original, pixels, _generator(16)))
    # the masked pixels' outputs, each a function of its 5x5+ neighbourhood
    at_masked = output[pixels.batch, :, pixels.y, pixels.x]
    (grad,) = torch.autograd.grad(at_masked.sum(), original)
    checked = 0
    for b, y, x in zip(pixels.batch.tolist(), pixels.y.tolist(), pixels.x.tolist(), strict=True):
        if (b, y, x) in sources:
            continue
        assert grad[b, 0, y, x] == 0
        # sanity: the output there does depend on the neighbourhood
        assert grad[b, 0, max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].abs().sum() > 0
        checked += 1
    assert checked >= 0.8 * len(pixels)
    # without masking each output would see its own value
    plain = net(original)[pixels.batch, :, pixels.y, pixels.x]
    (grad,) = torch.autograd.grad(plain.sum(), original)
    assert torch.all(grad[pixels.batch, 0, pixels.y, pixels.x] != 0)
