"""Random (signal, reading) pairs drawn from every frame during a pass over the frames."""

from __future__ import annotations

import math

import numpy as np


class PairSampler:
    """Draws the same number of random pixels from each of ``frames`` frames.

    At most ``max_pairs`` pairs in all, each frame's pixels paired with the signal
    (a Gaussian-mixture fit needs a bounded sample, spread over all frames).
    """

    def __init__(
        self, signal: np.ndarray, frames: int, max_pairs: int, rng: np.random.Generator
    ) -> None:
        self._signal = signal.ravel().astype(np.float32)
        self._per_frame = min(self._signal.size, math.ceil(max_pairs / max(frames, 1)))
        self._rng = rng
        self._signals: list[np.ndarray] = []
        self._readings: list[np.ndarray] = []

    def add(self, frame: np.ndarray) -> None:
        pick = self._rng.choice(self._signal.size, self._per_frame, replace=False)
        self._signals.append(self._signal[pick])
        self._readings.append(frame.ravel()[pick].astype(np.float32))

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(signals, readings)``, float32 arrays of equal length."""
        if not self._signals:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        return np.concatenate(self._signals), np.concatenate(self._readings)
