"""FMD benchmark: the NR1 column of Table 1 of Krull et al. 2020 (PN2V) on this machine.

Per FMD type (FOV 19 of the test set) the four noisy captures are the training
data (self-supervised); the 50-frame average is used only to score. Rows:

* ``input``      the noisy captures themselves
* ``n2v``        U-Net trained with Noise2Void (mode n2v, one output)
* ``n2v_boot``   the bootstrap's Noise2Void: the same without the U-Net's top skip, as
                 the engine bootstraps (``n2v_settings``); the bootstrapped rows' network
* ``pn2v_prior`` the PN2V run below, mean of its prior samples
* ``pn2v``       PN2V MMSE with the noise model ``pn2v calibrate`` builds from the
                 other-FOV confocal pair: the histogram smoothed where thin by a
                 Gaussian mixture (two-photon and wide-field: the estimated model)
* ``pn2v_raw``   (ablation) the same with the histogram as measured, not smoothed
* ``pn2v_mix``   (ablation) the same with the pair's mixture alone, tabulated
* ``pn2v_gmm``   (ablation) PN2V MMSE with the Gaussian mixture of the same pair used
                 directly (not tabulated: about 1.8x slower per step)
* ``pn2v_warm``  (ablation) ``pn2v`` started from the N2V network (``n2v_boot``'s where
                 run), as bootstrapped PN2V starts (twice the training)
* ``pn2v_est``   PN2V MMSE with the Poisson-Gaussian model estimated from the captures
* ``pn2v_boot_hist``, ``pn2v_boot``, ``pn2v_boot_gmm`` (ablation)  PN2V MMSE with a
                 noise model bootstrapped from the N2V network's prediction and the
                 captures (Prakash et al. 2020; ``n2v_boot``'s network where run, else
                 ``n2v``'s), N2V's own error taken out of the pairs' spread as the engine
                 does: their histogram as measured, smoothed where thin (the engine's
                 default), or their mixture alone, tabulated; each model keeps the N2V
                 network, PN2V training starts from it, and the result averages the two
                 networks' predictions as the settings say (``prediction.n2v_share``)
* ``pn2v_boot_rot4`` the ``pn2v_boot`` networks denoising each capture in its 4
                 rotations, averaged (``orientations=4``)
* ``pn2v_boot_alone`` the ``pn2v_boot`` network's MMSE alone (``n2v_share=0``)
* ``pn2v_boot_plain`` (ablation)  ``pn2v_boot`` from the pairs as measured, N2V's
                 error left in (the engine's ``deflate=False``)
* ``pn2v_boot_scratch`` (ablation)  ``pn2v_boot`` trained from random weights, not from
                 the N2V row's network as the engine starts it (``warm_start=False``)
* ``bm3d``       VST+BM3D: generalized Anscombe transform, BM3D (sigma 1), exact
                 unbiased inverse; a, b fitted on the same calibration pair
* ``trad``       supervised U-Net (CARE) trained on the other-FOV pair (``supervised.py``;
                 confocal types only)

Every network gets the same preset and by default the preset's steps (the ``cpu``
preset's 1300 fit 10 minutes on 2 cores), or the same time budget (``--minutes``) or
number of steps (``--steps``). Each method runs in a fresh
process, so its peak memory (ru_maxrss) is its own. Each type's table and figure row
are kept in ``OUT/fmd_results/``, so runs of different types add up to one report;
``--update`` reruns some rows of a type and keeps its other stored rows.

    python benchmarks/fmd.py --quick
    python benchmarks/fmd.py --types Confocal_MICE --methods input bm3d
    python benchmarks/fmd.py --minutes 5 --set training.learning_rate=2e-3 network.features=48
    python benchmarks/fmd.py --methods n2v_boot pn2v_boot --keep-projects kept
    python benchmarks/fmd.py --methods n2v_boot pn2v_boot --reuse-n2v kept \
        --pn2v-set training.epochs=13
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from common import (
    Trained,
    budget_text,
    fit_poisson_gaussian,
    image_grid,
    machine_info,
    markdown_table,
    parse_changes,
    peak_rss_mb,
    run_isolated,
    structured_crop,
    train_for,
    vst_bm3d,
    with_total_steps,
)

if TYPE_CHECKING:
    from pn2v_engine import (
        BootstrapPairs,
        GaussianMixtureNoiseModel,
        HistogramNoiseModel,
        NoiseModel,
        PoissonGaussianNoiseModel,
        Prediction,
        Settings,
        SourceNetwork,
    )

DATA = Path("/work/shared/data/fmd_fov19")
CALIBRATION = Path("/work/shared/data/fmd_confocal_other_fov")
DEFAULT_TYPES = ("Confocal_MICE", "Confocal_FISH", "TwoPhoton_MICE")
DATA_RANGE = 255.0  # the paper's PSNR on 8-bit data
NOT_RUN = "not run"  # the PSNR cell of a row that only shows the paper's number

#: Row key -> label, in table order.
METHODS: dict[str, str] = {
    "input": "Input",
    "n2v": "U-Net (N2V)",
    "n2v_boot": "U-Net without top skip (N2V; the bootstrap's network)",
    "pn2v_prior": "U-Net (PN2V), prior mean",
    "pn2v": "U-Net (PN2V)",
    "pn2v_raw": "U-Net (PN2V, histogram not smoothed)",
    "pn2v_mix": "U-Net (PN2V, calibration mixture alone, tabulated)",
    "pn2v_gmm": "U-Net (PN2V, GMM of the calibration pair, direct)",
    "pn2v_warm": "U-Net (PN2V, started from the N2V row's network)",
    "pn2v_est": "U-Net (PN2V, est. NM)",
    "pn2v_boot_hist": "U-Net (PN2V, bootstrapped histogram)",
    "pn2v_boot": "U-Net (PN2V, bootstrapped, smoothed)",
    "pn2v_boot_rot4": "U-Net (PN2V, bootstrapped, smoothed), 4 rotations averaged",
    "pn2v_boot_alone": "U-Net (PN2V, bootstrapped, smoothed), its MMSE alone",
    "pn2v_boot_gmm": "U-Net (PN2V, bootstrapped GMM)",
    "pn2v_boot_plain": "U-Net (PN2V, bootstrapped, smoothed, pairs as measured)",
    "pn2v_boot_scratch": "U-Net (PN2V, bootstrapped, smoothed, from random weights)",
    "bm3d": "VST+BM3D",
    "trad": "U-Net (trad.)",
}
#: The ablations run only when asked for.
DEFAULT_METHODS = [
    key
    for key in METHODS
    if key
    not in (
        "pn2v_raw",
        "pn2v_mix",
        "pn2v_gmm",
        "pn2v_warm",
        "pn2v_boot_gmm",
        "pn2v_boot_plain",
        "pn2v_boot_scratch",
    )
]

#: Table 1, NR1 column (PSNR in dB, data range 255).
PAPER_NR1: dict[str, dict[str, float]] = {
    "Confocal_MICE": {
        "input": 29.38,
        "pn2v": 38.24,
        "pn2v_est": 36.92,
        "n2v": 37.56,
        "bm3d": 37.95,
        "trad": 38.38,
    },
    "Confocal_FISH": {
        "input": 22.81,
        "pn2v": 32.45,
        "pn2v_est": 28.75,
        "n2v": 32.10,
        "bm3d": 32.00,
        "trad": 32.93,
    },
    "TwoPhoton_MICE": {
        "input": 24.94,
        "pn2v": 33.67,
        "pn2v_est": 32.39,
        "n2v": 33.42,
        "bm3d": 33.81,
        "trad": 34.35,
    },
}


# -- data ------------------------------------------------------------------------------


@dataclass
class Task:
    """What a method may see: noisy captures and (confocal) the other-FOV calibration pair.

    The ground truth of the benchmarked field of view is deliberately not here.
    """

    name: str
    noisy: np.ndarray  # (captures, Y, X) uint8
    calibration: tuple[np.ndarray, np.ndarray] | None  # (clean, noisy), another FOV
    settings: dict  # Settings.model_dump() of the PN2V network (N2V derives from it)
    steps: int | None
    prior_strength: float
    # fmd.py's command-line defaults; the other scripts take them as they are
    minutes: float = 0.0
    warmup_steps: int = 10
    bm3d_profile: str = "np"
    device: str = "cpu"
    weights: str = "best"
    #: Dotted setting changes for the PN2V networks only (on top of ``settings``).
    pn2v_changes: dict = field(default_factory=dict)
    #: Where an earlier ``--keep-projects`` run saved the N2V row's network, to reuse it.
    reuse_n2v: Path | None = None
    #: Where to save each trained network as a project (None: not saved).
    keep_projects: Path | None = None
    #: The job being run (names a kept project).
    job: str = ""
    #: The N2V row's prediction of each capture (bootstrapped noise models), once it ran.
    pseudo_clean: np.ndarray | None = None
    #: The N2V row's network, which bootstrapped models keep (PN2V starts from it).
    n2v_network: SourceNetwork | None = None

    @property
    def seed(self) -> int:
        """The training seed, also used for the noise-model fits."""
        return int(self.settings["training"]["seed"])


@dataclass
class Outcome:
    """One row: the denoised captures and what producing them cost."""

    predictions: np.ndarray | None  # (captures, Y, X) float32; None if the method failed
    train_s: float | None = None
    steps: int | None = None
    s_per_frame: float | None = None
    peak_rss_mb: float | None = None
    notes: list[str] = field(default_factory=list)
    #: An N2V run's network (the n2v row), for the bootstrapped rows.
    network: SourceNetwork | None = None


def calibration_name(fmd_type: str) -> str | None:
    """The other-FOV pair of a confocal type (``Confocal_MICE`` -> ``mice``), else None."""
    if not fmd_type.startswith("Confocal_"):
        return None
    rest = fmd_type.removeprefix("Confocal_")
    return rest.lower() if rest in ("MICE", "FISH") else rest


def _read(path: Path) -> np.ndarray:
    from pn2v_engine import read_image

    image = read_image(path)
    if image.frames != 1:
        raise ValueError(f"{path} holds {image.frames} frames; expected one")
    return image.data[0]


def load_type(
    fmd_type: str, data: Path, calibration: Path
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """(noisy captures (4, Y, X), ground truth (Y, X), calibration pair or None)."""
    noisy = np.stack([_read(data / "raw" / f"{fmd_type}_{k}.png") for k in range(1, 5)])
    gt = _read(data / "gt" / f"{fmd_type}_1.png")
    pair = None
    name = calibration_name(fmd_type)
    if name is not None and (calibration / "gt" / f"{name}.tif").exists():
        pair = (
            _read(calibration / "gt" / f"{name}.tif"),
            _read(calibration / "raw" / f"{name}.tif"),
        )
    return noisy, gt, pair


# -- noise models -----------------------------------------------------------------------


def histogram_model(task: Task, smooth: bool = True) -> NoiseModel:
    """The other-FOV pair's noise model as ``pn2v calibrate --signal`` builds it; else the
    estimate.

    The range is the pair's, one bin per grey level: a histogram stretched to 0-255 has rows
    above the brightest calibrated signal that only its prior fills, and PN2V's prior samples
    then roam there (measured: 0.14 dB lower MMSE on Confocal_MICE). ``smooth`` as the engine.
    """
    from pn2v_engine import run_calibrate_pairs

    if task.calibration is None:
        return estimated_model(task)
    clean, noisy = task.calibration
    result = run_calibrate_pairs(
        clean, noisy, prior_strength=task.prior_strength, smooth=smooth, seed=task.seed
    )
    return result.noise_model


def estimated_model(task: Task) -> PoissonGaussianNoiseModel:
    """Poisson-Gaussian model estimated from the noisy captures alone."""
    from pn2v_engine import estimate_poisson_gaussian

    return estimate_poisson_gaussian(list(task.noisy))


def bootstrap_pairs(task: Task, deflate: bool = True) -> BootstrapPairs:
    """The N2V prediction of each capture paired with the capture, N2V's own error taken out
    of their spread as the engine bootstraps (``deflate=False``: as measured), with the N2V
    network."""
    from pn2v_engine import BootstrapPairs

    if task.pseudo_clean is None:
        raise RuntimeError("the bootstrapped rows need an N2V row (add n2v_boot to --methods)")
    summary = {"frames": len(task.noisy), "source": "the benchmark's N2V network"}
    pairs = BootstrapPairs(
        list(task.pseudo_clean),
        list(task.noisy.astype(np.float32)),
        summary,
        network=task.n2v_network,
    )
    return pairs.deflated(seed=task.seed) if deflate else pairs


def describe_model(model: NoiseModel) -> str:
    """One line about a noise model, with its Poisson-Gaussian parameters."""
    bootstrap = model.metadata.get("bootstrap")
    prefix = "bootstrapped: " if bootstrap is not None else ""
    deflation = bootstrap.get("deflation") if bootstrap is not None else None
    if deflation is not None and deflation["applied"]:
        low, high = deflation["variance_factor"]
        prefix = f"bootstrapped (variance x {low:.2f}-{high:.2f}): "
    elif deflation is not None:
        prefix = f"bootstrapped (not deflated: {deflation['reason']}): "
    if "tabulated_from" in model.metadata:
        return f"{prefix}{model.metadata['tabulated_from']}, tabulated on {model.bins} bins"
    if prefix:
        return prefix + model.describe()
    if model.kind == "gmm":
        return model.describe()
    smoothing = model.metadata.get("smoothing")
    if smoothing is not None:
        alpha = smoothing.get("pseudo_counts")
        weight = "alone" if alpha is None else f"at {alpha:.3g} pseudo-counts"
        return (
            f"histogram {model.bins} bins, smoothed: {smoothing['components']}-component "
            f"mixture, degree {smoothing['degree']}, {weight}, {smoothing['pairs']} pairs"
        )
    meta = model.metadata.get("poisson_gaussian_fit")
    if meta is not None:
        return (
            f"histogram {model.bins} bins, prior strength {model.metadata['prior_strength']:g}, "
            f"PG fit var = {meta['gain']:.3g} s + {meta['offset_variance']:.3g}"
        )
    return f"estimated var = {model.gain:.3g} s + {model.offset_variance:.3g}"


# -- methods: each takes a Task and returns its rows ------------------------------------------


def network_settings(task: Task, mode: str) -> Settings:
    """The task's settings for ``pn2v`` (with its PN2V-only changes), for ``n2v``: one
    output, MSE, same preset otherwise, or for ``n2v_boot``: the bootstrap's Noise2Void."""
    from pn2v_engine import parse_settings
    from pn2v_engine.bootstrap import n2v_settings

    settings = parse_settings(task.settings)
    if mode == "n2v":
        return settings.with_changes(mode="n2v", **{"network.n_samples": 1})
    if mode == "n2v_boot":
        return n2v_settings(settings)
    return settings.with_changes(**task.pn2v_changes)


