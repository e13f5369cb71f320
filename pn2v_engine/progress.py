"""Progress reports and cooperative cancellation for long operations.

Every long operation exists twice (DESIGN.md rule 2): a generator ``iter_x``
that yields small frozen dataclasses and *returns* its result (read it from
``StopIteration.value``, or use :func:`drive`), and a blocking ``run_x`` that
calls ``on_progress`` for each report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")
P = TypeVar("P")


class Cancelled(Exception):
    """Raised inside an operation whose :class:`CancelToken` was cancelled."""


class CancelToken:
    """A thread-safe flag that a caller sets and an operation polls."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


def check(token: CancelToken | None) -> None:
    """Raise :class:`Cancelled` if ``token`` is set; ``None`` never cancels."""
    if token is not None:
        token.raise_if_cancelled()


@dataclass(frozen=True)
class StageProgress:
    """Progress of a simple counted operation (reading frames, building a histogram)."""

    stage: str
    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


@dataclass(frozen=True)
class TrainProgress:
    """One report from :func:`pn2v_engine.iter_train`.

    ``val_loss`` is the latest validation loss (``None`` before the first
    validation). ``eta_s`` is the estimated time to the last step.
    ``preview`` is set only on the report that finishes an epoch with a preview
    (see ``preview`` and ``preview_every`` of :func:`pn2v_engine.iter_train`): the
    preview crop denoised with the weights at the end of epoch ``epoch``, float32,
    the crop's shape. It takes no part in comparisons or the repr.
    """

    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    train_loss: float
    val_loss: float | None
    learning_rate: float
    steps_per_s: float
    elapsed_s: float
    eta_s: float
    epoch_finished: bool = False
    preview: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def fraction(self) -> float:
        total = self.epochs * self.steps_per_epoch
        return ((self.epoch - 1) * self.steps_per_epoch + self.step) / total if total else 0.0


@dataclass(frozen=True)
class PredictProgress:
    """One report from :func:`pn2v_engine.iter_predict`: tiles done across all frames."""

    frame: int
    frames: int
    tile: int
    tiles: int
    elapsed_s: float

    @property
    def fraction(self) -> float:
        per_frame = 1.0 / self.frames if self.frames else 0.0
        return (self.frame + (self.tile / self.tiles if self.tiles else 0.0)) * per_frame


class Throttle:
    """True at most once per ``interval_s`` seconds (the first call is always true)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last = -float("inf")

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            return True
        return False


def drive(generator: Generator[P, Any, T], on_progress: Callable[[P], Any] | None = None) -> T:
    """Run a progress generator to completion and return its result."""
    while True:
        try:
            report = next(generator)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(report)
