"""Shared helpers for the benchmark scripts (not part of the app).

Time-budgeted training, isolated runs with their own peak memory, dotted
setting changes from the command line, the VST+BM3D baseline (generalized
Anscombe transform, Makitalo & Foi), Markdown tables and Pillow figures.
"""

from __future__ import annotations

import ast
import concurrent.futures
import datetime as dt
import math
import multiprocessing
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageDraw, ImageFont

T = TypeVar("T")

# -- command line --------------------------------------------------------------------


def parse_changes(items: Sequence[str]) -> dict[str, object]:
    """``["training.learning_rate=2e-3", "network.features=48"]`` -> dotted changes.

    Values are Python literals where they parse as one (numbers, booleans), else strings.
    """
    changes: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        try:
            value: object = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        changes[key.strip()] = value
    return changes


# -- processes and memory ------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux: ru_maxrss is KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_isolated(function: Callable[..., T], *args: Any, isolate: bool = True) -> T:
    """Run ``function(*args)`` in a fresh (spawned) process, so its peak memory is its own.

    ``function`` must be a module-level function and its arguments picklable.
    With ``isolate=False`` it runs here.
    """
    if not isolate:
        return function(*args)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def machine_info() -> dict[str, str]:
    """Machine, Python, torch, threads and date, for the record of a benchmark."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages * size / 2**30:.1f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": f"{cpu}, {os.cpu_count()} logical cores",
        "memory": memory,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "numpy": np.__version__,
    }


# -- time-budgeted training ------------------------------------------------------------------


@dataclass
class Trained:
    """A training run and what it cost."""

    result: Any  # pn2v_engine.TrainResult
    seconds: float
    steps: int
    warmup_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def measure_steps_per_s(
    frames: Sequence[np.ndarray],
    noise_model: Any,
    settings: Any,
    steps: int = 10,
    device: str = "cpu",
) -> tuple[float, float]:
    """Steps per second of a short warm-up run (first step excluded); and its wall time."""
    from pn2v_engine import run_train

    warm = settings.with_changes(**{"training.epochs": 1, "training.steps_per_epoch": steps})
    marks: list[float] = []
    started = time.perf_counter()
    run_train(
        frames,
        noise_model,
        warm,
        on_progress=lambda _: marks.append(time.perf_counter()),
        device=device,
    )
    ended = time.perf_counter()
    # the first report comes after step 1; the rest (and one validation) after it
    rate = (steps - 1) / max(ended - marks[0], 1e-9) if marks and steps > 1 else 0.0
    if rate <= 0:
        rate = steps / max(ended - started, 1e-9)
    return rate, ended - started


def with_total_steps(settings: Any, steps: int) -> Any:
    """``settings`` with about ``steps`` optimisation steps, in epochs of the settings' length.

    A run shorter than one epoch becomes one shorter epoch.
    """
    per_epoch = min(settings.training.steps_per_epoch, max(1, steps))
    epochs = max(1, round(steps / per_epoch))
    return settings.with_changes(
        **{"training.epochs": epochs, "training.steps_per_epoch": per_epoch}
    )


def budget_text(steps: int | None, minutes: float) -> str:
    """How :func:`train_for` bounds each network, in words."""
    if steps:
        return f"{steps} steps per network"
    if minutes > 0:
        return f"{minutes:g} min per network"
    return "the preset's epochs per network"


def train_for(
    frames: Sequence[np.ndarray],
    noise_model: Any,
    settings: Any,
    minutes: float,
    warmup_steps: int = 10,
    device: str = "cpu",
    steps: int | None = None,
) -> Trained:
    """Train with ``settings`` for about ``minutes`` (or exactly about ``steps`` steps).

    The minutes become steps through the speed of a short warm-up run; ``steps``
    (reproducible whatever the machine's load) takes precedence; with neither
    (``minutes <= 0``) the settings' epochs are kept. The schedule (e.g. cosine)
    spans the whole run.
    """
    from pn2v_engine import run_train

    notes: list[str] = []
    warmup = 0.0
    if steps is None and minutes > 0:
        rate, warmup = measure_steps_per_s(frames, noise_model, settings, warmup_steps, device)
        steps = max(1, round(minutes * 60 * rate))
        notes.append(f"warm-up {rate:.2f} steps/s")
    if steps is not None:
        settings = with_total_steps(settings, steps)
        t = settings.training
        notes.append(f"{t.epochs} x {t.steps_per_epoch} steps")
    started = time.perf_counter()
    result = run_train(frames, noise_model, settings, device=device)
    seconds = time.perf_counter() - started
    t = settings.training
    notes.extend(result.warnings)
    return Trained(result, seconds, t.epochs * t.steps_per_epoch, warmup, notes)


# -- Poisson-Gaussian fit and VST+BM3D ----------------------------------------------------------


def fit_poisson_gaussian(
    signal: np.ndarray, observation: np.ndarray, min_pixels: int = 16
) -> tuple[float, float]:
    """Least-squares fit of var(x | s) = a s + b on a clean/noisy pair.

    Pixels are grouped by the integer-rounded signal; every level with at least
    ``min_pixels`` pixels contributes its sample variance, weighted by its count.
    """
    s = np.asarray(signal, dtype=np.float64).ravel()
    x = np.asarray(observation, dtype=np.float64).ravel()
    level = np.round(s).astype(np.int64)
    level -= level.min()
    n = np.bincount(level).astype(np.float64)
    sum_s = np.bincount(level, weights=s)
    sum_x = np.bincount(level, weights=x)
    sum_xx = np.bincount(level, weights=x * x)
    keep = n >= min_pixels
    if np.count_nonzero(keep) < 2:
        raise ValueError("too few populated signal levels to fit a Poisson-Gaussian model")
    mean_s = sum_s[keep] / n[keep]
    mean_x = sum_x[keep] / n[keep]
    var_x = (sum_xx[keep] / n[keep] - mean_x**2) * n[keep] / (n[keep] - 1)
    w = np.sqrt(n[keep])
    design = np.stack([mean_s, np.ones_like(mean_s)], axis=1) * w[:, None]
    (a, b), *_ = np.linalg.lstsq(design, var_x * w, rcond=None)
    return float(a), float(b)


def gat_forward(z: np.ndarray, gain: float, variance: float) -> np.ndarray:
    """Generalized Anscombe transform for var(z) = gain * E[z] + variance.

    Makitalo & Foi (2013) with alpha = gain, Gaussian mean 0 and sigma^2 = variance:
    f(z) = 2 sqrt(max(z / alpha + 3/8 + sigma^2 / alpha^2, 0)); the noise of f(z) has
    unit variance.
    """
    z = np.asarray(z, dtype=np.float64)
    return 2.0 * np.sqrt(np.maximum(z / gain + 3.0 / 8.0 + variance / gain**2, 0.0))


def gat_inverse(d: np.ndarray, gain: float, variance: float) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse of :func:`gat_forward`.

    Makitalo & Foi, IEEE TIP 22(1) 2013, with the same parameters:
    alpha * max(0, D^2/4 + sqrt(3/2)/4 D^-1 - 11/8 D^-2 + 5/8 sqrt(3/2) D^-3 - 1/8
    - sigma^2/alpha^2). D is clamped to >= 2 sqrt(3/8) (the transform of zero
    Poisson counts), where the approximation is 0 and below which it is not monotonic.
    """
    d = np.maximum(np.asarray(d, dtype=np.float64), 2.0 * np.sqrt(3.0 / 8.0))
    r = np.sqrt(1.5)
    poisson = d**2 / 4 + r / 4 / d - 11.0 / 8.0 / d**2 + 5.0 / 8.0 * r / d**3 - 1.0 / 8.0
    return gain * np.maximum(poisson - variance / gain**2, 0.0)


def vst_bm3d(image: np.ndarray, gain: float, variance: float, profile: str = "np") -> np.ndarray:
    """VST+BM3D: GAT, BM3D with sigma 1 in the stabilised domain, exact unbiased inverse."""
    import bm3d

    stabilised = gat_forward(image, gain, variance)
    denoised = bm3d.bm3d(stabilised, sigma_psd=1.0, profile=profile)
    return gat_inverse(denoised, gain, variance).astype(np.float32)


# -- reporting -------------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub Markdown table."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def structured_crop(reference: np.ndarray, size: int = 128, stride: int = 16) -> tuple[int, int]:
    """Top-left corner of the ``size``-square window of ``reference`` with most structure.

    Structure: the mean gradient magnitude; windows with more than 2% of pixels at
    the image's maximum (saturation) are avoided where possible.
    """
    ref = np.asarray(reference, dtype=np.float64)
    gy, gx = np.gradient(ref)
    grad = np.hypot(gy, gx)
    saturated = ref >= ref.max()
    best, best_score = (0, 0), -np.inf
    for y in range(0, ref.shape[0] - size + 1, stride):
        for x in range(0, ref.shape[1] - size + 1, stride):
            score = grad[y : y + size, x : x + size].mean()
            if saturated[y : y + size, x : x + size].mean() > 0.02:
                score -= 1e6
            if score > best_score:
                best, best_score = (y, x), score
    return best


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the bitmap default font has one size
        return ImageFont.load_default()


def image_grid(
    rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]],
    display_range: Sequence[tuple[float, float]],
    zoom: int = 2,
    gap: int = 6,
) -> Image.Image:
    """A figure of labelled grayscale panels: one row per ``(title, [(label, image)])``.

    ``display_range[i]`` maps row ``i``'s values to black..white (clipped).
    """
    font, title_font = _font(14), _font(16)
    label_h, title_h = 22, 24
    tile = max(img.shape[0] for _, panels in rows for _, img in panels) * zoom
    n_cols = max(len(panels) for _, panels in rows)
    width = gap + n_cols * (tile + gap)
    height = gap + len(rows) * (title_h + label_h + tile + gap)
    canvas = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(canvas)
    top = gap
    for (title, panels), (low, high) in zip(rows, display_range, strict=True):
        draw.text((gap, top + 2), title, fill=0, font=title_font)
        for col, (label, img) in enumerate(panels):
            left = gap + col * (tile + gap)
            draw.text((left, top + title_h + 2), label, fill=0, font=font)
            scaled = np.clip((np.asarray(img, np.float64) - low) / max(high - low, 1e-12), 0, 1)
            panel = Image.fromarray(np.round(scaled * 255).astype(np.uint8), mode="L")
            panel = panel.resize(
                (panel.width * zoom, panel.height * zoom), Image.Resampling.NEAREST
            )
            canvas.paste(panel, (left, top + title_h + label_h))
        top += title_h + label_h + tile + gap
    return canvas