def reused_n2v(task: Task, settings: Settings) -> Trained:
    """The N2V network an earlier run kept (``--reuse-n2v``), trained with ``settings``."""
    from pn2v_engine import load_project

    path = task.reuse_n2v / f"{task.name}_{task.job}.pn2v"
    if task.minutes > 0 and task.steps is None:
        raise RuntimeError("--reuse-n2v needs a step budget (--steps or the preset's epochs)")
    expected = settings if task.steps is None else with_total_steps(settings, task.steps)
    r = load_project(path).training
    if r is None or r.settings != expected:
        raise RuntimeError(f"{path} was not trained with this run's N2V settings")
    t = r.settings.training
    seconds = r.history.elapsed_s[-1] if r.history.elapsed_s else math.nan
    return Trained(r, seconds, t.epochs * t.steps_per_epoch, 0.0, [f"reused {path}"])


def train_and_denoise(
    task: Task,
    settings: Settings,
    noise_model: NoiseModel | None,
    rotated: bool = False,
    alone: bool = False,
) -> tuple[dict[str, np.ndarray], Outcome]:
    """Train on the captures within the budget, then denoise each capture separately
    (``rotated``: also averaged over 4 rotations, ``mmse_rot4``, its seconds a frame
    ``s_per_frame_rot4``; ``alone``: also PN2V's MMSE without the bootstrap's Noise2Void
    network, ``mmse_alone`` and ``s_per_frame_alone``)."""
    from pn2v_engine import Denoiser, run_predict
    from pn2v_engine.bootstrap import source_network

    if task.reuse_n2v is not None and settings.mode == "n2v":
        trained = reused_n2v(task, settings)
    else:
        trained = train_for(
            list(task.noisy),
            noise_model,
            settings,
            task.minutes,
            task.warmup_steps,
            task.device,
            task.steps,
        )
    r = trained.result
    if task.keep_projects is not None:
        from pn2v_engine import Project, save_project

        task.keep_projects.mkdir(parents=True, exist_ok=True)
        project = Project(settings=r.settings, noise_model=noise_model, training=r)
        save_project(project, task.keep_projects / f"{task.name}_{task.job}.pn2v")
    weights = r.best_weights if task.weights == "best" else r.last_weights
    denoiser = Denoiser(r.settings, weights, r.normalisation, noise_model, task.device)

    def denoise_each(using: Denoiser = denoiser, **options: Any) -> tuple[list[Prediction], float]:
        """Each capture denoised separately, and the mean seconds a capture."""
        predictions, seconds = [], []
        for frame in task.noisy:
            started = time.perf_counter()
            predictions.append(run_predict(using, frame, **options))
            seconds.append(time.perf_counter() - started)
        return predictions, float(np.mean(seconds))

    plain, s_per_frame = denoise_each(prior_mean=True)
    images = {
        "mmse": np.stack([p.mmse for p in plain]),
        "prior_mean": np.stack([p.prior_mean for p in plain]),
    }
    if rotated:
        turned, turned_s_per_frame = denoise_each(orientations=4)
        images["mmse_rot4"] = np.stack([p.mmse for p in turned])
        images["s_per_frame_rot4"] = np.array(turned_s_per_frame)
    if alone:
        single = Denoiser(r.settings, weights, r.normalisation, noise_model, task.device, 0.0)
        by_itself, alone_s_per_frame = denoise_each(single)
        images["mmse_alone"] = np.stack([p.mmse for p in by_itself])
        images["s_per_frame_alone"] = np.array(alone_s_per_frame)
    val = min(r.history.val_loss) if r.history.val_loss else math.nan
    started = [f"started from {r.started_from}"] if r.started_from else []
    if denoiser.companion is not None:
        started.append(f"averaged with the bootstrap's N2V network, share {denoiser.n2v_share}")
    outcome = Outcome(
        predictions=None,
        train_s=trained.seconds,
        steps=trained.steps,
        s_per_frame=s_per_frame,
        notes=[*trained.notes, *started, f"best val loss {val:.4g}"],
        network=source_network(r) if settings.mode == "n2v" else None,
    )
    return images, outcome


