"""A noise model from the noisy images alone, by bootstrapping (Prakash et al., ISBI 2020).

Without a calibration stack: train Noise2Void on the noisy images, take its prediction
as a pseudo-clean signal, and build a noise model from the (prediction, noisy image)
pairs: a Gaussian mixture (smooth, needs little data), the paper's histogram, or the
histogram smoothed by the mixture. The model keeps the Noise2Void network
(:attr:`~pn2v_engine.noise_models.NoiseModel.source_network`), and PN2V training starts
from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from .config import Settings, preset
from .data import as_frames
from .deflation import NEGLIGIBLE, Deflation, Predict, evenly_spaced, fit_deflation
from .errors import ConfigError, NoiseModelError
from .noise_models import HistogramNoiseModel, NoiseModel, SourceNetwork, histogram_from_pairs
from .noise_models.floor import lowest_reading
from .noise_models.gmm_fit import ROUNDING_SIGMA, iter_fit_gmm
from .noise_models.histogram import DEFAULT_BINS, is_integer_valued
from .noise_models.smoothing import iter_smooth_histogram
from .prediction import Denoiser, iter_predict, run_predict, source_denoiser
from .progress import (
    CancelToken,
    PredictProgress,
    StageProgress,
    TrainProgress,
    check,
    drive,
)
from .training import TrainResult, iter_train

log = logging.getLogger(__name__)

BootstrapKind = Literal["gmm", "histogram", "smoothed"]
BootstrapProgress = TrainProgress | StageProgress

METHOD = "bootstrapped: Noise2Void prediction as the clean signal (Prakash et al. 2020)"

#: The smoothed kind's floor on the pseudo-counts, in rows: its cross-validation chooses
#: from this many times the pairs in a row of average population up (calibration: the
#: whole grid), so the mixture weighs the same whatever the grid's bin width. Chosen by
#: PSNR, not likelihood: on FMD (``benchmarks/fmd.py``, README "Benchmarks") PN2V trained
#: with rows shrunk this hard denoised as well or better on all three types than with the
#: cross-validation's free choice, and as well as with 0.8 rows, although the likelihood
#: of the pairs, and of the true pairs (``bootstrap_diagnostics.py``), peaks at fewer.
BOOTSTRAP_MIN_PSEUDO_ROWS = 1.2


def n2v_settings(settings: Settings | None = None) -> Settings:
    """``settings`` (default: the ``cpu`` preset) turned into the bootstrap's Noise2Void.

    One output sample and the mean squared error. Where the settings average the
    network's prediction into PN2V's result (``prediction.n2v_share`` > 0) and the blind
    spot is masked, the U-Net also leaves out its top skip (N2V2's, Höck et al. 2022):
    0.35-0.40 dB better than the paper's U-Net on FMD, and its average with PN2V ahead of
    either, but PN2V alone does a little worse from its pairs (README "Two networks
    averaged"). PN2V training starts from it all the same
    (:func:`~pn2v_engine.training.start_from_network`).
    """
    base = settings if settings is not None else preset("cpu")
    changes: dict[str, object] = {"mode": "n2v", "network.n_samples": 1}
    if base.network.blind_spot == "masking" and base.prediction.n2v_share > 0:
        changes["network.top_skip"] = False
    return base.with_changes(**changes)


@dataclass
class BootstrapPairs:
    """Pseudo-clean/noisy pairs from an N2V run: what a bootstrapped noise model is fitted to.

    ``signal[i]`` is the N2V prediction of the noisy frame ``observation[i]``.
    ``value_range`` and ``integer`` describe the readings as recorded (default: from
    ``signal`` and ``observation``); they stay with the pairs when :meth:`deflated`
    rescales the readings, so the models keep the recorded data's grid. ``network``,
    the N2V network, goes with every model built from the pairs. ``lowest`` is the
    recorded readings' :func:`~.noise_models.floor.lowest_reading` (default: from
    ``observation`` where they are integers, as recorded; evenly spaced frames of at most
    :data:`~.deflation.MAX_PIXELS` pixels), kept too.
    """

    signal: list[np.ndarray]
    observation: list[np.ndarray]
    summary: dict[str, Any]
    value_range: tuple[float, float] | None = None
    integer: bool | None = None
    network: SourceNetwork | None = None
    lowest: float | None = None

    def __post_init__(self) -> None:
        if self.value_range is None:
            arrays = [*self.signal, *self.observation]
            self.value_range = (
                min(float(np.min(a)) for a in arrays),
                max(float(np.max(a)) for a in arrays),
            )
        if self.integer is None or self.lowest is None:
            as_recorded = all(is_integer_valued(x) for x in self.observation)
            if self.integer is None:
                self.integer = as_recorded
            if self.lowest is None and as_recorded:
                sample = [self.observation[i].ravel() for i in evenly_spaced(self.observation)]
                self.lowest = lowest_reading(np.concatenate(sample))

    def deflated(
        self,
        predict: Predict | None = None,
        *,
        seed: int = 0,
        device: str = "cpu",
        cancel: CancelToken | None = None,
    ) -> BootstrapPairs:
        """The pairs with N2V's error taken out of their spread (:mod:`~pn2v_engine.deflation`).

        ``predict`` is N2V's prediction of a noisy frame (default: :attr:`network`'s, on
        ``device``); ``seed`` draws the re-noising residuals. Where there is no network,
        the error cannot be measured, or it is nowhere a noticeable share of the pairs'
        spread, the pairs are returned as they are; the summary's ``"deflation"`` says which.
        """
        if predict is None:
            if self.network is None:
                return self._kept("there is no Noise2Void network to measure it with", True)
            denoiser = source_denoiser(self.network, device)

            def n2v_prediction(frame: np.ndarray) -> np.ndarray:
                return run_predict(denoiser, frame).mmse

            predict = n2v_prediction
        try:
            deflation = self.deflation(predict, seed=seed, cancel=cancel)
        except NoiseModelError as exc:
            return self._kept(exc.message, needed=True)
        if np.min(deflation.factors) >= 1.0 - NEGLIGIBLE:
            return self._kept("Noise2Void's error is negligible against their spread", False)
        observation = [
            deflation.apply(s, x) for s, x in zip(self.signal, self.observation, strict=True)
        ]
        summary = {**self.summary, "deflation": {"applied": True, **deflation.summary()}}
        return replace(self, observation=observation, summary=summary)

    def deflation(
        self, predict: Predict, *, seed: int = 0, cancel: CancelToken | None = None
    ) -> Deflation:
        """N2V's error in these pairs, measured with ``predict`` (:func:`fit_deflation`)."""
        assert self.value_range is not None and self.integer is not None
        return fit_deflation(
            self.signal,
            self.observation,
            predict,
            value_range=self.value_range,
            integer=self.integer,
            seed=seed,
            cancel=cancel,
        )

    def _kept(self, reason: str, needed: bool) -> BootstrapPairs:
        """The pairs as they are; ``needed``: deflation was called for but impossible."""
        log.info("bootstrapped pairs kept as they are: %s", reason)
        deflation = {"applied": False, "needed": needed, "reason": reason}
        return replace(self, summary={**self.summary, "deflation": deflation})

    def _metadata(self, kind: str) -> dict[str, Any]:
        return {"method": METHOD, "bootstrap": {"kind": kind, **self.summary}}

    def histogram(self, bins: int = DEFAULT_BINS) -> NoiseModel:
        """The paper's histogram p(x|s) of the pairs."""
        return self._histogram(bins, "histogram")

    def _histogram(self, bins: int, kind: str) -> HistogramNoiseModel:
        model = histogram_from_pairs(
            self.signal,
            self.observation,
            bins=bins,
            value_range=self.value_range,
            integer=self.integer,
            metadata=self._metadata(kind),
        )
        model.source_network = self.network
        return model

    def _flat(self) -> tuple[np.ndarray, np.ndarray]:
        signal = np.concatenate([p.ravel() for p in self.signal])
        return signal, np.concatenate([f.ravel() for f in self.observation])

    def _fit_options(self, fit_options: dict[str, Any]) -> dict[str, Any]:
        if self.integer:
            return {"min_sigma": ROUNDING_SIGMA, **fit_options}
        return fit_options

    def iter_fit_gmm(
        self, *, cancel: CancelToken | None = None, **fit_options: Any
    ) -> Generator[StageProgress, None, NoiseModel]:
        """A Gaussian mixture fitted to the pairs (options of :func:`iter_fit_gmm`)."""
        model = yield from iter_fit_gmm(
            *self._flat(),
            cancel=cancel,
            metadata=self._metadata("gmm"),
            **{"value_range": self.value_range, **self._fit_options(fit_options)},
        )
        model.source_network = self.network
        return model

    def iter_smoothed_histogram(
        self, bins: int = DEFAULT_BINS, *, cancel: CancelToken | None = None, **fit_options: Any
    ) -> Generator[StageProgress, None, HistogramNoiseModel]:
        """The pairs' histogram smoothed by a mixture fitted to them, as calibration smooths
        (:mod:`~pn2v_engine.noise_models.smoothing`) but shrunk by at least
        :data:`BOOTSTRAP_MIN_PSEUDO_ROWS` rows' worth of pairs, with nothing read below the recorded
        readings' floor (:attr:`lowest`): the mixture's shape at the histogram's speed,
        with the pairs' counts kept."""
        measured = self._histogram(bins, "smoothed")
        return (
            yield from iter_smooth_histogram(
                measured,
                *self._flat(),
                cancel=cancel,
                min_pseudo_rows=BOOTSTRAP_MIN_PSEUDO_ROWS,
                lowest=self.lowest,
                **self._fit_options(fit_options),
            )
        )