def log_x_plot(
    series: Sequence[tuple[str, Sequence[float], Sequence[float], tuple[int, int, int]]],
    lines: Sequence[tuple[str, float, tuple[int, int, int]]],
    x_label: str,
    y_label: str,
    title: str,
    size: tuple[int, int] = (640, 420),
) -> Image.Image:
    """A small line chart with a log10 x axis: ``series`` of points and horizontal ``lines``.

    ``series`` items are ``(label, xs, ys, rgb)``; ``lines`` items ``(label, y, rgb)``.
    """
    width, height = size
    left, right, top, bottom = 64, 16, 34, 48
    xs = [math.log10(x) for _, values, _, _ in series for x in values]
    ys = [y for _, _, values, _ in series for y in values] + [y for _, y, _ in lines]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    x1 = x1 if x1 > x0 else x0 + 1
    y0, y1 = math.floor(min(ys) - 0.5), math.ceil(max(ys) + 0.5)
    canvas = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = _font(13)

    def at(x: float, y: float) -> tuple[float, float]:
        u = (math.log10(x) - x0) / (x1 - x0)
        v = (y - y0) / (y1 - y0)
        return left + u * (width - left - right), height - bottom - v * (height - top - bottom)

    grey, black = (200, 200, 200), (0, 0, 0)
    for decade in range(x0, x1 + 1):
        px, _ = at(10.0**decade, y0)
        draw.line([(px, top), (px, height - bottom)], fill=grey)
        draw.text((px - 12, height - bottom + 6), f"{10.0**decade:g}", fill=black, font=font)
    for y in range(y0, y1 + 1):
        _, py = at(10.0**x0, y)
        draw.line([(left, py), (width - right, py)], fill=grey)
        draw.text((left - 30, py - 7), f"{y}", fill=black, font=font)
    draw.rectangle([(left, top), (width - right, height - bottom)], outline=black)
    for _, y, rgb in lines:
        _, py = at(10.0**x0, y)
        for start in range(left, width - right, 12):
            draw.line([(start, py), (min(start + 6, width - right), py)], fill=rgb, width=2)
    for _, xs_, ys_, rgb in series:
        points = [at(x, y) for x, y in zip(xs_, ys_, strict=True)]
        draw.line(points, fill=rgb, width=2)
        for px, py in points:
            draw.ellipse([(px - 4, py - 4), (px + 4, py + 4)], fill=rgb)
    legend = [(item[0], item[-1]) for item in [*series, *lines]]
    for row, (label, rgb) in enumerate(legend):
        y = height - bottom - 8 - 18 * (len(legend) - row)
        draw.line([(width - right - 150, y + 7), (width - right - 126, y + 7)], fill=rgb, width=3)
        draw.text((width - right - 120, y), label, fill=black, font=font)
    start = 6 + draw.textlength(y_label, font=font) + 16  # the title sits right of it
    size = 14  # smaller until the title fits
    while size > 9 and draw.textlength(title, font=_font(size)) > width - 6 - start:
        size -= 1
    title_width = draw.textlength(title, font=_font(size))
    draw.text(((start + width - 6 - title_width) / 2, 8), title, fill=black, font=_font(size))
    draw.text(((width - len(x_label) * 7) / 2, height - 22), x_label, fill=black, font=font)
    draw.text((6, top - 22), y_label, fill=black, font=font)
    return canvas