def method_input(task: Task) -> dict[str, Outcome]:
    """The noisy captures, unchanged."""
    return {"input": Outcome(task.noisy.astype(np.float32))}


def method_n2v(task: Task) -> dict[str, Outcome]:
    """Noise2Void: the same U-Net with one output, trained with the masked MSE."""
    images, outcome = train_and_denoise(task, network_settings(task, "n2v"), None)
    outcome.predictions = images["mmse"]
    outcome.peak_rss_mb = peak_rss_mb()
    return {"n2v": outcome}


def method_n2v_boot(task: Task) -> dict[str, Outcome]:
    """Noise2Void as the engine trains it to bootstrap a noise model (no top skip)."""
    images, outcome = train_and_denoise(task, network_settings(task, "n2v_boot"), None)
    outcome.predictions = images["mmse"]
    outcome.peak_rss_mb = peak_rss_mb()
    return {"n2v_boot": outcome}


def method_pn2v(task: Task) -> dict[str, Outcome]:
    """PN2V with the calibrated model (or the estimate without a pair): MMSE and prior mean."""
    return _pn2v_with(task, histogram_model(task), "pn2v", prior_row="pn2v_prior")


def method_pn2v_raw(task: Task) -> dict[str, Outcome]:
    """PN2V with the pair's histogram as measured (``pn2v calibrate --no-smooth``)."""
    if task.calibration is None:
        raise RuntimeError("no calibration pair for this type")
    return _pn2v_with(task, histogram_model(task, smooth=False), "pn2v_raw")


