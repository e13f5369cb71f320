"""Fitting the Gaussian-mixture noise model to (signal, observation) pairs.

Maximum likelihood with Adam on minibatches, in log space. The fit starts from a
Poisson-Gaussian line ``var(x|s) = a s + b`` fitted to binned residual variances, which
the mixture represents exactly (zero offsets, equal weights, component variances spread
around the line), so a few hundred steps converge on a CPU. A held-out share of the
pairs is scored regularly, and the parameters with the lowest held-out negative
log-likelihood are returned (the reference implementation saves a half-trained model).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import torch

from pn2v_engine.errors import ConfigError, NoiseModelError
from pn2v_engine.progress import CancelToken, StageProgress, Throttle, check, drive

from .gmm import GaussianMixtureNoiseModel
from .histogram import is_integer_valued
from .parametric import fit_variance_line

log = logging.getLogger(__name__)

DEFAULT_COMPONENTS = 3
DEFAULT_DEGREE = 2
DEFAULT_STEPS = 400
DEFAULT_BATCH = 16384
DEFAULT_LEARNING_RATE = 0.05
#: Pairs used at most; more are subsampled at random.
MAX_PAIRS = 2_000_000
#: Fewer pairs than this cannot determine the mixture.
MIN_PAIRS = 1000
#: Held-out pairs scored to choose the returned parameters.
HELD_OUT_PAIRS = 50_000
#: Held-out scores per fit (plus one of the starting point).
EVALUATIONS = 40
#: Signal quantiles mapped to u = 0 and u = 1 (a few outliers do not stretch the domain).
FIT_QUANTILES = (0.001, 0.999)
#: The standard deviation of the rounding error of integer readings: the default floor
#: on every component's standard deviation for them.
ROUNDING_SIGMA = 1.0 / math.sqrt(12.0)
#: Component variances start at these multiples (geometric mean 1) of the fitted line.
_SPREAD = 0.5


def iter_fit_gmm(
    signal: np.ndarray,
    observation: np.ndarray,
    *,
    n_components: int = DEFAULT_COMPONENTS,
    degree: int = DEFAULT_DEGREE,
    min_sigma: float | None = None,
    steps: int = DEFAULT_STEPS,
    batch: int = DEFAULT_BATCH,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    seed: int = 0,
    cancel: CancelToken | None = None,
    value_range: tuple[float, float] | None = None,
    max_pairs: int = MAX_PAIRS,
    metadata: dict[str, Any] | None = None,
) -> Generator[StageProgress, None, GaussianMixtureNoiseModel]:
    """Fit a :class:`GaussianMixtureNoiseModel` to clean/noisy pairs by maximum likelihood.

    Parameters
    ----------
    signal, observation
        Clean signals and the noisy readings of them, in camera units, of shapes that
        broadcast together (e.g. a ``(Y, X)`` clean image and ``(frames, Y, X)`` noisy
        frames of it, or two ``(N,)`` arrays of pairs).
    n_components, degree
        Gaussians in the mixture, and the degree of the polynomials of the signal that
        give their weights, means and variances.
    min_sigma
        Floor on every component's standard deviation, in camera units. Default: the
        rounding error's ``1 / sqrt(12)`` for integer readings, else ``1e-3`` of the range.
    steps, batch, learning_rate
        Adam steps, pairs per step, and the initial rate (it decays on a cosine).
    seed
        Seeds the subsampling, the held-out split and the minibatches: equal seeds give
        equal models.
    cancel
        Checked at every step; cancelling raises :class:`~pn2v_engine.progress.Cancelled`.
    value_range
        The model's ``(low, high)``; pairs whose signal lies outside are left out.
        Default: the range of all signals and observations.
    max_pairs
        Pairs used at most (a random subset of them beyond).
    metadata
        Added to the model's metadata (e.g. where the pairs came from).

    Yields
    ------
    StageProgress
        Stage ``"fitting"`` in steps, at least twice a second.

    Returns
    -------
    GaussianMixtureNoiseModel
        The parameters with the lowest held-out negative log-likelihood seen; the
        metadata's ``"fit"`` records the scores.

    Raises
    ------
    ConfigError
        For options out of range.
    NoiseModelError
        For mismatched shapes, NaN or infinite values, or too few pairs.
    """
    _validate(n_components, degree, min_sigma, steps, batch, learning_rate, max_pairs)
    check(cancel)
    started = time.monotonic()
    rng = np.random.default_rng(seed)
    s, x, (low, high) = _prepare_pairs(signal, observation, value_range, max_pairs, rng)
    if min_sigma is None:
        min_sigma = _default_min_sigma(x, low, high)
    held = min(HELD_OUT_PAIRS, s.size // 5)
    order = rng.permutation(s.size)
    s_val, x_val = (torch.from_numpy(a[order[:held]]) for a in (s, x))
    s_fit, x_fit = (torch.from_numpy(a[order[held:]]) for a in (s, x))
    fit_range = _fit_range(s)
    line = _variance_line(s, x)
    model = _initial_model(line, n_components, degree, min_sigma, (low, high), fit_range)
    parameters = model.parameters.clone().requires_grad_(True)
    model.parameters = parameters
    optimizer = torch.optim.Adam([parameters], lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    generator = torch.Generator().manual_seed(seed)
    every = max(1, steps // EVALUATIONS)
    scores = {0: _held_out_nll(model, s_val, x_val)}
    best = parameters.detach().clone()
    throttle = Throttle(0.25)
    throttle()
    yield StageProgress("fitting", 0, steps, f"held-out NLL {scores[0]:.4f}")
    for step in range(1, steps + 1):
        check(cancel)
        index = torch.randint(s_fit.numel(), (min(batch, s_fit.numel()),), generator=generator)
        with torch.enable_grad():  # also when the caller turned gradients off
            loss = -model.log_likelihood(x_fit[index], s_fit[index]).mean()
            if not torch.isfinite(loss):
                log.warning("GMM fit diverged at step %d; keeping the best parameters", step)
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        optimizer.step()
        schedule.step()
        if step % every == 0 or step == steps:
            scores[step] = _held_out_nll(model, s_val, x_val)
            if scores[step] <= min(scores.values()):
                best = parameters.detach().clone()
        if throttle() or step == steps:
            score = min(scores.values())
            yield StageProgress("fitting", step, steps, f"best held-out NLL {score:.4f}")
    best_step = min(scores, key=lambda k: (scores[k], -k))
    fit = {
        "pairs": int(s.size),
        "held_out_pairs": int(held),
        "steps": int(steps),
        "batch": int(batch),
        "learning_rate": float(learning_rate),
        "seed": int(seed),
        "best_step": int(best_step),
        "held_out_nll": {str(k): float(v) for k, v in scores.items()},
        "initial_poisson_gaussian": {"gain": line[0], "offset_variance": line[1]},
        "seconds": round(time.monotonic() - started, 3),
    }
    log.info(
        "fitted a %d-component GMM noise model to %d pairs in %.1f s (held-out NLL %.4f)",
        n_components,
        s.size,
        fit["seconds"],
        scores[best_step],
    )
    return GaussianMixtureNoiseModel(
        best,
        (low, high),
        fit_range,
        min_sigma,
        model.scale,
        metadata={"method": "Gaussian mixture fitted by maximum likelihood", "fit": fit}
        | (metadata or {}),
    )


def run_fit_gmm(
    signal: np.ndarray,
    observation: np.ndarray,
    *,
    on_progress: Callable[[StageProgress], Any] | None = None,
    **kwargs: Any,
) -> GaussianMixtureNoiseModel:
    """Blocking :func:`iter_fit_gmm`; ``on_progress`` receives each report."""
    return drive(iter_fit_gmm(signal, observation, **kwargs), on_progress)


def _validate(
    n_components: int,
    degree: int,
    min_sigma: float | None,
    steps: int,
    batch: int,
    learning_rate: float,
    max_pairs: int,
) -> None:
    problems = []
    if not 1 <= n_components <= 16:
        problems.append(f"components must be 1 to 16, got {n_components}")
    if not 0 <= degree <= 8:
        problems.append(f"the degree must be 0 to 8, got {degree}")
    if min_sigma is not None and not (math.isfinite(min_sigma) and min_sigma > 0):
        problems.append(f"min_sigma must be positive, got {min_sigma}")
    if steps < 1 or batch < 1 or max_pairs < MIN_PAIRS:
        problems.append(
            f"steps and batch must be at least 1 and max_pairs at least {MIN_PAIRS}, got "
            f"{steps}, {batch} and {max_pairs}"
        )
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        problems.append(f"the learning rate must be positive, got {learning_rate}")
    if problems:
        raise ConfigError(
            f"Invalid Gaussian-mixture fit options: {'; '.join(problems)}.",
            f"The defaults ({DEFAULT_COMPONENTS} components, degree {DEFAULT_DEGREE}, "
            f"{DEFAULT_STEPS} steps) suit most cameras.",
        )


def _prepare_pairs(
    signal: np.ndarray,
    observation: np.ndarray,
    value_range: tuple[float, float] | None,
    max_pairs: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The pairs to fit, as float32 ``(N,)`` arrays, and the model's value range."""
    s, x = _sample_pairs(signal, observation, max_pairs, rng)
    low, high = _value_range(s, x, value_range)
    keep = (s >= low) & (s <= high)
    s, x = s[keep], x[keep]
    if s.size < MIN_PAIRS:
        raise NoiseModelError(
            f"Only {s.size} signal/observation pairs lie in the range {low:g} to {high:g}; "
            f"at least {MIN_PAIRS} are needed.",
            "Use more or larger images, or widen the range.",
        )
    return s, x, (low, high)


