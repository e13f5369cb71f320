"""The built-in demo microscope: simulated calibration and sample data, made by code.

Nothing is downloaded or bundled: :func:`make_demo_data` renders a calibration stack
and a few noisy fluorescence images from a seed, through a simulated sCMOS-like
camera (:class:`Camera`, Poisson shot noise plus Gaussian read noise). The data look
and behave like a real low-light acquisition, so that PN2V can be tried end to end in
a few minutes on a CPU (``pn2v demo``, the app's "Try the demo", and the tests).

* **Calibration** -- as in the PN2V paper, a static out-of-focus, half-closed field
  diaphragm: a bright polygonal aperture on a dim background, strongly blurred so that
  every signal level between background and bright occurs over many pixels, with a
  gentle vignetting. Each frame is an independent exposure of the same scene. Its
  signal range covers, and slightly exceeds, the range of the sample images.
* **Sample images** -- cell-like fluorescence: textured nuclei, cytoskeleton-like
  filaments, small puncta, faint cytoplasm and background autofluorescence, blurred
  by a Gaussian PSF and imaged at low photon counts (clearly noisy, PSNR about 24 dB).

:func:`write_demo_data` writes the data as ImageJ-compatible TIFFs plus a README.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

__all__ = [
    "CALIBRATION_BACKGROUND_PHOTONS",
    "CALIBRATION_PEAK_PHOTONS",
    "IMAGE_BACKGROUND_PHOTONS",
    "IMAGE_PEAK_PHOTONS",
    "Camera",
    "DemoData",
    "DemoFiles",
    "gaussian_blur",
    "make_demo_data",
    "write_demo_data",
]

logger = logging.getLogger(__name__)

#: Mean photons per pixel of the background autofluorescence in the sample images.
IMAGE_BACKGROUND_PHOTONS = 6.0
#: Photons per pixel at the brightest point of each sample image (before vignetting).
IMAGE_PEAK_PHOTONS = 80.0
#: Photons per pixel of the dim background of the calibration scene (its minimum).
CALIBRATION_BACKGROUND_PHOTONS = 2.0
#: Photons per pixel at the brightest point of the calibration scene.
CALIBRATION_PEAK_PHOTONS = 100.0

#: Sigma, in pixels, of the Gaussian PSF that blurs the sample images.
PSF_SIGMA = 1.3
#: Relative illumination drop from the centre to the corners (vignetting).
VIGNETTING = 0.15

CALIBRATION_FILE = Path("calibration") / "field_diaphragm.tif"
IMAGES_FOLDER = Path("images")
GROUND_TRUTH_FOLDER = Path("ground_truth")
IMAGE_STEM = "cells_{:02d}.tif"
README_FILE = "README.txt"


# ----------------------------------------------------------------------------- camera


@dataclass(frozen=True)
class Camera:
    """A simulated camera with Poisson shot noise and Gaussian read noise.

    A pixel receiving ``photons`` reads
    ``offset + gain * (Poisson(quantum_efficiency * photons) + N(0, read_noise))`` ADU,
    rounded and clipped to ``[0, 2**bit_depth - 1]``. Its variance (ignoring
    rounding and clipping) is ``gain * (mean - offset) + gain**2 * read_noise**2``.

    Attributes
    ----------
    gain
        ADU per photo-electron.
    offset
        Baseline (bias) in ADU.
    read_noise
        Gaussian read noise, electrons rms.
    bit_depth
        Saturation at ``2**bit_depth - 1`` ADU; values are stored as uint16.
    quantum_efficiency
        Fraction of photons converted to photo-electrons.
    """

    gain: float = 2.0
    offset: float = 100.0
    read_noise: float = 1.6
    bit_depth: int = 12
    quantum_efficiency: float = 0.8

    def __post_init__(self) -> None:
        if not 1 <= self.bit_depth <= 16:
            raise ValueError(f"bit_depth must be 1..16 for uint16 storage, got {self.bit_depth}")
        if self.gain <= 0 or self.read_noise < 0 or not 0 < self.quantum_efficiency <= 1:
            raise ValueError(
                "camera needs gain > 0, read_noise >= 0 and 0 < quantum_efficiency <= 1"
            )

    @property
    def saturation(self) -> int:
        """The largest value the camera can report, in ADU."""
        return 2**self.bit_depth - 1

    def expected_adu(self, photons: np.ndarray) -> np.ndarray:
        """Mean reading in ADU for ``photons`` per pixel (float32, before clipping).

        This is the noise-free ground truth in camera units.
        """
        p = np.asarray(photons, dtype=np.float32)
        return (self.offset + self.gain * self.quantum_efficiency * p).astype(np.float32)

    def expose(self, photons: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One independent exposure of ``photons`` (expected photons per pixel).

        Parameters
        ----------
        photons
            Non-negative expected photon counts, any shape (a stack gives one
            independent exposure per element).
        rng
            The random generator to draw shot and read noise from.

        Returns
        -------
        np.ndarray
            uint16 readings of the same shape as ``photons``.
        """
        p = np.asarray(photons, dtype=np.float64)
        if np.any(p < 0) or not np.all(np.isfinite(p)):
            raise ValueError("photon counts must be finite and non-negative")
        electrons = rng.poisson(self.quantum_efficiency * p).astype(np.float32)
        if self.read_noise > 0:
            electrons += rng.standard_normal(p.shape, dtype=np.float32) * np.float32(
                self.read_noise
            )
        adu = np.float32(self.offset) + np.float32(self.gain) * electrons
        np.rint(adu, out=adu)
        np.clip(adu, 0, self.saturation, out=adu)
        return adu.astype(np.uint16)