def _pn2v_with(
    task: Task,
    model: NoiseModel,
    row: str,
    prior_row: str | None = None,
    rotated_row: str | None = None,
    alone_row: str | None = None,
) -> dict[str, Outcome]:
    """PN2V trained and denoising with ``model``: its result's row (and its prior mean's,
    its result averaged over 4 rotations, and its MMSE without the bootstrap's N2V)."""
    settings = network_settings(task, "pn2v")
    images, outcome = train_and_denoise(
        task, settings, model, rotated=rotated_row is not None, alone=alone_row is not None
    )
    outcome.peak_rss_mb = peak_rss_mb()
    outcome.notes.insert(0, describe_model(model))
    rows = {row: dataclasses.replace(outcome, predictions=images["mmse"])}
    if prior_row is not None:
        rows[prior_row] = dataclasses.replace(
            outcome, predictions=images["prior_mean"], notes=["same run"]
        )
    if rotated_row is not None:
        rows[rotated_row] = dataclasses.replace(
            outcome,
            predictions=images["mmse_rot4"],
            s_per_frame=float(images["s_per_frame_rot4"]),
            notes=["same network", "`orientations=4`"],
        )
    if alone_row is not None:
        rows[alone_row] = dataclasses.replace(
            outcome,
            predictions=images["mmse_alone"],
            s_per_frame=float(images["s_per_frame_alone"]),
            notes=["same network", "`n2v_share=0`"],
        )
    return rows


def method_pn2v_mix(task: Task) -> dict[str, Outcome]:
    """PN2V with the calibration pair's mixture alone on the histogram's grid (the
    smoothing before rows were shrunk towards it by cross-validated pseudo-counts)."""
    from pn2v_engine import drive
    from pn2v_engine.noise_models.gmm_fit import iter_fit_gmm

    if task.calibration is None:
        raise RuntimeError("no calibration pair for this type")
    grid = histogram_model(task, smooth=False)
    clean, noisy = (a.ravel().astype(np.float32) for a in task.calibration)
    mixture = drive(iter_fit_gmm(clean, noisy, value_range=grid.signal_range, seed=task.seed))
    return _pn2v_with(task, tabulated(mixture, grid), "pn2v_mix")


def method_pn2v_gmm(task: Task) -> dict[str, Outcome]:
    """PN2V with a Gaussian mixture fitted to the calibration pair (confocal types only)."""
    from pn2v_engine import run_fit_gmm

    if task.calibration is None:
        raise RuntimeError("no calibration pair for this type")
    clean, noisy = task.calibration
    model = run_fit_gmm(clean.astype(np.float32), noisy.astype(np.float32))
    return _pn2v_with(task, model, "pn2v_gmm")


def method_pn2v_est(task: Task) -> dict[str, Outcome]:
    """PN2V with the Poisson-Gaussian model estimated from the noisy captures."""
    return _pn2v_with(task, estimated_model(task), "pn2v_est")


def method_pn2v_warm(task: Task) -> dict[str, Outcome]:
    """``pn2v`` with the same noise model, started from the N2V row's network."""
    if task.n2v_network is None:
        raise RuntimeError("pn2v_warm needs the N2V row (add n2v to --methods)")
    model = histogram_model(task)
    model.source_network = task.n2v_network
    return _pn2v_with(task, model, "pn2v_warm")


def method_pn2v_boot_hist(task: Task) -> dict[str, Outcome]:
    """PN2V with the histogram of (N2V prediction, capture) pairs."""
    return _pn2v_with(task, bootstrap_pairs(task).histogram(), "pn2v_boot_hist")


def method_pn2v_boot(task: Task) -> dict[str, Outcome]:
    """PN2V with the (N2V prediction, capture) pairs' histogram smoothed where thin by a
    mixture fitted to them: what the engine and the app bootstrap by default."""
    from pn2v_engine import drive

    model = drive(bootstrap_pairs(task).iter_smoothed_histogram(seed=task.seed))
    return _pn2v_with(
        task, model, "pn2v_boot", rotated_row="pn2v_boot_rot4", alone_row="pn2v_boot_alone"
    )