def iter_bootstrap_pairs(
    images: Sequence[np.ndarray],
    settings: Settings | None = None,
    *,
    cancel: CancelToken | None = None,
    device: str = "auto",
) -> Generator[BootstrapProgress, None, BootstrapPairs]:
    """Train N2V on the noisy images and pair its prediction with each noisy frame.

    Yields :class:`TrainProgress` while N2V trains, then ``predicting`` in frames.
    ``settings`` (default: the ``cpu`` preset) are made plain N2V.
    """
    settings = n2v_settings(settings)
    frames = as_frames(images)
    check(cancel)
    result = yield from iter_train(frames, None, settings, cancel=cancel, device=device)
    check(cancel)
    denoiser = Denoiser(
        result.settings, result.best_weights, result.normalisation, None, device=device
    )
    predictions = yield from _predict(denoiser, frames, cancel)
    return BootstrapPairs(
        predictions, frames, _summary(result, frames), network=source_network(result)
    )


def source_network(result: TrainResult) -> SourceNetwork:
    """An N2V run's best weights, as a bootstrapped noise model keeps them."""
    weights = {name: value.numpy() for name, value in result.best_weights.items()}
    n = result.normalisation
    return SourceNetwork(weights, n.mean, n.std, result.settings.network.model_dump())


def iter_bootstrap_noise_model(
    images: Sequence[np.ndarray],
    settings: Settings | None = None,
    *,
    kind: BootstrapKind = "smoothed",
    cancel: CancelToken | None = None,
    device: str = "auto",
    bins: int = DEFAULT_BINS,
    deflate: bool = True,
    **fit_options: Any,
) -> Generator[BootstrapProgress, None, NoiseModel]:
    """Train N2V on the noisy images and build a noise model from its prediction.

    Parameters
    ----------
    images
        Noisy 2-D images or ``(frames, Y, X)`` stacks, in camera units.
    settings
        Training settings; made plain N2V (``mode="n2v"``, one output sample).
        Default: the ``cpu`` preset.
    kind
        ``"smoothed"`` (default): the pairs' histogram of ``bins`` bins smoothed by a
        fitted mixture (as calibration smooths; training runs at the histogram's speed);
        ``"gmm"``: the :class:`~pn2v_engine.noise_models.gmm.GaussianMixtureNoiseModel`
        itself; ``"histogram"``: the paper's histogram as measured.
    cancel
        Checked throughout; cancelling raises :class:`~pn2v_engine.progress.Cancelled`.
    device
        ``auto``, ``cpu``, ``cuda`` or ``mps`` for training and prediction.
    bins
        Histogram bins (``kind="histogram"`` or ``"smoothed"``).
    deflate
        Take N2V's own error out of the pairs' spread (:meth:`BootstrapPairs.deflated`)
        before the model is built (measured on FMD: see the README). ``False``: the pairs
        as measured.
    **fit_options
        Options of :func:`~pn2v_engine.noise_models.gmm_fit.iter_fit_gmm`
        (``n_components``, ``degree``, ``steps``, ``seed``, ...; not for the histogram).

    Yields
    ------
    TrainProgress or StageProgress
        :class:`TrainProgress` while N2V trains, then ``predicting`` in frames, then
        ``estimating`` (with ``deflate``), then ``fitting`` (or ``smoothing``) in steps,
        or ``histogram``.

    Returns
    -------
    NoiseModel
        Its metadata's ``"bootstrap"`` says how it was made.

    Raises
    ------
    ConfigError
        For an unknown ``kind``, GMM options with ``kind="histogram"``, or bad settings.
    """
    if kind not in ("gmm", "histogram", "smoothed"):
        raise ConfigError(
            f"Unknown noise model kind {kind!r}.", "Choose gmm, histogram or smoothed."
        )
    if kind == "histogram" and fit_options:
        raise ConfigError(
            f"Options {sorted(fit_options)} apply to the Gaussian mixture, not the histogram."
        )
    pairs = yield from iter_bootstrap_pairs(images, settings, cancel=cancel, device=device)
    if deflate:
        yield StageProgress("estimating", 0, 1, "Noise2Void's error")
        seed = n2v_settings(settings).training.seed
        pairs = pairs.deflated(seed=seed, device=device, cancel=cancel)
        yield StageProgress("estimating", 1, 1, "Noise2Void's error")
    if kind == "histogram":
        yield StageProgress("histogram", 0, 1, "")
        model = pairs.histogram(bins)
        yield StageProgress("histogram", 1, 1, "")
    elif kind == "smoothed":
        model = yield from pairs.iter_smoothed_histogram(bins, cancel=cancel, **fit_options)
    else:
        model = yield from pairs.iter_fit_gmm(cancel=cancel, **fit_options)
    log.info("bootstrapped a %s noise model from %d frames", kind, len(pairs.observation))
    return model