# ------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DemoData:
    """Simulated calibration and sample data (see :func:`make_demo_data`).

    Attributes
    ----------
    calibration
        ``(n_calibration, Y, X)`` uint16 frames of a static out-of-focus field diaphragm.
    images
        ``(n_images, Y, X)`` uint16 noisy images of cell-like structures.
    ground_truth
        ``(n_images, Y, X)`` float32 expected ADU of each image (noise free); for
        scoring only.
    camera
        The camera that took all frames.
    calibration_ground_truth
        ``(Y, X)`` float32 expected ADU of the calibration scene (noise free), if known.
    """

    calibration: np.ndarray
    images: np.ndarray
    ground_truth: np.ndarray
    camera: Camera
    calibration_ground_truth: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DemoFiles:
    """Where :func:`write_demo_data` put the demo files."""

    folder: Path
    calibration_stack: Path
    images: list[Path]
    ground_truth: list[Path]


# ---------------------------------------------------------------------------- helpers


def gaussian_blur(image: np.ndarray, sigma: float, periodic: bool = False) -> np.ndarray:
    """Blur a 2-D image with a Gaussian of standard deviation ``sigma`` pixels (via FFT).

    By default the image is reflect-padded by about three sigma before the (periodic)
    FFT convolution, so nothing wraps around from the opposite edge; with
    ``periodic=True`` it is treated as periodic (seamless for random textures).
    Returns float32.
    """
    img = np.asarray(image, dtype=np.float32)
    if sigma <= 0:
        return img.copy()
    ny, nx = img.shape
    pad_y = 0 if periodic else min(math.ceil(3 * sigma), ny - 1)
    pad_x = 0 if periodic else min(math.ceil(3 * sigma), nx - 1)
    padded = np.pad(img, ((pad_y, pad_y), (pad_x, pad_x)), mode="reflect")
    py, px = padded.shape
    fy = np.fft.fftfreq(py).astype(np.float32)
    fx = np.fft.rfftfreq(px).astype(np.float32)
    c = np.float32(-2.0 * math.pi**2 * sigma**2)
    transfer = np.exp(c * fy[:, None] ** 2) * np.exp(c * fx[None, :] ** 2)
    blurred = np.fft.irfft2(np.fft.rfft2(padded) * transfer, s=padded.shape)
    return blurred[pad_y : pad_y + ny, pad_x : pad_x + nx].astype(np.float32)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """A smooth random field with zero mean and unit standard deviation (float32)."""
    f = gaussian_blur(rng.standard_normal(shape, dtype=np.float32), sigma, periodic=True)
    f -= f.mean()
    std = f.std()
    return f / std if std > 0 else f


def _vignetting(shape: tuple[int, int], strength: float) -> np.ndarray:
    """Illumination 1 at the centre falling quadratically to ``1 - strength`` at corners."""
    ny, nx = shape
    y = (np.arange(ny, dtype=np.float32) - (ny - 1) / 2) / max(ny / 2, 1)
    x = (np.arange(nx, dtype=np.float32) - (nx - 1) / 2) / max(nx / 2, 1)
    r2 = (y[:, None] ** 2 + x[None, :] ** 2) / 2.0
    return (1.0 - strength * r2).astype(np.float32)