def method_pn2v_boot_plain(task: Task) -> dict[str, Outcome]:
    """``pn2v_boot`` from the pairs as measured, N2V's own error left in their spread."""
    from pn2v_engine import drive

    model = drive(bootstrap_pairs(task, deflate=False).iter_smoothed_histogram(seed=task.seed))
    return _pn2v_with(task, model, "pn2v_boot_plain")


def method_pn2v_boot_scratch(task: Task) -> dict[str, Outcome]:
    """``pn2v_boot`` trained from random weights (the model without its N2V network)."""
    from pn2v_engine import drive

    model = drive(bootstrap_pairs(task).iter_smoothed_histogram(seed=task.seed))
    model.source_network = None
    return _pn2v_with(task, model, "pn2v_boot_scratch")


def method_pn2v_boot_gmm(task: Task) -> dict[str, Outcome]:
    """PN2V with a Gaussian mixture fitted to (N2V prediction, capture) pairs, tabulated on
    the grid of their histogram (histogram speed, the mixture's shape)."""
    from pn2v_engine import drive

    pairs = bootstrap_pairs(task)
    grid = pairs.histogram()
    mixture = drive(pairs.iter_fit_gmm(seed=task.seed))
    return _pn2v_with(task, tabulated(mixture, grid), "pn2v_boot_gmm")


def tabulated(mixture: GaussianMixtureNoiseModel, grid: HistogramNoiseModel) -> NoiseModel:
    """``mixture`` alone on ``grid``'s bins (no counts: the mixture's shape everywhere)."""
    metadata = {**mixture.metadata, "tabulated_from": mixture.describe()}
    return mixture.tabulate(grid.low, grid.high, grid.bins, metadata=metadata)


def scaled_calibration_pair(task: Task) -> tuple[np.ndarray, np.ndarray, str]:
    """The calibration pair with its clean image put on the noisy image's intensity scale
    where ``pn2v calibrate --signal`` does so (and a note saying how)."""
    from pn2v_engine.calibration.matching import match_signal

    assert task.calibration is not None
    clean, noisy = (np.asarray(a, dtype=np.float64) for a in task.calibration)
    clean, line, mapped = match_signal(clean, noisy, noisy * noisy, 1, float(noisy.max()))
    if not mapped:
        return clean, noisy, ""
    assert line is not None
    return clean, noisy, f", clean image mapped: {line.gain:.3f} x {line.offset:+.2f}"


def method_bm3d(task: Task) -> dict[str, Outcome]:
    """VST+BM3D with var = a s + b fitted on the calibration pair (else the estimate)."""
    if task.calibration is not None:
        clean, noisy, mapping = scaled_calibration_pair(task)
        gain, variance = fit_poisson_gaussian(clean, noisy)
        source = f"LS fit on the calibration pair{mapping}"
    else:
        model = estimated_model(task)
        gain, variance = model.gain, model.offset_variance
        source = "estimated from the captures"
    outputs, seconds = [], []
    for frame in task.noisy:
        started = time.perf_counter()
        outputs.append(vst_bm3d(frame, gain, variance, task.bm3d_profile))
        seconds.append(time.perf_counter() - started)
    note = f"var = {gain:.3g} s + {variance:.3g} ({source}), profile {task.bm3d_profile}"
    return {
        "bm3d": Outcome(
            np.stack(outputs),
            s_per_frame=float(np.mean(seconds)),
            peak_rss_mb=peak_rss_mb(),
            notes=[note],
        )
    }


def method_trad(task: Task) -> dict[str, Outcome]:
    """Supervised U-Net trained on the other-FOV pair, the clean image on the noisy scale."""
    from supervised import train_supervised

    from pn2v_engine import Denoiser, run_predict

    if task.calibration is None:
        return {"trad": Outcome(None, notes=["no noisy/clean pair of another field of view"])}
    clean, noisy, mapping = scaled_calibration_pair(task)
    settings = network_settings(task, "n2v")
    t = settings.training
    notes = []
    steps = task.steps or t.epochs * t.steps_per_epoch
    if task.steps is None and task.minutes > 0:
        warm = train_supervised(noisy, clean, settings, task.warmup_steps, task.device)
        steps = max(1, round(task.minutes * 60 * warm.steps / warm.seconds))
        notes.append(f"warm-up {warm.steps / warm.seconds:.2f} steps/s")
    run = train_supervised(noisy, clean, settings, steps, task.device)
    denoiser = Denoiser(settings, run.weights, run.normalisation, None, task.device)
    outputs, seconds = [], []
    for frame in task.noisy:
        started = time.perf_counter()
        outputs.append(run_predict(denoiser, frame).mmse)
        seconds.append(time.perf_counter() - started)
    notes.append(f"supervised on the other field of view's pair{mapping}")
    notes.append(f"best val MSE {run.best_val_loss:.4g} (normalised)")
    outcome = Outcome(
        np.stack(outputs),
        train_s=run.seconds,
        steps=run.steps,
        s_per_frame=float(np.mean(seconds)),
        peak_rss_mb=peak_rss_mb(),
        notes=notes,
    )
    return {"trad": outcome}


#: Job name -> (function, rows it produces). A job runs if any of its rows is asked for.
JOBS: dict[str, tuple[Callable[[Task], dict[str, Outcome]], tuple[str, ...]]] = {
    "input": (method_input, ("input",)),
    "n2v": (method_n2v, ("n2v",)),
    "n2v_boot": (method_n2v_boot, ("n2v_boot",)),
    "pn2v": (method_pn2v, ("pn2v", "pn2v_prior")),
    "pn2v_raw": (method_pn2v_raw, ("pn2v_raw",)),
    "pn2v_mix": (method_pn2v_mix, ("pn2v_mix",)),
    "pn2v_gmm": (method_pn2v_gmm, ("pn2v_gmm",)),
    "pn2v_warm": (method_pn2v_warm, ("pn2v_warm",)),
    "pn2v_est": (method_pn2v_est, ("pn2v_est",)),
    "pn2v_boot_hist": (method_pn2v_boot_hist, ("pn2v_boot_hist",)),
    "pn2v_boot": (method_pn2v_boot, ("pn2v_boot", "pn2v_boot_rot4", "pn2v_boot_alone")),
    "pn2v_boot_gmm": (method_pn2v_boot_gmm, ("pn2v_boot_gmm",)),
    "pn2v_boot_plain": (method_pn2v_boot_plain, ("pn2v_boot_plain",)),
    "pn2v_boot_scratch": (method_pn2v_boot_scratch, ("pn2v_boot_scratch",)),
    "bm3d": (method_bm3d, ("bm3d",)),
    "trad": (method_trad, ("trad",)),
}


