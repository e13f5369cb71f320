"""How far bootstrapped pairs are from the noise, measured against FMD's ground truth.

A diagnostic of the bootstrap (no model is built from the ground truth): N2V is trained
on a type's four captures as ``fmd.py`` trains it, and its prediction ŝ paired with the
captures x. Per quantile level of ŝ it prints the pairs' variance var(x - ŝ), the
noise's var(x - gt), N2V's error var(gt - ŝ) and the engine's measure of it (N2V's
prediction of ŝ noised again, around ŝ), the ratio the deflation should apply
(noise / pairs), and the factor the engine's deflation applies. Then the mean
log-likelihood of the true pairs (gt, x) under the bootstrapped model built from the
pairs as measured and deflated as the engine does, and under the calibrated model where
the type has a calibration pair. Last, for each
pseudo-count the smoothing may shrink the deflated pairs' rows by (the whole grid and the
engine's, from its floor up), the cross-validated
score that chooses it (the pairs' own held-out likelihood) next to the true pairs'.

    python benchmarks/bootstrap_diagnostics.py --types Confocal_MICE Confocal_FISH
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from common import markdown_table, parse_changes, train_for
from fmd import CALIBRATION, DATA, Task, histogram_model, load_type, network_settings

if TYPE_CHECKING:
    from pn2v_engine import BootstrapPairs
    from pn2v_engine.deflation import Predict
    from pn2v_engine.noise_models import NoiseModel

#: Quantile levels of ŝ in the variance table.
LEVELS = 12
#: Ground-truth bands (grey levels) of the likelihood table.
BANDS = (0, 6, 12, 22, 40, 80, 256)
#: Pixels whose likelihoods are evaluated at once.
CHUNK = 65536


def n2v_prediction(task: Task, steps: int | None) -> tuple[np.ndarray, Predict]:
    """N2V trained on the captures as ``fmd.py``'s N2V row: its prediction of each, and
    the function that predicts."""
    from pn2v_engine import Denoiser, run_predict

    trained = train_for(
        list(task.noisy), None, network_settings(task, "n2v"), 0.0, 10, "cpu", steps
    )
    r = trained.result
    denoiser = Denoiser(r.settings, r.best_weights, r.normalisation, None, "cpu")

    def predict(frame: np.ndarray) -> np.ndarray:
        return run_predict(denoiser, frame).mmse

    return np.stack([predict(frame) for frame in task.noisy]), predict


def variance_table(task: Task, gt: np.ndarray, predicted: np.ndarray, predict: Predict) -> str:
    """Per quantile level of ŝ: the pairs', noise's and error's variances and the factors."""
    x = task.noisy.astype(np.float64)
    s = predicted.astype(np.float64)
    g = np.broadcast_to(gt.astype(np.float64), x.shape)
    deflation = _pairs(task, predicted).deflation(predict, seed=task.seed)
    edges = np.quantile(s, np.linspace(0.0, 1.0, LEVELS + 1))
    rows = []
    for low, high in itertools.pairwise(edges):
        at = (s >= low) & (s < high)
        level = float(s[at].mean())
        spread, noise = np.var(x[at] - s[at]), np.var(x[at] - g[at])
        applied = float(deflation.factor(np.array([level]))[0])
        rows.append(
            [
                f"{level:.1f}",
                f"{spread:.1f}",
                f"{noise:.1f}",
                f"{np.var(g[at] - s[at]):.1f}",
                f"{(1 - applied) * spread:.1f}",
                f"{spread / noise:.3f}",
                f"{noise / spread:.3f}",
                f"{applied:.3f}",
            ]
        )
    headers = ["ŝ", "pairs' var", "noise var", "N2V error var", "measured (re-noised)"]
    headers += ["pairs / noise", "ideal factor", "applied factor"]
    return markdown_table(headers, rows)


def _pairs(task: Task, predicted: np.ndarray) -> BootstrapPairs:
    from pn2v_engine import BootstrapPairs

    readings = list(task.noisy.astype(np.float32))
    return BootstrapPairs(list(predicted), readings, {"frames": len(readings)})


def likelihood_table(task: Task, gt: np.ndarray, predicted: np.ndarray, predict: Predict) -> str:
    """Mean log p(x | gt) per ground-truth band under the bootstrapped (and calibrated)
    models."""
    from pn2v_engine import drive

    pairs = _pairs(task, predicted)
    models = {
        "bootstrapped, pairs as measured": drive(pairs.iter_smoothed_histogram(seed=0)),
        "bootstrapped, deflated (the default)": drive(
            pairs.deflated(predict, seed=task.seed).iter_smoothed_histogram(seed=0)
        ),
    }
    if task.calibration is not None:
        models["calibrated (other field of view)"] = histogram_model(task)
    signal, observed = _true_pairs(task, gt)
    bands = list(itertools.pairwise(BANDS))
    rows = []
    for name, model in models.items():
        ll = _log_likelihoods(model, signal, observed)
        g = signal.numpy()
        per_band = [ll[(g >= lo) & (g < hi)] for lo, hi in bands]
        rows.append(
            [name, f"{ll.mean():.4f}", *(f"{v.mean():.3f}" if v.size else "-" for v in per_band)]
        )
    headers = ["model", "all pixels", *(f"gt {lo}-{hi}" for lo, hi in bands)]
    return markdown_table(headers, rows)