def _splat(canvas: np.ndarray, ys: np.ndarray, xs: np.ndarray, weights: np.ndarray) -> None:
    """Add ``weights`` at sub-pixel positions into ``canvas`` (bilinear), in place."""
    ny, nx = canvas.shape
    y0 = np.floor(ys).astype(np.int64)
    x0 = np.floor(xs).astype(np.int64)
    dy = (ys - y0).astype(np.float32)
    dx = (xs - x0).astype(np.float32)
    flat = canvas.reshape(-1)
    for oy, ox, w in (
        (0, 0, (1 - dy) * (1 - dx)),
        (0, 1, (1 - dy) * dx),
        (1, 0, dy * (1 - dx)),
        (1, 1, dy * dx),
    ):
        yy = y0 + oy
        xx = x0 + ox
        ok = (yy >= 0) & (yy < ny) & (xx >= 0) & (xx < nx)
        flat += np.bincount(
            yy[ok] * nx + xx[ok], weights=(w * weights)[ok], minlength=ny * nx
        ).astype(np.float32)


# ----------------------------------------------------------------------- calibration


def _calibration_photons(rng: np.random.Generator, size: int) -> np.ndarray:
    """Expected photons of an out-of-focus, half-closed field diaphragm (float32)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # An iris: a regular polygon with a random number of blades and rotation, slightly
    # off-centre, filling about half of the field of view.
    n_blades = int(rng.integers(6, 10))
    rotation = rng.uniform(0, 2 * math.pi)
    cy, cx = size * (0.5 + rng.uniform(-0.06, 0.06, 2))
    radius = size * rng.uniform(0.27, 0.32)
    theta = np.arctan2(yy - cy, xx - cx) - rotation
    r = np.hypot(yy - cy, xx - cx)
    sector = 2 * math.pi / n_blades
    # Distance of the polygon edge from the centre in the direction theta.
    edge = radius * math.cos(sector / 2) / np.cos(np.mod(theta, sector) - sector / 2)
    aperture = (r <= edge).astype(np.float32)
    # Strong defocus: the light ramps smoothly from the background to the plateau.
    blurred = gaussian_blur(aperture, sigma=size * 0.07)
    light = blurred * _vignetting((size, size), VIGNETTING)
    light -= light.min()
    peak = light.max()
    if peak > 0:
        light /= peak
    span = CALIBRATION_PEAK_PHOTONS - CALIBRATION_BACKGROUND_PHOTONS
    return (CALIBRATION_BACKGROUND_PHOTONS + span * light).astype(np.float32)


# ----------------------------------------------------------------------------- cells


def _count(rng: np.random.Generator, per_256: float, size: int, minimum: int = 1) -> int:
    """A random count for a density given per 256x256 pixels, at least ``minimum``."""
    return max(minimum, int(rng.poisson(per_256 * (size / 256.0) ** 2)))


def _add_nuclei(rng: np.random.Generator, canvas: np.ndarray, cytoplasm: np.ndarray) -> None:
    size = canvas.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    texture = _smooth_field(rng, canvas.shape, sigma=2.5)
    coarse = _smooth_field(rng, canvas.shape, sigma=6.0)
    for _ in range(_count(rng, 7, size)):
        cy, cx = rng.uniform(0, size, 2)
        a = rng.uniform(11, 22)
        b = a * rng.uniform(0.6, 0.95)
        phi = rng.uniform(0, math.pi)
        c, s = math.cos(phi), math.sin(phi)
        u = ((xx - cx) * c + (yy - cy) * s) / a
        v = (-(xx - cx) * s + (yy - cy) * c) / b
        rho = np.sqrt(u * u + v * v)
        # Soft-edged ellipse with chromatin-like texture and a brighter rim.
        mask = 0.5 - 0.5 * np.tanh((rho - 1.0) * 7.0)
        pattern = 0.65 + 0.12 * texture + 0.08 * coarse + 0.25 * np.exp(-((rho - 0.9) ** 2) / 0.02)
        brightness = rng.uniform(0.5, 0.8)
        canvas += brightness * mask * np.clip(pattern, 0.2, None)
        # Faint cytoplasm around the nucleus (the cell body).
        cell = 0.5 - 0.5 * np.tanh((rho - rng.uniform(2.0, 2.8)) * 1.5)
        cytoplasm += cell * (1.0 - mask)


def _smooth_noise_1d(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Smooth 1-D random sequence of length ``n`` with unit standard deviation."""
    half = math.ceil(3 * sigma)
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    seq = np.convolve(rng.standard_normal(n + 2 * half), kernel, mode="valid")
    return seq / np.sqrt(np.sum(kernel**2))