def run_methods(task: Task, methods: Sequence[str], isolate: bool) -> dict[str, Outcome]:
    """Run the jobs behind ``methods``, each in its own process; a failure becomes a note."""
    outcomes: dict[str, Outcome] = {}
    for job, (function, rows) in JOBS.items():
        wanted = [row for row in rows if row in methods]
        if not wanted:
            continue
        if job == "pn2v_est" and task.calibration is None and "pn2v" in outcomes:
            same = outcomes["pn2v"]
            outcomes["pn2v_est"] = dataclasses.replace(
                same, notes=["same run as U-Net (PN2V): no calibration pair, estimated model"]
            )
            continue
        print(f"[{task.name}] {job} ...", flush=True)
        started = time.perf_counter()
        try:
            job_task = dataclasses.replace(task, job=job)
            produced = run_isolated(function, job_task, isolate=isolate and job != "input")
        except Exception as exc:  # keep the other rows of a long run
            traceback.print_exc()
            produced = {row: Outcome(None, notes=[f"FAILED: {exc}"]) for row in rows}
        print(f"[{task.name}] {job} done in {time.perf_counter() - started:.0f} s", flush=True)
        outcomes.update({row: produced[row] for row in wanted})
        if job in ("n2v", "n2v_boot") and produced[job].predictions is not None:
            n2v = produced[job]
            task = dataclasses.replace(task, pseudo_clean=n2v.predictions, n2v_network=n2v.network)
    return outcomes


# -- scoring and reporting ------------------------------------------------------------------


def score(gt: np.ndarray, predictions: np.ndarray) -> list[float]:
    """PSNR (data range 255) of each denoised capture against the ground truth."""
    from pn2v_engine import psnr

    return [psnr(gt, p, data_range=DATA_RANGE) for p in predictions]


def brightness_notes(noisy: np.ndarray, gt: np.ndarray) -> list[str]:
    """How bright each capture reads against the ground truth, for the input row's notes.

    Each capture's least-squares line on the ground truth, x = gain gt + offset, and the
    PSNR of that line's image of the truth: the best a denoiser that keeps the capture's
    own brightness can score (FMD TwoPhoton_MICE's first capture reads 15 % brighter).
    """
    truth = gt.astype(np.float64)
    design = np.stack([truth.ravel(), np.ones(truth.size)], axis=1)
    fits = [np.linalg.lstsq(design, capture.ravel().astype(np.float64))[0] for capture in noisy]
    bounds = score(gt, np.stack([gain * truth + offset for gain, offset in fits]))
    return [
        "captures read " + " / ".join(f"{gain:.3f} gt {offset:+.2f}" for gain, offset in fits),
        "the truth at each capture's brightness scores " + " / ".join(_num(b, 2) for b in bounds),
    ]


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def type_table(
    fmd_type: str, gt: np.ndarray, outcomes: dict[str, Outcome], methods: Sequence[str]
) -> str:
    """Markdown table of one type: PSNR mean ± 2 SEM over the captures, costs, notes."""
    from pn2v_engine.metrics import mean_and_sem  # not in the public API (yet)

    paper = PAPER_NR1.get(fmd_type, {})
    headers = [
        "Method",
        "PSNR NR1 (dB, ±2 SEM)",
        "Paper NR1",
        "Train s",
        "Steps",
        "s / frame",
        "Peak RSS MiB",
        "Per capture",
        "Notes",
    ]
    rows = []
    for key in methods:
        o = outcomes.get(key)
        if o is None:
            continue
        if o.predictions is None:
            psnr_text, per_capture = "-", "-"
        else:
            values = score(gt, o.predictions)
            mean, sem = mean_and_sem(values)
            psnr_text = f"{mean:.2f} ± {2 * sem:.2f}"
            per_capture = " / ".join(f"{v:.2f}" for v in values)
        rows.append(
            [
                METHODS[key],
                psnr_text,
                _num(paper.get(key), 2),
                _num(o.train_s, 0),
                "-" if o.steps is None else str(o.steps),
                _num(o.s_per_frame, 2),
                _num(o.peak_rss_mb, 0),
                per_capture,
                "; ".join(o.notes) or "",
            ]
        )
    if "trad" not in outcomes:
        rows.append(
            [METHODS["trad"], NOT_RUN, _num(paper.get("trad"), 2), *["-"] * 4, "-", "supervised"]
        )
    return markdown_table(headers, rows)


FigureRow = tuple[str, list[tuple[str, np.ndarray]]]

#: The rows shown between the noisy crop and the ground truth, with their panel labels
#: (one word each: :func:`merge_figure_rows` finds panels by it).
FIGURE_PANELS = (("n2v", "N2V"), ("pn2v", "PN2V"), ("pn2v_boot", "bootstrapped"))


def figure_rows(
    fmd_type: str, noisy: np.ndarray, gt: np.ndarray, outcomes: dict[str, Outcome]
) -> tuple[FigureRow, tuple[float, float]]:
    """One figure row (capture 1): noisy / N2V / PN2V / bootstrapped / ground truth, on one
    crop."""
    size = min(128, *gt.shape)
    y, x = structured_crop(gt, size)
    crop = (slice(y, y + size), slice(x, x + size))
    panels = [(f"noisy {score(gt, noisy[:1])[0]:.2f} dB", noisy[0][crop])]
    for key, label in FIGURE_PANELS:
        o = outcomes.get(key)
        if o is not None and o.predictions is not None:
            value = score(gt, o.predictions[:1])[0]
            panels.append((f"{label} {value:.2f} dB", o.predictions[0][crop]))
    panels.append(("ground truth", gt[crop]))
    low, high = np.percentile(gt[crop], [0.5, 99.5])
    return (f"{fmd_type}, capture 1, crop y={y} x={x}", panels), (float(low), float(high))