def pseudo_count_table(task: Task, gt: np.ndarray, predicted: np.ndarray, predict: Predict) -> str:
    """Per pseudo-count: the pairs' cross-validated score and the true pairs' likelihood."""
    from pn2v_engine import drive
    from pn2v_engine.bootstrap import BOOTSTRAP_MIN_PSEUDO_ROWS
    from pn2v_engine.noise_models import HistogramNoiseModel
    from pn2v_engine.noise_models.smoothing import (
        PSEUDO_COUNT_GRID,
        held_out_nll,
        pseudo_count_grid,
        shrink_rows,
    )

    pairs = _pairs(task, predicted).deflated(predict, seed=task.seed)
    measured = pairs.histogram()
    assert isinstance(measured, HistogramNoiseModel) and measured.counts is not None
    mixture = drive(pairs.iter_fit_gmm(seed=0))
    mass = mixture.bin_masses(measured.low, measured.high, measured.bins)
    s = np.concatenate([p.ravel() for p in pairs.signal])
    x = np.concatenate([f.ravel() for f in pairs.observation])
    engine_grid = pseudo_count_grid(measured.counts, BOOTSTRAP_MIN_PSEUDO_ROWS)
    grid = sorted({*PSEUDO_COUNT_GRID, *engine_grid})
    scores = held_out_nll(mass, measured.bin_index(s), measured.bin_index(x), seed=0, grid=grid)
    signal, observed = _true_pairs(task, gt)
    truth = {}
    for alpha in grid:
        table = shrink_rows(measured.counts, mass, alpha) / measured.width
        model = HistogramNoiseModel(table, measured.low, measured.high)
        truth[alpha] = float(_log_likelihoods(model, signal, observed).mean())
    chosen = min(PSEUDO_COUNT_GRID, key=scores.__getitem__)
    floored = min(engine_grid, key=scores.__getitem__)
    best = max(truth, key=truth.__getitem__)
    rows = []
    for alpha in grid:
        marks = [
            label
            for label, a in (("whole grid's choice", chosen), ("engine's choice", floored))
            if a == alpha
        ]
        if alpha == best:
            marks.append("best for the true pairs")
        rows.append(
            [
                "mixture alone" if np.isinf(alpha) else f"{alpha:,.0f}",
                f"{-scores[alpha]:.4f}",
                f"{truth[alpha]:.4f}",
                ", ".join(marks),
            ]
        )
    headers = ["pseudo-counts", "pairs, cross-validated", "true pairs (gt, x)", ""]
    return markdown_table(headers, rows)


def _true_pairs(task: Task, gt: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    signal = torch.from_numpy(np.broadcast_to(gt, task.noisy.shape).astype(np.float32).ravel())
    return signal, torch.from_numpy(task.noisy.astype(np.float32).ravel())


def _log_likelihoods(model: NoiseModel, signal: torch.Tensor, observed: torch.Tensor) -> np.ndarray:
    """log p(x | s) of each pair, the signal clamped to the model's range as PN2V does."""
    with torch.inference_mode():
        return torch.cat(
            [
                model.log_likelihood(
                    observed[i : i + CHUNK], model.clamp_signal(signal[i : i + CHUNK])
                )
                for i in range(0, observed.numel(), CHUNK)
            ]
        ).numpy()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--types", nargs="+", default=["Confocal_MICE", "Confocal_FISH"])
    parser.add_argument("--steps", type=int, default=None, help="N2V steps (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0, help="N2V's training seed")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="setting changes")
    parser.add_argument("--crop", type=int, default=None, help="central crop (default: whole)")
    parser.add_argument("--data", type=Path, default=DATA, help="FMD FOV-19 folder")
    parser.add_argument("--calibration", type=Path, default=CALIBRATION, help="other-FOV pairs")
    args = parser.parse_args(argv)
    from pn2v_engine import preset
    from pn2v_engine.noise_models.histogram import DEFAULT_PRIOR_STRENGTH

    settings = preset("cpu").with_changes(**{"training.seed": args.seed, **parse_changes(args.set)})
    for fmd_type in args.types:
        noisy, gt, pair = load_type(fmd_type, args.data, args.calibration)
        if args.crop is not None:
            top, left = ((n - args.crop) // 2 for n in gt.shape)
            noisy = noisy[:, top : top + args.crop, left : left + args.crop]
            gt = gt[top : top + args.crop, left : left + args.crop]
        task = Task(
            name=fmd_type,
            noisy=noisy,
            calibration=pair,
            settings=settings.model_dump(),
            steps=args.steps,
            prior_strength=DEFAULT_PRIOR_STRENGTH,
        )
        started = time.perf_counter()
        predicted, predict = n2v_prediction(task, args.steps)
        print(f"## {fmd_type} (N2V trained in {time.perf_counter() - started:.0f} s)\n", flush=True)
        truth = gt.astype(np.float32)
        print(variance_table(task, gt, predicted, predict) + "\n", flush=True)
        print(likelihood_table(task, truth, predicted, predict) + "\n", flush=True)
        print(pseudo_count_table(task, truth, predicted, predict) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
