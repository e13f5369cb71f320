"""Noise models p(x | s): the measured histogram and the estimated Poisson-Gaussian."""

from .base import (
    MAX_OUT_OF_RANGE,
    NoiseModel,
    RangeReport,
    check_noise_model_range,
    load_noise_model,
    noise_model_from_npz_bytes,
)
from .histogram import (
    HistogramAccumulator,
    HistogramNoiseModel,
    histogram_from_pairs,
    histogram_grid,
)
from .parametric import PoissonGaussianNoiseModel, estimate_poisson_gaussian

__all__ = [
    "MAX_OUT_OF_RANGE",
    "HistogramAccumulator",
    "HistogramNoiseModel",
    "NoiseModel",
    "PoissonGaussianNoiseModel",
    "RangeReport",
    "check_noise_model_range",
    "estimate_poisson_gaussian",
    "histogram_from_pairs",
    "histogram_grid",
    "load_noise_model",
    "noise_model_from_npz_bytes",
]