@dataclass
class TypeResult:
    """What the report keeps of one type's run: its table, how it was made, its figure row."""

    table: str
    command: str
    settings_text: str
    machine: dict[str, str]
    date: str
    figure: FigureRow
    display_range: tuple[float, float]
    #: The earlier runs (command and date) whose rows the table kept (``--update``).
    kept: str = ""

    def save(self, folder: Path, fmd_type: str) -> None:
        """``folder/<type>.json`` and the figure crops in ``folder/<type>.npz``."""
        folder.mkdir(parents=True, exist_ok=True)
        title, panels = self.figure
        text = {
            "table": self.table,
            "command": self.command,
            "settings_text": self.settings_text,
            "machine": self.machine,
            "date": self.date,
            "figure_title": title,
            "panel_labels": [label for label, _ in panels],
            "display_range": list(self.display_range),
            "kept": self.kept,
        }
        (folder / f"{fmd_type}.json").write_text(json.dumps(text, indent=1), encoding="utf-8")
        crops = {f"panel{i}": image.astype(np.float16) for i, (_, image) in enumerate(panels)}
        np.savez_compressed(folder / f"{fmd_type}.npz", **crops)

    def keeping(self, earlier: TypeResult) -> TypeResult:
        """This result with ``earlier``'s rows (and figure panels) for what it did not run."""
        runs = [f"`{earlier.command}` ({earlier.date})", earlier.kept]
        return dataclasses.replace(
            self,
            table=merge_tables(earlier.table, self.table, f"from the run of {earlier.date}"),
            figure=merge_figure_rows(earlier.figure, self.figure),
            kept="; ".join(filter(None, runs)),
        )

    @classmethod
    def load(cls, folder: Path, fmd_type: str) -> TypeResult:
        text = json.loads((folder / f"{fmd_type}.json").read_text(encoding="utf-8"))
        with np.load(folder / f"{fmd_type}.npz") as crops:
            panels = [
                (label, crops[f"panel{i}"].astype(np.float32))
                for i, label in enumerate(text["panel_labels"])
            ]
        return cls(
            text["table"],
            text["command"],
            text["settings_text"],
            text["machine"],
            text["date"],
            (text["figure_title"], panels),
            tuple(text["display_range"]),
            text.get("kept", ""),
        )


def merge_tables(earlier: str, latest: str, note: str) -> str:
    """``latest``'s rows, and ``earlier``'s for the methods ``latest`` lacks or did not run
    (their notes start with ``note``), in the order of :data:`METHODS`."""

    def rows(table: str) -> dict[str, str]:
        return {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}

    def noted(line: str) -> str:
        cells = line.split("|")
        if not cells[-2].strip().startswith("from the run of"):
            cells[-2] = f" {'; '.join(filter(None, [note, cells[-2].strip()]))} "
        return "|".join(cells)

    def ran(line: str) -> bool:
        return line.split("|")[2].strip() != NOT_RUN

    old, new = rows(earlier), rows(latest)
    merged = []
    for label in METHODS.values():
        if label in new and (ran(new[label]) or label not in old):
            merged.append(new[label])
        elif label in old:
            merged.append(noted(old[label]) if ran(old[label]) else old[label])
    return "\n".join(latest.splitlines()[:2] + merged)


def cited_runs(runs: str, table: str) -> str:
    """The runs of ``runs`` ("`command` (date)" each, joined by "; ") that a row of
    ``table`` is noted as coming from: the report names only those."""
    entries = re.finditer(r"`[^`]*` \(([^)]*)\)", runs)
    return "; ".join(m[0] for m in entries if f"from the run of {m[1]}" in table)


def merge_figure_rows(earlier: FigureRow, latest: FigureRow) -> FigureRow:
    """``latest``'s panels, with ``earlier``'s panel of a :data:`FIGURE_PANELS` row where
    ``latest`` has none (the crop is the same: it is chosen from the ground truth)."""
    title, panels = latest
    names = [label.split()[0] for label, _ in panels]
    for position, (_, method) in enumerate(FIGURE_PANELS, start=1):
        if method not in names:
            found = [panel for panel in earlier[1] if panel[0].split()[0] == method]
            panels = [*panels[:position], *found, *panels[position:]]
            names = [label.split()[0] for label, _ in panels]
    return title, panels


def stored_types(folder: Path) -> list[str]:
    """The types with a stored result: the default ones first, then the others by name."""
    names = sorted(p.stem for p in folder.glob("*.json"))
    return [n for n in DEFAULT_TYPES if n in names] + [n for n in names if n not in DEFAULT_TYPES]


def write_report(out: Path) -> None:
    """docs/fmd_results.md and docs/fmd_figure.png from every type stored in out/fmd_results."""
    folder = out / "fmd_results"
    results = {name: TypeResult.load(folder, name) for name in stored_types(folder)}
    lines = [
        "# FMD benchmark: Table 1 (NR1) of Krull et al. 2020 on this machine",
        "",
        "PSNR with data range 255 against the 50-frame average; mean over the four noisy",
        "captures (each denoised separately) ± 2 SEM. The networks train on the four noisy",
        "captures only. Confocal PN2V uses the noise model `pn2v calibrate` builds from one",
        "noisy/clean pair of another field of view (the paper used the 19 training FOVs × 50",
        "frames); two-photon and wide-field have no pair, so their PN2V row uses the estimated",
        "model. Peak RSS is that of the process that ran the method. The paper's numbers come",
        "from a GPU, the `paper` network (64 features, K = 800) and 10,000 steps of 80 patches",
        "of 100². Each type below names the command, machine and date of its run.",
        "",
    ]
    for fmd_type, r in results.items():
        kept = cited_runs(r.kept, r.table)
        lines += [
            f"## {fmd_type}",
            "",
            f"Command: `{r.command}` ({r.date})"
            + (f'; rows noted "from the run of" another date come from {kept}' if kept else ""),
            "",
            r.table,
            "",
            markdown_table(["", ""], [[k, v] for k, v in r.machine.items()]),
            "",
            r.settings_text,
            "",
        ]
    if results:
        lines += ["![noisy / N2V / PN2V / ground truth](fmd_figure.png)", ""]
        figure = [r.figure for r in results.values()]
        ranges = [r.display_range for r in results.values()]
        image_grid(figure, ranges).save(out / "fmd_figure.png")
    (out / "fmd_results.md").write_text("\n".join(lines), encoding="utf-8")


