"""The first pass: per-pixel moments, range, integer-ness and frame means, frame by frame."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np

from pn2v_engine.errors import CalibrationError
from pn2v_engine.noise_models.histogram import is_integer_valued
from pn2v_engine.progress import CancelToken, StageProgress, Throttle, check

from .sources import FrameSource, no_frames_error

#: Progress is reported at least this often (seconds), frame time permitting.
PROGRESS_INTERVAL_S = 0.25


@dataclass
class Scan:
    """What the first pass learns about the frames."""

    n: int = 0
    shape: tuple[int, int] | None = None
    minimum: float = math.inf
    maximum: float = -math.inf
    integer: bool = True
    dtypes: set[str] = field(default_factory=set)
    frame_means: list[float] = field(default_factory=list)
    total: np.ndarray | None = None  # per-pixel sum, float64
    squares: np.ndarray | None = None  # per-pixel sum of squares, float64

    def add(self, frame: np.ndarray, moments: bool) -> None:
        self.n += 1
        self.shape = frame.shape  # type: ignore[assignment]
        self.minimum = min(self.minimum, float(frame.min()))
        self.maximum = max(self.maximum, float(frame.max()))
        self.dtypes.add(frame.dtype.name)
        if self.integer:
            self.integer = is_integer_valued(frame)
        work = frame.astype(np.float64)
        self.frame_means.append(float(work.mean()))
        if not moments:
            return
        if self.total is None or self.squares is None:
            self.total = np.zeros(frame.shape, np.float64)
            self.squares = np.zeros(frame.shape, np.float64)
        self.total += work
        np.multiply(work, work, out=work)
        self.squares += work

    @property
    def dtype(self) -> str:
        return np.result_type(*sorted(self.dtypes)).name if self.dtypes else "float64"


def scan_frames(
    source: FrameSource,
    cancel: CancelToken | None,
    stage: str,
    moments: bool,
    what: str,
    shape: tuple[int, ...] | None = None,
) -> Generator[StageProgress, None, Scan]:
    """Check and scan every frame; ``what`` names them in messages (``"Frame"``).

    ``moments`` adds the per-pixel sums; ``shape``, if given, is required of every frame.
    """
    scan = Scan()
    throttle = Throttle(PROGRESS_INTERVAL_S)
    throttle()
    yield _progress(stage, 0, source.total, "")
    for index, frame in enumerate(source.open()):
        check(cancel)
        frame = np.asarray(frame)
        check_frame(frame, f"{what} {index}", scan.shape or shape)
        scan.add(frame, moments)
        if throttle():
            yield _progress(stage, scan.n, source.total, f"{what.lower()} {scan.n}")
    check(cancel)
    yield _progress(stage, scan.n, scan.n, f"{scan.n} {what.lower()}s")
    return scan


def check_frame(frame: np.ndarray, name: str, shape: tuple[int, ...] | None) -> None:
    """Refuse frames of another type or shape, empty frames, and NaN or infinite pixels.

    ``name`` names the frame in messages, e.g. ``"Frame 3"``.
    """
    if frame.dtype.kind not in "uif":
        raise CalibrationError(
            f"{name} has pixels of type {frame.dtype}, not intensities.",
            "Use the camera's original 8-, 16- or 32-bit frames.",
        )
    if frame.ndim != 2:
        raise CalibrationError(
            f"{name} has shape {frame.shape}; expected a 2-D frame (Y, X).",
            "Give single-channel frames.",
        )
    if shape is not None and frame.shape != shape:
        raise CalibrationError(
            f"{name} is {frame.shape[1]}×{frame.shape[0]} pixels (shape {frame.shape}) "
            f"but the first is {shape[1]}×{shape[0]} pixels (shape {shape}).",
            "Use frames of one size (same camera region and binning) for a calibration.",
        )
    if frame.size == 0:
        raise no_frames_error()
    if frame.dtype.kind == "f":
        bad = int(frame.size - np.count_nonzero(np.isfinite(frame)))
        if bad:
            raise CalibrationError(
                f"{name} has {bad} of {frame.size} pixels that are NaN or infinite.",
                "Use the camera's original frames, or replace those pixels in Fiji "
                "(Process > Math > Remove NaNs...).",
            )


def _progress(stage: str, done: int, total: int | None, message: str) -> StageProgress:
    """A report; an unknown total is 0, an estimate that proved low is raised to ``done``."""
    return StageProgress(stage, done, max(total, done) if total else 0, message)


def changed_error() -> CalibrationError:
    """The files no longer match what the first pass read."""
    return CalibrationError(
        "The calibration files changed while they were being read.",
        "Wait until the files are completely written, then calibrate again.",
    )


def reread_frames(
    source: FrameSource,
    scan: Scan,
    shape: tuple[int, ...],
    stage: str,
    on_frame: Callable[[int, np.ndarray], None],
    cancel: CancelToken | None,
) -> Generator[StageProgress, None, None]:
    """A second pass over the frames the first pass scanned: ``on_frame(index, frame)`` each.

    Reports ``stage`` progress in frames; raises :func:`changed_error` if the frames are
    not the ``scan.n`` frames of ``shape`` that the first pass saw.
    """
    n = scan.n
    throttle = Throttle(PROGRESS_INTERVAL_S)
    throttle()
    yield StageProgress(stage, 0, n, "")
    count = 0
    for index, frame in enumerate(source.open()):
        check(cancel)
        frame = np.asarray(frame)
        if index >= n or frame.shape != shape:
            raise changed_error()
        on_frame(index, frame)
        count += 1
        if throttle():
            yield StageProgress(stage, count, n, f"frame {count}")
    if count != n:
        raise changed_error()
    check(cancel)
    yield StageProgress(stage, n, n, f"{n} frames")
