"""Measure a histogram noise model from calibration frames (Krull et al. 2020, section 5.2).

The frames show a static scene holding every brightness from dark to bright (typically
100 frames of a defocused, half-closed field diaphragm). The per-pixel mean is the
signal ``s``, and every (signal, frame pixel) pair ``(s, x)`` goes into the histogram
p(x | s). Frames are streamed twice, one at a time: :mod:`.scan` averages them,
:mod:`.histogram` fills the histogram, :mod:`.checks` turns what was seen into warnings.
"""

from .gmm import iter_fit_gmm_calibration, run_fit_gmm_calibration
from .pairs import iter_calibrate_pairs, run_calibrate_pairs
from .results import CalibrationResult, CalibrationSummary
from .sources import CalibrationSources
from .stack import iter_calibrate, run_calibrate

__all__ = [
    "CalibrationResult",
    "CalibrationSources",
    "CalibrationSummary",
    "iter_calibrate",
    "iter_calibrate_pairs",
    "iter_fit_gmm_calibration",
    "run_calibrate",
    "run_calibrate_pairs",
    "run_fit_gmm_calibration",
]