def _add_filaments(rng: np.random.Generator, canvas: np.ndarray) -> None:
    size = canvas.shape[0]
    ys_all: list[np.ndarray] = []
    xs_all: list[np.ndarray] = []
    ws_all: list[np.ndarray] = []
    step = 0.5  # pixels between samples along a filament
    for _ in range(_count(rng, 24, size)):
        n_steps = int(rng.uniform(60, 260) / step)
        # Gently bending curve: curvature (radians per pixel) is smooth random noise
        # around a small constant bend, correlated over ~20 pixels of length.
        curvature = rng.normal(0, 0.004) + rng.uniform(0.004, 0.015) * _smooth_noise_1d(
            rng, n_steps, sigma=20 / step
        )
        angle = rng.uniform(0, 2 * math.pi) + np.cumsum(curvature * step)
        y = rng.uniform(0, size) + np.cumsum(step * np.sin(angle))
        x = rng.uniform(0, size) + np.cumsum(step * np.cos(angle))
        # Bundles: brightness varies smoothly along the filament.
        along = np.clip(1.0 + 0.35 * _smooth_noise_1d(rng, n_steps, sigma=30 / step), 0.2, None)
        ys_all.append(y)
        xs_all.append(x)
        ws_all.append(rng.uniform(0.25, 0.55) * step * along)
    _splat(canvas, np.concatenate(ys_all), np.concatenate(xs_all), np.concatenate(ws_all))


def _add_puncta(rng: np.random.Generator, canvas: np.ndarray) -> None:
    size = canvas.shape[0]
    n = _count(rng, 90, size)
    ys = rng.uniform(0, size, n)
    xs = rng.uniform(0, size, n)
    weights = rng.uniform(1.0, 3.0, n).astype(np.float32)
    _splat(canvas, ys, xs, weights)


def _cell_photons(rng: np.random.Generator, size: int) -> np.ndarray:
    """Expected photons of one random field of fluorescent cells (float32)."""
    shape = (size, size)
    nuclei = np.zeros(shape, np.float32)
    cytoplasm = np.zeros(shape, np.float32)
    _add_nuclei(rng, nuclei, cytoplasm)
    lines = np.zeros(shape, np.float32)
    _add_filaments(rng, lines)
    # Filaments are a little out of focus in places: blur them slightly before the PSF.
    lines = gaussian_blur(lines, 0.6)
    dots = np.zeros(shape, np.float32)
    _add_puncta(rng, dots)
    cyto_texture = np.clip(1.0 + 0.4 * _smooth_field(rng, shape, sigma=4.0), 0.0, None)
    structures = nuclei + 0.12 * np.clip(cytoplasm, 0, 1) * cyto_texture + lines + dots
    structures = gaussian_blur(structures, PSF_SIGMA)
    structures -= min(float(structures.min()), 0.0)
    peak = float(structures.max())
    if peak > 0:
        structures /= peak
    autofluorescence = IMAGE_BACKGROUND_PHOTONS * np.clip(
        1.0 + 0.2 * _smooth_field(rng, shape, sigma=size / 8.0), 0.5, None
    )
    photons = autofluorescence + (IMAGE_PEAK_PHOTONS - IMAGE_BACKGROUND_PHOTONS) * structures
    return (photons * _vignetting(shape, VIGNETTING)).astype(np.float32)


# ------------------------------------------------------------------------------ public


def make_demo_data(
    seed: int = 0,
    size: int = 256,
    n_calibration: int = 50,
    n_images: int = 4,
    camera: Camera | None = None,
) -> DemoData:
    """Simulate a calibration stack and noisy cell images through one camera.

    Parameters
    ----------
    seed
        Seed of ``np.random.default_rng``; the same seed gives the same data.
    size
        Width and height of every frame in pixels (at least 16).
    n_calibration
        Number of calibration frames (independent exposures of one static scene).
    n_images
        Number of sample images, each a different random field of cells.
    camera
        The simulated camera; default :class:`Camera()`.

    Returns
    -------
    DemoData
        uint16 calibration frames and images, the float32 noise-free ground truth of
        the images and of the calibration scene (expected ADU), and the camera.
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    if n_calibration < 1 or n_images < 1:
        raise ValueError("need at least one calibration frame and one image")
    camera = camera if camera is not None else Camera()
    rng = np.random.default_rng(seed)

    calibration_photons = _calibration_photons(rng, size)
    image_photons = np.stack([_cell_photons(rng, size) for _ in range(n_images)])

    calibration = camera.expose(
        np.broadcast_to(calibration_photons, (n_calibration, size, size)), rng
    )
    images = camera.expose(image_photons, rng)
    ground_truth = camera.expected_adu(image_photons)
    logger.debug(
        "demo data: seed %d, %d calibration frames and %d images of %dx%d",
        seed,
        n_calibration,
        n_images,
        size,
        size,
    )
    return DemoData(
        calibration=calibration,
        images=images,
        ground_truth=ground_truth,
        camera=camera,
        calibration_ground_truth=camera.expected_adu(calibration_photons),
    )


def _readme_text(data: DemoData, seed: int | None) -> str:
    cam = data.camera
    n_cal, ny, nx = data.calibration.shape
    made = f"seed {seed}" if seed is not None else "data passed in by the caller"
    return f"""PN2V Studio demo data (simulated, {made})