def run_bootstrap_noise_model(
    images: Sequence[np.ndarray],
    settings: Settings | None = None,
    *,
    on_progress: Callable[[BootstrapProgress], Any] | None = None,
    **kwargs: Any,
) -> NoiseModel:
    """Blocking :func:`iter_bootstrap_noise_model`; ``on_progress`` receives each report."""
    return drive(iter_bootstrap_noise_model(images, settings, **kwargs), on_progress)


def _predict(
    denoiser: Denoiser, frames: list[np.ndarray], cancel: CancelToken | None
) -> Generator[StageProgress, None, list[np.ndarray]]:
    """The N2V prediction of every frame, reporting tiles as ``predicting`` progress."""
    predictions = []
    total = len(frames)
    yield StageProgress("predicting", 0, total, "")
    for index, frame in enumerate(frames):
        generator = iter_predict(denoiser, frame, cancel=cancel)
        while True:
            try:
                report: PredictProgress = next(generator)
            except StopIteration as stop:
                predictions.append(stop.value.mmse)
                break
            yield StageProgress(
                "predicting",
                index,
                total,
                f"frame {index + 1} of {total}, tile {report.tile} of {report.tiles}",
            )
    yield StageProgress("predicting", total, total, f"{total} frames")
    return predictions


def _summary(result: TrainResult, frames: list[np.ndarray]) -> dict[str, Any]:
    t = result.settings.training
    return {
        "frames": len(frames),
        "preset": result.settings.preset,
        "epochs": result.epochs_done,
        "steps_per_epoch": t.steps_per_epoch,
        "n2v_best_val_loss": result.best_val_loss,
        "network": result.settings.network.model_dump(),
    }
