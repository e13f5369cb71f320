"""Noise models p(x | s): the measured histogram, the estimated Poisson-Gaussian and the
Gaussian mixture fitted to (signal, observation) pairs."""

from .base import (
    MAX_OUT_OF_RANGE,
    NoiseModel,
    RangeReport,
    SourceNetwork,
    check_noise_model_range,
    load_noise_model,
    noise_model_from_npz_bytes,
)
from .gmm import GaussianMixtureNoiseModel
from .gmm_fit import iter_fit_gmm, run_fit_gmm
from .histogram import (
    HistogramAccumulator,
    HistogramNoiseModel,
    histogram_from_pairs,
    histogram_grid,
)
from .parametric import PoissonGaussianNoiseModel, estimate_poisson_gaussian
from .smoothing import iter_smooth_histogram

__all__ = [
    "MAX_OUT_OF_RANGE",
    "GaussianMixtureNoiseModel",
    "HistogramAccumulator",
    "HistogramNoiseModel",
    "NoiseModel",
    "PoissonGaussianNoiseModel",
    "RangeReport",
    "SourceNetwork",
    "check_noise_model_range",
    "estimate_poisson_gaussian",
    "histogram_from_pairs",
    "histogram_grid",
    "iter_fit_gmm",
    "iter_smooth_histogram",
    "load_noise_model",
    "noise_model_from_npz_bytes",
    "run_fit_gmm",
]