======================================================

Everything here was generated by PN2V Studio's built-in demo microscope; no real
sample was imaged.

calibration/field_diaphragm.tif
    {n_cal} frames ({ny} x {nx}, uint16) of a static, out-of-focus, half-closed field
    diaphragm. Use this stack to build the noise model.
images/cells_NN.tif
    {data.images.shape[0]} noisy images (uint16) of simulated fluorescent cells: nuclei,
    filaments and puncta at low light. These are the images to denoise.
ground_truth/cells_NN.tif
    The noise-free expected camera signal (float32, ADU) of each image. It is for
    scoring the result only (PSNR); PN2V never uses it for training.

Simulated camera
    gain:               {cam.gain:g} ADU per photo-electron
    offset:             {cam.offset:g} ADU
    read noise:         {cam.read_noise:g} electrons rms (Gaussian)
    quantum efficiency: {cam.quantum_efficiency:g}
    bit depth:          {cam.bit_depth} (saturation at {cam.saturation} ADU)

Each pixel reads offset + gain * (Poisson(qe * photons) + Normal(0, read noise)),
rounded and clipped; its variance is gain * (mean - offset) + gain^2 * read_noise^2.
"""


def write_demo_data(
    folder: str | os.PathLike[str], data: DemoData | None = None, seed: int = 0
) -> DemoFiles:
    """Write demo data as ImageJ-compatible TIFFs plus a README.txt into ``folder``.

    Layout: ``calibration/field_diaphragm.tif`` (one multi-frame TIFF, axes TYX),
    ``images/cells_01.tif``... (uint16, YX), ``ground_truth/cells_01.tif``...
    (float32, YX, for scoring only) and ``README.txt``. Folders are created as needed;
    only these named files are (over)written, anything else in ``folder`` is left alone.

    Parameters
    ----------
    folder
        Destination folder.
    data
        The data to write; default ``make_demo_data(seed=seed)``.
    seed
        Seed used when ``data`` is not given.

    Returns
    -------
    DemoFiles
        The paths written.
    """
    root = Path(folder)
    made_here = data is None
    if data is None:
        data = make_demo_data(seed=seed)

    calibration_path = root / CALIBRATION_FILE
    calibration_path.parent.mkdir(parents=True, exist_ok=True)
    (root / IMAGES_FOLDER).mkdir(parents=True, exist_ok=True)
    (root / GROUND_TRUTH_FOLDER).mkdir(parents=True, exist_ok=True)

    tifffile.imwrite(
        calibration_path,
        np.ascontiguousarray(data.calibration, dtype=np.uint16),
        imagej=True,
        metadata={"axes": "TYX"},
    )
    image_paths: list[Path] = []
    truth_paths: list[Path] = []
    for i, (image, truth) in enumerate(zip(data.images, data.ground_truth, strict=True)):
        name = IMAGE_STEM.format(i + 1)
        image_path = root / IMAGES_FOLDER / name
        truth_path = root / GROUND_TRUTH_FOLDER / name
        tifffile.imwrite(
            image_path,
            np.ascontiguousarray(image, dtype=np.uint16),
            imagej=True,
            metadata={"axes": "YX"},
        )
        tifffile.imwrite(
            truth_path,
            np.ascontiguousarray(truth, dtype=np.float32),
            imagej=True,
            metadata={"axes": "YX"},
        )
        image_paths.append(image_path)
        truth_paths.append(truth_path)

    (root / README_FILE).write_text(
        _readme_text(data, seed if made_here else None), encoding="utf-8"
    )
    logger.info("wrote demo data to %s", root)
    return DemoFiles(
        folder=root,
        calibration_stack=calibration_path,
        images=image_paths,
        ground_truth=truth_paths,
    )
