"""PN2V engine: Probabilistic Noise2Void from a calibration stack to denoised files.

This is the public API; the app and the ``pn2v`` command use nothing else.
Names load lazily, so ``import pn2v_engine`` does not import torch: a GUI can
paint its first window before the heavy libraries arrive.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # settings and presets
    "Settings": "config",
    "NetworkConfig": "config",
    "MaskingConfig": "config",
    "TrainingConfig": "config",
    "PredictionConfig": "config",
    "PRESETS": "config",
    "preset": "config",
    "parse_settings": "config",
    # progress and errors
    "CancelToken": "progress",
    "Cancelled": "progress",
    "StageProgress": "progress",
    "TrainProgress": "progress",
    "PredictProgress": "progress",
    "drive": "progress",
    "PN2VError": "errors",
    "InvalidImageError": "errors",
    "CalibrationError": "errors",
    "NoiseModelError": "errors",
    "ProjectFileError": "errors",
    "OutputError": "errors",
    "ResourceError": "errors",
    "ConfigError": "errors",
    # images
    "Image": "io",
    "ImageMetadata": "io",
    "IMAGE_SUFFIXES": "io",
    "read_image": "io",
    "read_frames": "io",
    "write_image": "io",
    "list_images": "io",
    # calibration and noise models
    "CalibrationResult": "calibration",
    "CalibrationSummary": "calibration",
    "iter_calibrate": "calibration",
    "run_calibrate": "calibration",
    "iter_calibrate_pairs": "calibration",
    "run_calibrate_pairs": "calibration",
    "iter_fit_gmm_calibration": "calibration",
    "run_fit_gmm_calibration": "calibration",
    "NoiseModel": "noise_models",
    "HistogramNoiseModel": "noise_models",
    "PoissonGaussianNoiseModel": "noise_models",
    "GaussianMixtureNoiseModel": "noise_models",
    "RangeReport": "noise_models",
    "SourceNetwork": "noise_models",
    "MAX_OUT_OF_RANGE": "noise_models",
    "histogram_from_pairs": "noise_models",
    "estimate_poisson_gaussian": "noise_models",
    "load_noise_model": "noise_models",
    "iter_fit_gmm": "noise_models",
    "run_fit_gmm": "noise_models",
    "BootstrapPairs": "bootstrap",
    "iter_bootstrap_pairs": "bootstrap",
    "iter_bootstrap_noise_model": "bootstrap",
    "run_bootstrap_noise_model": "bootstrap",
    # training and prediction
    "Normalisation": "data",
    "History": "training",
    "TrainResult": "training",
    "iter_train": "training",
    "run_train": "training",
    "Denoiser": "prediction",
    "Prediction": "prediction",
    "iter_predict": "prediction",
    "run_predict": "prediction",
    "select_device": "device",
    "describe_device": "device",
    "DenoiseJob": "batch",
    "DenoiseOptions": "batch",
    "default_output_dir": "batch",
    "plan_jobs": "batch",
    "iter_denoise_file": "batch",
    "run_denoise_file": "batch",
    # projects, metrics, demo
    "Project": "project",
    "DataReference": "project",
    "save_project": "project",
    "load_project": "project",
    "psnr": "metrics",
    "scale_invariant_psnr": "metrics",
    "mean_and_sem": "metrics",
    "Camera": "demo",
    "DemoData": "demo",
    "DemoFiles": "demo",
    "make_demo_data": "demo",
    "write_demo_data": "demo",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pn2v_engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