# -- command line ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--types", nargs="+", default=None, help=f"FMD types (default {' '.join(DEFAULT_TYPES)})"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=DEFAULT_METHODS,
        choices=list(METHODS),
        help=f"rows (default: all but the ablations {sorted(set(METHODS) - set(DEFAULT_METHODS))})",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="training budget per network, timed by a warm-up (--quick: 1/3); "
        "default: the preset's (or --set) epochs",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="optimisation steps per network instead of a time budget (load-independent)",
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--preset", default="cpu", help="settings preset (cpu or paper)")
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="dotted setting changes for the N2V/PN2V runs, e.g. training.learning_rate=2e-3",
    )
    parser.add_argument(
        "--pn2v-set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="dotted setting changes for the PN2V runs only (after --set), e.g. training.epochs=13",
    )
    parser.add_argument(
        "--reuse-n2v",
        type=Path,
        default=None,
        metavar="DIR",
        help="take the N2V rows' networks from DIR/TYPE_n2v.pn2v and DIR/TYPE_n2v_boot.pn2v "
        "(kept by an earlier --keep-projects run with the same settings) instead of "
        "training them again",
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default docs)")
    parser.add_argument("--quick", action="store_true", help="1 type, 20 s per network")
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep the rows of each type's stored result that this run does not make "
        "(same settings, please); by default a run replaces the type's whole table",
    )
    parser.add_argument("--data", type=Path, default=DATA, help="FMD FOV-19 folder")
    parser.add_argument("--calibration", type=Path, default=CALIBRATION, help="other-FOV pairs")
    parser.add_argument(
        "--prior-strength",
        type=float,
        default=None,
        help="histogram pseudo-counts (engine default; 0: the paper's plain histogram)",
    )
    parser.add_argument(
        "--bm3d-profile", default=Task.bm3d_profile, help="bm3d profile (np, refilter, ...)"
    )
    parser.add_argument(
        "--warmup-steps", type=int, default=Task.warmup_steps, help="steps to time the budget"
    )
    parser.add_argument("--weights", choices=("best", "last"), default=Task.weights)
    parser.add_argument("--device", default=Task.device, help="cpu, cuda, auto")
    parser.add_argument("--in-process", action="store_true", help="do not spawn per method")
    parser.add_argument(
        "--keep-projects",
        type=Path,
        default=None,
        metavar="DIR",
        help="save each trained network as DIR/TYPE_JOB.pn2v (for prediction_variants.py)",
    )
    args = parser.parse_args(argv)
    if args.types is None:
        args.types = ["Confocal_MICE"] if args.quick else list(DEFAULT_TYPES)
    if args.minutes is None:
        args.minutes = 20 / 60 if args.quick else 0.0
    if args.quick:
        args.warmup_steps = min(args.warmup_steps, 5)
    if args.out is None:
        args.out = Path("benchmarks/out/quick") if args.quick else Path("docs")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from pn2v_engine import preset
    from pn2v_engine.noise_models.histogram import DEFAULT_PRIOR_STRENGTH

    changes = {"training.seed": args.seed, **parse_changes(args.set)}
    settings = preset(args.preset).with_changes(**changes)
    pn2v_changes = parse_changes(args.pn2v_set)
    settings.with_changes(**pn2v_changes)  # refuse a bad change before any training
    prior_strength = DEFAULT_PRIOR_STRENGTH if args.prior_strength is None else args.prior_strength
    command = "python benchmarks/fmd.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    info = machine_info()
    budget = budget_text(args.steps, args.minutes)
    settings_text = (
        f"Settings: preset `{args.preset}`, changes `{changes}`"
        + (f", PN2V only `{pn2v_changes}`" if pn2v_changes else "")
        + f", training budget {budget}, "
        f"weights `{args.weights}`, histogram prior strength {prior_strength:g}, "
        f"device `{args.device}`.\n\nPN2V settings: `{settings.model_dump_json()}`"
    )
    print(command)
    for key, value in info.items():
        print(f"{key}: {value}")
    print(settings_text, flush=True)
    for fmd_type in args.types:
        noisy, gt, pair = load_type(fmd_type, args.data, args.calibration)
        task = Task(
            name=fmd_type,
            noisy=noisy,
            calibration=pair,
            settings=settings.model_dump(),
            minutes=args.minutes,
            steps=args.steps,
            warmup_steps=args.warmup_steps,
            prior_strength=prior_strength,
            bm3d_profile=args.bm3d_profile,
            device=args.device,
            weights=args.weights,
            pn2v_changes=pn2v_changes,
            reuse_n2v=args.reuse_n2v,
            keep_projects=args.keep_projects,
        )
        outcomes = run_methods(task, args.methods, isolate=not args.in_process)
        if "input" in outcomes:
            outcomes["input"].notes.extend(brightness_notes(noisy, gt))
        table = type_table(fmd_type, gt, outcomes, args.methods)
        print(f"\n## {fmd_type}\n\n{table}\n", flush=True)
        row, display = figure_rows(fmd_type, noisy, gt, outcomes)
        date = time.strftime("%Y-%m-%d %H:%M")
        result = TypeResult(table, command, settings_text, info, date, row, display)
        stored = args.out / "fmd_results"
        if args.update and (stored / f"{fmd_type}.json").is_file():
            result = result.keeping(TypeResult.load(stored, fmd_type))
        result.save(stored, fmd_type)
        write_report(args.out)
    print(f"wrote {args.out / 'fmd_results.md'} and {args.out / 'fmd_figure.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