def _sample_pairs(
    signal: np.ndarray, observation: np.ndarray, max_pairs: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_pairs`` finite float32 pairs of the broadcast arrays, in random order."""
    try:
        s, x = np.broadcast_arrays(np.asarray(signal), np.asarray(observation))
    except ValueError as exc:
        raise NoiseModelError(
            f"Signals of shape {np.shape(signal)} do not match observations of shape "
            f"{np.shape(observation)}.",
            "Pair each clean image with noisy images of the same size.",
        ) from exc
    if s.size > max_pairs:
        index = np.unravel_index(rng.choice(s.size, max_pairs, replace=False), s.shape)
        s, x = s[index], x[index]
    s = np.ascontiguousarray(s, dtype=np.float32).ravel()
    x = np.ascontiguousarray(x, dtype=np.float32).ravel()
    if not (np.isfinite(s).all() and np.isfinite(x).all()):
        raise NoiseModelError(
            "The signals or observations contain NaN or infinite values.",
            "Use the camera's original images, or replace those pixels first.",
        )
    return s, x


def _value_range(
    s: np.ndarray, x: np.ndarray, value_range: tuple[float, float] | None
) -> tuple[float, float]:
    if value_range is None:
        if s.size == 0:
            return 0.0, 1.0
        low = min(float(s.min()), float(x.min()))
        high = max(float(s.max()), float(x.max()))
        return (low, high) if high > low else (low, low + 1.0)
    low, high = (float(v) for v in value_range)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(
            f"The range {low:g} to {high:g} is not a valid range.",
            "Give a minimum below the maximum, or leave the range empty to use the data's.",
        )
    return low, high


def _default_min_sigma(x: np.ndarray, low: float, high: float) -> float:
    return ROUNDING_SIGMA if is_integer_valued(x) else 1e-3 * (high - low)


def _fit_range(s: np.ndarray) -> tuple[float, float]:
    fit_low, fit_high = (float(v) for v in np.quantile(s, FIT_QUANTILES))
    if fit_high <= fit_low:
        fit_high = fit_low + max(1.0, abs(fit_low) * 1e-6)
    return fit_low, fit_high


def _variance_line(s: np.ndarray, x: np.ndarray, levels: int = 32) -> tuple[float, float]:
    """``var(x - s) = a s + b`` over quantile bins of the signal, fitted as the
    Poisson-Gaussian estimate fits it (:func:`.parametric.fit_variance_line`)."""
    edges = np.unique(np.quantile(s, np.linspace(0.0, 1.0, levels + 1)))
    which = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, max(len(edges) - 2, 0))
    residual = (x - s).astype(np.float64)
    n = np.bincount(which, minlength=len(edges)).astype(np.float64)
    mean_s = np.bincount(which, weights=s, minlength=len(edges))
    total = np.bincount(which, weights=residual, minlength=len(edges))
    squares = np.bincount(which, weights=residual * residual, minlength=len(edges))
    rows = n >= 16
    if np.count_nonzero(rows) < 2:
        return 0.0, float(max(residual.var(), 1e-12))
    mean_s = mean_s[rows] / n[rows]
    var = np.maximum(squares[rows] / n[rows] - (total[rows] / n[rows]) ** 2, 1e-12)
    return fit_variance_line(mean_s, var, n[rows])


def _initial_model(
    line: tuple[float, float],
    n_components: int,
    degree: int,
    min_sigma: float,
    value_range: tuple[float, float],
    fit_range: tuple[float, float],
) -> GaussianMixtureNoiseModel:
    """Equal weights, zero offsets, component variances spread around the fitted line.

    The spread (factors with geometric mean one, normalised to mean one) breaks the
    components' symmetry while the mixture's variance starts on the line.
    """
    a, b = line
    nodes = fit_range[0] + (fit_range[1] - fit_range[0]) * np.linspace(0.0, 1.0, degree + 1)
    floor = 2.0 * min_sigma**2
    variance = np.maximum(a * nodes + b, floor)  # linear in u: Bernstein coefficients are nodes
    scale = math.sqrt(float(variance.mean()))
    factors = np.exp(np.linspace(-_SPREAD, _SPREAD, n_components))
    factors /= factors.mean()
    excess = np.maximum(factors[:, None] * variance[None, :] - min_sigma**2, 0.01 * floor)
    parameters = np.zeros((3, n_components, degree + 1), np.float32)
    parameters[2] = np.log(excess / scale**2)
    return GaussianMixtureNoiseModel(parameters, value_range, fit_range, min_sigma, scale)


def _held_out_nll(
    model: GaussianMixtureNoiseModel, s: torch.Tensor, x: torch.Tensor, chunk: int = 65536
) -> float:
    with torch.no_grad():
        total = sum(
            float(model.log_likelihood(x[i : i + chunk], s[i : i + chunk]).double().sum())
            for i in range(0, s.numel(), chunk)
        )
    return -total / max(s.numel(), 1)
