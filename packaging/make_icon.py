"""Draw PN2V Studio's icon: ``resources/icon.png``, ``icon.ico`` and ``icon.icns``.

A rounded square holding a fluorescence-like cell, noisy above the diagonal and
denoised below it. Drawn from a fixed seed with numpy and Pillow, so the files are
reproducible: ``python packaging/make_icon.py`` (the build script runs it when an
icon is missing).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
SIZE = 1024  # drawn large, then scaled down for each icon size
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]


def _cells(rng: np.random.Generator) -> np.ndarray:
    """A smooth cell-like intensity field in [0, 1], shape (SIZE, SIZE)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    field = np.zeros((SIZE, SIZE), np.float32)
    blobs = [(0.5, 0.5, 0.22, 1.0), (0.24, 0.3, 0.1, 0.7), (0.76, 0.72, 0.12, 0.75)]
    for cy, cx, radius, peak in blobs:
        d2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / radius**2
        field += peak * np.exp(-(d2**2))
    for _ in range(40):  # puncta
        cy, cx = rng.uniform(0.12, 0.88, 2)
        field += 0.35 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.0004)
    return np.clip(field / field.max(), 0, 1)


def draw_icon() -> Image.Image:
    """The icon as a SIZE x SIZE RGBA image."""
    rng = np.random.default_rng(5)
    clean = _cells(rng)
    coarse = rng.poisson(clean[::16, ::16] * 12.0).astype(np.float32) / 12.0
    noisy = np.kron(coarse, np.ones((16, 16), np.float32))  # visible grain at small sizes
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    signal = np.where(xx > yy, np.clip(noisy, 0, 1), clean) ** 0.6  # brighter mid-tones
    background = np.array([22, 28, 40], np.float32)
    green = np.array([90, 235, 120], np.float32)
    rgb = background + signal[..., None] * (green - background)
    picture = Image.fromarray(rgb.astype(np.uint8), "RGB")
    line = ImageDraw.Draw(picture)
    line.line([(0, 0), (SIZE, SIZE)], fill=(235, 240, 250), width=SIZE // 64)

    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        [SIZE // 32, SIZE // 32, SIZE - SIZE // 32, SIZE - SIZE // 32],
        radius=SIZE // 6,
        fill=255,
    )
    mask = mask.filter(ImageFilter.GaussianBlur(SIZE / 512))
    icon = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    icon.paste(picture, (0, 0), mask)
    return icon


def write_icons(folder: Path = RESOURCES) -> list[Path]:
    """Write icon.png (256 px), icon.ico and icon.icns into ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    icon = draw_icon()
    paths = [folder / "icon.png", folder / "icon.ico", folder / "icon.icns"]
    icon.resize((256, 256), Image.Resampling.LANCZOS).save(paths[0], optimize=True)
    icon.save(paths[1], sizes=ICO_SIZES)
    icon.save(paths[2])  # 16 px to 512 px @2x
    return paths


if __name__ == "__main__":
    for path in write_icons(Path(sys.argv[1]) if len(sys.argv) > 1 else RESOURCES):
        print(f"wrote {path}")
