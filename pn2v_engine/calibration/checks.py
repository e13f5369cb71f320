"""Warnings about a calibration: each says what is wrong and what to do, or is ``None``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Fewer frames than this give a warning (the mean of few frames is itself noisy).
MIN_FRAMES_ADVISED = 20
#: Frames that give the recommended accuracy (quoted in messages).
IDEAL_FRAMES = 100
#: Warn when the first-half and second-half means differ this many times more (in
#: variance) than the temporal noise allows for a static scene.
MOTION_RATIO_LIMIT = 1.5
#: Warn when the frames' mean intensity drifts by more than this fraction (linear trend
#: from the first to the last frame, relative to the average intensity including the
#: camera offset, which is not known here).
DRIFT_LIMIT = 0.02
#: Warn when the averaged signal spans less than this fraction of the readings' range.
NARROW_SIGNAL_FRACTION = 0.2
#: Warn when fewer signal bins than this hold at least :data:`POPULATED_BIN_PIXELS`.
MIN_POPULATED_BINS = 16
#: Calibration pixels (signal, reading pairs) for a signal bin to count as populated.
POPULATED_BIN_PIXELS = 100
#: Warn below this many (signal, reading) pairs in all. Measured on the FMD Confocal_MICE
#: benchmark (``benchmarks/calibration_fraction.py --predict-with``, one trained network):
#: smoothed models from 8,000 pairs or more score as well as from all 262,144; from 2,600
#: they lose 0.2 dB, measured histograms 0.3 dB, and below 1,000 no mixture can be fitted.
MIN_TRUSTED_PAIRS = 10_000
#: Warn when more than this fraction of the pixels are saturated.
SATURATION_FRACTION = 0.001
#: Warn when more than this fraction of readings lie outside an explicit value_range.
OUTSIDE_RANGE_FRACTION = 0.001


def few_frames_warning(n: int) -> str | None:
    """The mean of ``n`` frames still carries noise of variance ``var / n``, and the spread
    around it is ``var * (1 - 1/n)``: about 1 % off for 100 frames.
    """
    if n >= MIN_FRAMES_ADVISED:
        return None
    return (
        f"Only {n} calibration frames were used. The average of so few frames is itself "
        f"noisy, so the measured noise is inaccurate (its variance about {1 / n:.0%} too "
        "small, and blurred across brightness levels). "
        f"Record at least {MIN_FRAMES_ADVISED} frames of the static scene, ideally "
        f"{IDEAL_FRAMES}."
    )


def motion_ratio(
    total: np.ndarray, squares: np.ndarray, first_half: np.ndarray, n: int, n1: int
) -> float | None:
    """How much more the first- and second-half means differ than noise allows.

    Under a static scene ``var(m1 - m2) = var * (1/n1 + 1/n2)``, with ``var`` the
    temporal noise variance, here pooled *within* the two halves so that a change
    between them does not inflate it. Global brightness changes (offset or scaling,
    e.g. bleaching) are regressed out first: the drift check reports those. Returns
    ``None`` when it cannot be judged (fewer than 4 frames, or no noise at all).
    """
    n2 = n - n1
    if n1 < 2 or n2 < 2:
        return None
    m1 = first_half / n1
    m2 = (total - first_half) / n2
    within = squares - n1 * m1 * m1 - n2 * m2 * m2
    noise = float(np.maximum(within, 0.0).mean()) / (n - 2)
    if noise <= 0:
        return None
    difference = (m1 - m2).ravel()
    mean = (total / n).ravel()
    design = np.stack([mean, np.ones_like(mean)], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, difference, rcond=None)
    residual = difference - design @ coefficients
    dof = max(residual.size - 2, 1)
    observed = float(residual @ residual) / dof
    return observed / (noise * (1.0 / n1 + 1.0 / n2))


def motion_warning(ratio: float | None) -> str | None:
    if ratio is None or ratio <= MOTION_RATIO_LIMIT:
        return None
    return (
        "The scene changed during the recording: the average of the first half of the "
        "frames differs from the average of the second half "
        f"{ratio:.1f} times more than the camera noise explains. The sample, stage or "
        "focus probably moved, which makes the measured noise too large. Fix the sample "
        "and the focus, wait until the microscope is settled, and record the calibration "
        "again."
    )


def brightness_drift(frame_means: Sequence[float]) -> float | None:
    """Linear-trend change of the mean intensity, first to last frame, relative to its level."""
    means = np.asarray(frame_means, dtype=np.float64)
    level = float(means.mean()) if means.size else 0.0
    if means.size < 2 or level <= 0:
        return None
    t = np.arange(means.size, dtype=np.float64)
    slope = float(np.polyfit(t, means, 1)[0])
    return slope * (means.size - 1) / level


def drift_warning(drift: float | None) -> str | None:
    if drift is None or abs(drift) <= DRIFT_LIMIT:
        return None
    direction = "rose" if drift > 0 else "fell"
    return (
        f"The overall brightness {direction} by {abs(drift):.1%} from the first to the last "
        "frame (bleaching, or a lamp or laser that is not yet stable). Changing light "
        "makes the measured noise too large. Let the light source warm up, use a scene "
        "that does not bleach (e.g. the field diaphragm in transmitted light), and record "
        "the calibration again."
    )


def range_warning(
    signal_range: tuple[float, float],
    observation_range: tuple[float, float],
    counts_per_bin: np.ndarray,
) -> str | None:
    signal_span = signal_range[1] - signal_range[0]
    observation_span = observation_range[1] - observation_range[0]
    fraction = signal_span / observation_span if observation_span > 0 else 0.0
    populated = int(np.count_nonzero(counts_per_bin >= POPULATED_BIN_PIXELS))
    needed = min(MIN_POPULATED_BINS, counts_per_bin.size)
    if fraction >= NARROW_SIGNAL_FRACTION and populated >= needed:
        return None
    if fraction < NARROW_SIGNAL_FRACTION:
        what = (
            f"the averaged brightness spans only {signal_range[0]:g} to {signal_range[1]:g}, "
            f"{fraction:.0%} of the range of the readings"
        )
    else:
        what = (
            f"only {populated} brightness levels hold {POPULATED_BIN_PIXELS} or more "
            f"calibration pixels (at least {needed} are needed)"
        )
    return (
        f"The calibration covers a narrow range of brightness: {what}. The noise model "
        "is only reliable for brightness levels it has seen. Close the field diaphragm "
        "about halfway and defocus it (or otherwise make the field uneven) so that the "
        "frames hold everything from dark background to the brightest signal, then record "
        "again."
    )


def thin_warning(pairs: int) -> str | None:
    """Too few (signal, reading) pairs for any noise model to be trusted."""
    if pairs >= MIN_TRUSTED_PAIRS:
        return None
    return (
        f"The calibration holds only {pairs} readings (frames × pixels), too few to trust "
        f"the noise model: below {MIN_TRUSTED_PAIRS:,} denoising measurably suffers. "
        "Record more frames, or a larger field of view, of the static scene."
    )


def saturation_warning(saturated: int, pixels: int, code: float | None) -> str | None:
    if saturated <= SATURATION_FRACTION * pixels:
        return None
    return (
        f"{saturated} pixels ({saturated / pixels:.1%}) are saturated: they read the "
        f"maximum value {code:g} in at least half of the frames, so their noise cannot be "
        "measured. Lower the exposure time or the light intensity until no pixel reaches "
        "the maximum, and record the calibration again."
    )


def outside_warning(outside: int, readings: int, low: float, high: float) -> str | None:
    if outside <= OUTSIDE_RANGE_FRACTION * readings:
        return None
    return (
        f"{outside} readings ({outside / readings:.1%}) lie outside the chosen histogram "
        f"range {low:g} to {high:g}; they were counted in its first or last bin. Widen "
        "the range, or leave it empty to use the data's range."
    )


def identical_warning(total: np.ndarray, squares: np.ndarray, n: int) -> str | None:
    deviations = squares - total * total / n  # per pixel: sum of squared deviations
    if float(np.max(np.abs(deviations))) > 1e-9 * max(float(np.max(squares)), 1e-300):
        return None
    return (
        "All calibration frames are identical, so they show no noise. Record independent "
        "exposures of the scene (a time series), not copies of one frame."
    )


def clean_scale_warning(offset: float, gain: float) -> str:
    """A paired calibration whose clean image is off the noisy images' scale (mapped)."""
    return (
        f"The noisy images read on average {gain:.3f} x the clean image {offset:+.2f}: the "
        "clean image is not on their intensity scale (a calibration stack's average is, by "
        "construction). It was mapped onto the noisy images' scale so that the noise model "
        "is centred on the signal. If it should match as it is, check how it was made "
        "(offset, background subtraction, scaling); to use it unchanged, keep the clean "
        "image's scale (--keep-clean-scale)."
    )
