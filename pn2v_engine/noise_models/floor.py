"""Detector floors: a low reading value on which photon-starved readings pile up.

A detector with an offset reads "no photon" as one or two low values: on FMD
Confocal_FISH 55 % of all readings are 3 or 4, and 9 % even at signal 40. Such a reading
says "at most the floor", and nothing reads below it but a stray few.
"""

from __future__ import annotations

import numpy as np

#: A low reading value is a floor when it holds more than FLOOR_SPIKE x as many readings
#: as the value above it, and at least FLOOR_SHARE of all readings.
FLOOR_SPIKE = 1.5
FLOOR_SHARE = 0.01


def reading_floor(readings: np.ndarray) -> float | None:
    """The highest low reading value on which readings pile up (a detector's offset), or
    None: among the values up to the median, the last that holds more than FLOOR_SPIKE x
    the readings of the next value and at least FLOOR_SHARE of all."""
    values, counts = np.unique(readings, return_counts=True)
    spike = _last_spike(values, counts, float(np.median(readings)))
    return None if spike is None else float(values[spike])


def lowest_reading(readings: np.ndarray) -> float | None:
    """Where the readings pile up on a floor (:func:`reading_floor`), the lowest value
    that holds at least FLOOR_SHARE of them: the detector reads (almost) nothing below it
    (FMD Confocal_FISH and Confocal_MICE: 3). None where there is no floor."""
    values, counts = np.unique(readings, return_counts=True)
    if _last_spike(values, counts, float(np.median(readings))) is None:
        return None
    return float(values[np.argmax(counts >= FLOOR_SHARE * readings.size)])


def _last_spike(values: np.ndarray, counts: np.ndarray, median: float) -> int | None:
    """Index of :func:`reading_floor`'s value among the sorted unique ``values``."""
    total = counts.sum()
    below = np.flatnonzero(values[:-1] <= median)
    spikes = [
        i
        for i in below
        if counts[i] > FLOOR_SPIKE * counts[i + 1] and counts[i] >= FLOOR_SHARE * total
    ]
    return spikes[-1] if spikes else None


def censor_below(mass: np.ndarray, floor_bin: int) -> np.ndarray:
    """``mass`` (rows of observation-bin probabilities) with each row's mass below
    ``floor_bin`` moved into it, as a detector that reads no lower than its floor would
    record it; rows still sum to one."""
    censored = mass.copy()
    censored[:, floor_bin] += mass[:, :floor_bin].sum(axis=1)
    censored[:, :floor_bin] = 0.0
    return censored
