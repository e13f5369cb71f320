"""benchmarks/supervised.py: the FMD benchmark's supervised U-Net (CARE) reference."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from supervised import PairSampler, train_supervised

from pn2v_engine import Denoiser, preset, run_predict


def test_pair_sampler_keeps_noisy_and_clean_aligned() -> None:
    rng = np.random.default_rng(0)
    noisy = rng.normal(size=(40, 50)).astype(np.float32)
    sampler = PairSampler(noisy, 2 * noisy + 1, patch_size=16, seed=1)
    inputs, targets = sampler.sample(64)
    assert inputs.shape == targets.shape == (64, 1, 16, 16)
    np.testing.assert_allclose(targets.numpy(), 2 * inputs.numpy() + 1, rtol=1e-6)
    # the patches come in rotations and mirrors: some are not plain crops of the image
    windows = np.lib.stride_tricks.sliding_window_view(noisy, (16, 16)).reshape(-1, 16 * 16)
    plain = [(windows == p.ravel()).all(axis=1).any() for p in inputs.numpy()[:, 0]]
    assert 0 < sum(plain) < len(plain)
    with pytest.raises(ValueError, match="differ in shape"):
        PairSampler(noisy, noisy[:-1], patch_size=16, seed=1)


def test_a_supervised_network_learns_to_denoise_its_pair() -> None:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:96]
    clean = (100 + 60 * np.sin(x / 7.0) * np.cos(y / 9.0)).astype(np.float32)
    noisy = clean + rng.normal(scale=20.0, size=clean.shape).astype(np.float32)
    settings = preset("cpu").with_changes(
        mode="n2v",
        **{
            "network.n_samples": 1,
            "network.depth": 2,
            "network.features": 8,
            "training.patch_size": 32,
            "training.batch_size": 4,
            "training.steps_per_epoch": 50,
            "training.val_patches": 4,
            "training.learning_rate": 3e-3,
        },
    )
    run = train_supervised(noisy, clean, settings, steps=150)
    assert run.steps == 150 and run.best_val_loss < 0.2  # normalised; the noise alone: ~0.3
    denoiser = Denoiser(settings, run.weights, run.normalisation, None, "cpu")
    denoised = run_predict(denoiser, noisy).mmse
    noisy_error = float(np.mean((noisy - clean) ** 2))
    assert float(np.mean((denoised - clean) ** 2)) < 0.5 * noisy_error
    with pytest.raises(ValueError, match="one output"):
        train_supervised(noisy, clean, settings.with_changes(**{"network.n_samples": 4}), 1)
