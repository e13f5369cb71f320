"""PN2V and N2V training: :func:`iter_train` yields progress, :func:`run_train` blocks.

Cheap where the paper's implementation is not: the K-sample head runs only at
the masked pixels (the loss needs nothing else), patches are cut on the fly,
and the loop is cancellable between passes and resumable from its checkpoint.
A small crop can be denoised at the end of epochs for a live preview. PN2V with a
bootstrapped noise model starts from the Noise2Void network the model came from
(:func:`start_from_network`).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .blind_spot import BlindSpotUNet
from .config import Settings
from .data import Normalisation, PatchSampler, as_frames, grid_patches, split_train_validation
from .device import compute_dtype, is_out_of_memory, native_bfloat16, select_device
from .errors import ConfigError, NoiseModelError, ResourceError
from .losses import masked_mse, pn2v_loss
from .masking import MaskedPixels, replace_with_neighbours, stratified_pixels
from .noise_models import NoiseModel, SourceNetwork, check_noise_model_range
from .progress import Cancelled, CancelToken, Throttle, TrainProgress, check, drive
from .unet import SampleNetwork, UNet

if TYPE_CHECKING:
    from .prediction import Denoiser

log = logging.getLogger(__name__)


@dataclass
class History:
    """Per-epoch curves of a training run."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    elapsed_s: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list]:
        return {name: list(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, list]) -> History:
        return cls(**{name: list(data.get(name, [])) for name in cls.__dataclass_fields__})


@dataclass
class TrainResult:
    """What a training run produced; ``checkpoint`` lets :func:`iter_train` resume it."""

    settings: Settings
    normalisation: Normalisation
    best_weights: dict[str, torch.Tensor]
    last_weights: dict[str, torch.Tensor]
    history: History
    checkpoint: dict[str, Any]
    epochs_done: int
    stopped: bool = False
    warnings: list[str] = field(default_factory=list)
    #: What the weights started from, in words (``None``: random initial weights).
    started_from: str | None = None

    @property
    def best_val_loss(self) -> float:
        return min(self.history.val_loss) if self.history.val_loss else math.inf


#: On the CPU, the most pixels a training pass takes at once: larger activations spill
#: out of the caches (benchmarks/speed.py, the paper batch of 80 x 100²: 22.5 s a step
#: in one pass, 13.9 s in eight of 10 patches).
CPU_PASS_PIXELS = 100_000


def passes_per_step(settings: Settings, device: torch.device) -> int:
    """How many passes (accumulated micro-batches) one optimisation step takes.

    The settings' ``accumulate``; on the CPU, more where a pass would exceed
    :data:`CPU_PASS_PIXELS` (the smallest divisor of the batch that fits). A step
    still averages the gradient over ``batch_size`` patches, drawn pass by pass as
    with ``accumulate``; memory and speed are what change.
    """
    t = settings.training
    if device.type != "cpu":
        return t.accumulate
    for passes in range(t.accumulate, t.batch_size + 1):
        fits = t.batch_size // passes * t.patch_size**2 <= CPU_PASS_PIXELS
        if t.batch_size % passes == 0 and fits:
            return passes
    return t.batch_size


def build_network(settings: Settings) -> SampleNetwork:
    n = settings.network
    if n.blind_spot == "network":
        return BlindSpotUNet(n.depth, n.features, n.n_samples, n.output_scale)
    return UNet(n.depth, n.features, n.n_samples, n.output_scale, n.top_skip)


def place_network(
    network: SampleNetwork, settings: Settings, device: torch.device, training: bool
) -> None:
    """Move ``network`` to ``device``, computing as ``settings.network.precision`` asks.

    On the CPU oneDNN runs the trunk's convolutions faster on weights laid out
    channels-last (NHWC): 10-30 % at prediction, 15 % in bfloat16 training. Training in
    float32 keeps the default layout, since NHWC rounds differently and the same seed
    would no longer give the weights of earlier versions.
    """
    network.to(device)
    network.compute_dtype = compute_dtype(settings.network.precision, device)
    if device.type == "cpu" and (not training or network.compute_dtype != torch.float32):
        network.to(memory_format=torch.channels_last)


#: :attr:`TrainResult.started_from` of a run that :func:`start_from_network` started.
STARTED_FROM_BOOTSTRAP = "the Noise2Void network of the bootstrapped noise model"


#: The weights of the convolution that reads the first level's skip (and the upsampled
#: features before it), in a U-Net's state dict.
TOP_SKIP_WEIGHT = "up.0.0.weight"


def start_from_network(
    network: SampleNetwork, source: SourceNetwork, settings: Settings
) -> str | None:
    """Start ``network`` from ``source``: its trunk, and each sample at its prediction.

    The trunk's weights are copied; each of the K samples' head weights is the
    source's (mean) head plus the head's own random initialisation, so the samples
    start spread around the source's prediction. Measured on FMD (README,
    ``benchmarks/fmd.py``): PN2V with a bootstrapped model, started from the
    bootstrap's Noise2Void network, denoises better at the same number of steps. A
    source without the top skip (``network.top_skip``) starts a network that has it
    with zero weights on the skip.

    Returns
    -------
    str or None
        Why ``network`` was left as it is (another architecture), else ``None``.
    """
    n = settings.network
    shape = {key: source.network.get(key) for key in ("depth", "features", "blind_spot")}
    if shape != {"depth": n.depth, "features": n.features, "blind_spot": n.blind_spot}:
        return (
            f"the bootstrap's Noise2Void network (depth {shape['depth']}, "
            f"{shape['features']} features) differs from this one (depth {n.depth}, "
            f"{n.features} features)"
        )
    state = network.state_dict()
    weights = {name: torch.from_numpy(np.asarray(value)) for name, value in source.weights.items()}
    if n.top_skip and not source.network.get("top_skip", True) and TOP_SKIP_WEIGHT in weights:
        # The first level's skip, which the source lacks, starts with zero weights: the
        # network then starts computing the source's features, and learns to use the skip.
        upsampled = weights[TOP_SKIP_WEIGHT]
        weights[TOP_SKIP_WEIGHT] = torch.cat([upsampled, torch.zeros_like(upsampled)], dim=1)
    if set(weights) != set(state) or any(
        weights[name].shape != state[name].shape for name in state if not name.startswith("head.")
    ):
        return "the bootstrap's Noise2Void network does not fit this network's layers"
    scale = float(source.network.get("output_scale", 1.0)) / n.output_scale
    for name, value in weights.items():
        if name.startswith("head."):
            value = value.mean(dim=0) * scale
        state[name] = state[name] + value if name.startswith("head.") else value.clone()
    network.load_state_dict(state)
    return None


class _Trainer:
    """The state of one run; iter_train drives it."""

    def __init__(
        self,
        frames: list[np.ndarray],
        noise_model: NoiseModel | None,
        settings: Settings,
        device: torch.device,
        resume: TrainResult | None,
        start: SourceNetwork | None,
    ) -> None:
        t = settings.training
        self.settings, self.device = settings, device
        self.passes = passes_per_step(settings, device)
        self.noise_model = noise_model.to(device) if noise_model is not None else None
        torch.manual_seed(t.seed)
        network = build_network(settings)
        self.started_from, self.not_started_from = None, None
        self.normalisation = resume.normalisation if resume else Normalisation.of(frames)
        if resume is not None:
            self.started_from = resume.started_from
        elif start is not None:
            self.not_started_from = start_from_network(network, start, settings)
            if self.not_started_from is None:
                self.started_from = STARTED_FROM_BOOTSTRAP
                self.normalisation = Normalisation(start.mean, start.std)
        place_network(network, settings, device, training=True)
        self.network = network
        train_frames, val_frames = split_train_validation(frames, t.val_fraction, t.patch_size)
        self.sampler = PatchSampler(train_frames, t.patch_size, t.seed, t.bright_patches)
        self.mask_generator = torch.Generator().manual_seed(t.seed + 1)
        self.val_patches = grid_patches(val_frames, t.patch_size, t.val_patches)
        val_generator = torch.Generator().manual_seed(t.seed + 2)
        self.val_pixels = stratified_pixels(
            len(self.val_patches),
            t.patch_size,
            t.patch_size,
            settings.masking.fraction,
            val_generator,
        )
        self.val_inputs = self._hide(self.val_patches, self.val_pixels, val_generator)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=t.learning_rate)
        total_steps = t.epochs * t.steps_per_epoch
        if t.schedule == "cosine":
            self.scheduler: Any = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=total_steps
            )
        else:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, factor=t.plateau_factor, patience=t.plateau_patience
            )
        self.history = History()
        self.epochs_done = 0
        self.steps_in_epoch = 0
        self.best_val = math.inf
        self.best_weights = self._weights()
        self.elapsed_before = 0.0
        if resume is not None:
            self._restore(resume)

    def _hide(
        self, patches: torch.Tensor, pixels: MaskedPixels, generator: torch.Generator
    ) -> torch.Tensor:
        """The network's input: the trained pixels masked, unless the network hides them."""
        if self.settings.network.blind_spot == "network":
            return patches
        return replace_with_neighbours(patches, pixels, generator, self.settings.masking.radius)

    def _weights(self) -> dict[str, torch.Tensor]:
        return {
            k: v.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
            for k, v in self.network.state_dict().items()
        }

    def _restore(self, resume: TrainResult) -> None:
        c = resume.checkpoint
        self.network.load_state_dict(resume.last_weights)
        self.optimizer.load_state_dict(c["optimizer"])
        self.scheduler.load_state_dict(c["scheduler"])
        if self.settings.training.schedule == "cosine":
            total = self.settings.training.epochs * self.settings.training.steps_per_epoch
            if total != self.scheduler.T_max:
                # Stretch the schedule to the new length. The scheduler's chained update
                # only rescales the current rate (which stays 0 once a finished run got
                # there), so set the rate of the stretched cosine explicitly.
                self.scheduler.T_max = total
                s = self.scheduler
                t = min(s.last_epoch, total)
                for group, base in zip(self.optimizer.param_groups, s.base_lrs, strict=True):
                    group["lr"] = (
                        s.eta_min + (base - s.eta_min) * (1 + math.cos(math.pi * t / total)) / 2
                    )
                s._last_lr = [group["lr"] for group in self.optimizer.param_groups]
        self.sampler.set_state(c["sampler"])
        self.mask_generator.set_state(c["mask_generator"])
        self.history = copy.deepcopy(resume.history)
        self.epochs_done = resume.epochs_done
        self.best_val = resume.best_val_loss
        self.best_weights = resume.best_weights
        self.elapsed_before = self.history.elapsed_s[-1] if self.history.elapsed_s else 0.0

    @property
    def warming_up(self) -> bool:
        """True while a PN2V run fits only the mean of its samples (``n2v_warmup``)."""
        t = self.settings.training
        done = self.epochs_done * t.steps_per_epoch + self.steps_in_epoch
        return done < t.n2v_warmup * t.epochs * t.steps_per_epoch

    def loss(
        self, inputs: torch.Tensor, pixels: MaskedPixels, raw: torch.Tensor, n2v: bool = False
    ) -> torch.Tensor:
        outputs = self.network.samples_at(inputs, pixels)
        observed = pixels.values(raw)
        if self.settings.mode == "n2v" or n2v:
            return masked_mse(outputs.mean(dim=1), self.normalisation.apply(observed))
        assert self.noise_model is not None
        return pn2v_loss(self.normalisation.invert(outputs), observed, self.noise_model)

    def validate(self) -> float:
        self.network.eval()
        batch = self.settings.training.batch_size // self.passes
        losses, weights = [], []
        with torch.no_grad():
            for start in range(0, len(self.val_patches), batch):
                stop = min(start + batch, len(self.val_patches))
                keep = (self.val_pixels.batch >= start) & (self.val_pixels.batch < stop)
                pixels = MaskedPixels(
                    self.val_pixels.batch[keep] - start,
                    self.val_pixels.y[keep],
                    self.val_pixels.x[keep],
                )
                raw = self.val_patches[start:stop].to(self.device)
                inputs = self.normalisation.apply(self.val_inputs[start:stop].to(self.device))
                pixels = _to(pixels, self.device)
                losses.append(float(self.loss(inputs, pixels, raw)))
                weights.append(len(pixels))
        self.network.train()
        return float(np.average(losses, weights=weights))

    def step(self) -> float:
        """One optimisation step over ``batch_size`` patches; returns the mean loss."""
        t, m = self.settings.training, self.settings.masking
        micro = t.batch_size // self.passes
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(self.passes):
            raw = self.sampler.sample(micro)
            pixels = stratified_pixels(
                micro, t.patch_size, t.patch_size, m.fraction, self.mask_generator
            )
            masked = self._hide(raw, pixels, self.mask_generator)
            loss = self.loss(
                self.normalisation.apply(masked.to(self.device)),
                _to(pixels, self.device),
                raw.to(self.device),
                n2v=self.warming_up,
            )
            (loss / self.passes).backward()
            total += loss.item() / self.passes
        self.optimizer.step()
        self.steps_in_epoch += 1
        if self.settings.training.schedule == "cosine":
            self.scheduler.step()
        return total

    def end_epoch(self, train_loss: float, elapsed: float) -> float:
        val = self.validate()
        self.epochs_done += 1
        self.steps_in_epoch = 0
        if self.settings.training.schedule == "plateau":
            self.scheduler.step(val)
        h = self.history
        h.epoch.append(self.epochs_done)
        h.train_loss.append(train_loss)
        h.val_loss.append(val)
        h.learning_rate.append(self.optimizer.param_groups[0]["lr"])
        h.elapsed_s.append(self.elapsed_before + elapsed)
        if val < self.best_val:
            self.best_val = val
            self.best_weights = self._weights()
        return val

    def result(self, stopped: bool, warnings: list[str]) -> TrainResult:
        checkpoint = {
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": self.scheduler.state_dict(),
            "sampler": self.sampler.state(),
            "mask_generator": self.mask_generator.get_state(),
        }
        return TrainResult(
            settings=self.settings,
            normalisation=self.normalisation,
            best_weights=self.best_weights,
            last_weights=self._weights(),
            history=copy.deepcopy(self.history),
            checkpoint=_to_cpu(checkpoint),
            epochs_done=self.epochs_done,
            stopped=stopped,
            warnings=warnings,
            started_from=self.started_from,
        )


class _Preview:
    """Denoises a small crop with a trainer's current weights, as prediction will later.

    The crop goes through :func:`pn2v_engine.prediction.run_predict` as one tile, on a
    copy of the network: the training network, its mode and its weights are untouched,
    and the random number streams of training are not drawn from.
    """

    def __init__(self, crop: np.ndarray, every: int, trainer: _Trainer) -> None:
        self.crop, self.every, self.trainer = crop, every, trainer
        self._denoiser: Denoiser | None = None

    def due(self, epoch: int) -> bool:
        return epoch % self.every == 0 or epoch == self.trainer.settings.training.epochs

    def __call__(self) -> np.ndarray:
        from .prediction import Denoiser, run_predict  # prediction imports this module

        t = self.trainer
        if self._denoiser is None:
            # building the copy's network draws initial weights from torch's global generator
            with torch.random.fork_rng(devices=[]):
                self._denoiser = Denoiser(
                    t.settings,
                    t.network.state_dict(),
                    t.normalisation,
                    t.noise_model if t.settings.mode == "pn2v" else None,
                    device=str(t.device),
                )
        else:
            self._denoiser.network.load_state_dict(t.network.state_dict())
        m = self._denoiser.network.size_multiple
        tile = -(-max(self.crop.shape) // m) * m
        return run_predict(self._denoiser, self.crop, tile_size=tile).mmse


def _check_preview(preview: np.ndarray, settings: Settings) -> np.ndarray:
    """The preview crop as float32, or a ConfigError saying what is wrong with it."""
    multiple = 2 ** (settings.network.depth - 1)  # SampleNetwork.size_multiple
    hint = (
        f"Pass a small 2-D crop of a training image (e.g. 128x128 pixels), at least "
        f"{multiple} pixels on each side, or no preview."
    )
    array = np.asarray(preview)
    if array.ndim != 2:
        raise ConfigError(f"The preview crop has shape {array.shape}; expected 2-D.", hint)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ConfigError(f"The preview crop has values of type {array.dtype}.", hint)
    crop = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(crop).all():
        raise ConfigError("The preview crop has NaN or infinite pixels.", hint)
    if min(crop.shape) < multiple:
        raise ConfigError(
            f"The preview crop of {crop.shape[1]}x{crop.shape[0]} pixels is smaller than the "
            f"network's {multiple}x{multiple} pixel grid (depth {settings.network.depth}).",
            hint,
        )
    return crop


def _to(pixels: MaskedPixels, device: torch.device) -> MaskedPixels:
    return MaskedPixels(pixels.batch.to(device), pixels.y.to(device), pixels.x.to(device))


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to("cpu")
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value


def iter_train(
    images: Sequence[np.ndarray],
    noise_model: NoiseModel | None,
    settings: Settings,
    *,
    cancel: CancelToken | None = None,
    resume: TrainResult | None = None,
    device: str = "auto",
    allow_out_of_range: bool = False,
    preview: np.ndarray | None = None,
    preview_every: int = 1,
    warm_start: bool = True,
) -> Generator[TrainProgress, None, TrainResult]:
    """Train a PN2V (or N2V) network on noisy images, yielding progress.

    Parameters
    ----------
    images
        Noisy 2-D images or stacks, in camera units.
    noise_model
        p(x|s) for ``settings.mode == "pn2v"``; ignored (may be ``None``) for N2V.
    settings
        Network, masking and training settings (see :mod:`pn2v_engine.config`).
    cancel
        Checked between passes; a cancelled run *returns* its result with
        ``stopped=True`` and the last and best weights so far.
    resume
        A previous result to continue from, up to ``settings.training.epochs``.
    device
        ``auto``, ``cpu``, ``cuda`` or ``mps``.
    allow_out_of_range
        Train even where the images lie outside the noise model's range (a warning
        in the result instead of a :class:`~pn2v_engine.errors.NoiseModelError`).
    preview
        A small 2-D crop of a training image, in camera units (e.g. 128x128
        pixels, at least ``2 ** (depth - 1)`` on each side), for a live preview.
        At the end of every ``preview_every``-th epoch, and of the last epoch, it
        is denoised with the current weights by the prediction code (the MMSE
        for PN2V, the network's prediction for N2V) and attached, float32 and of
        the crop's shape, to the epoch's final report as
        :attr:`TrainProgress.preview <pn2v_engine.progress.TrainProgress>`. It
        costs one forward pass over the crop and changes nothing in training:
        the weights are the same as without a preview.
    preview_every
        Epochs between previews: they come after the epochs whose number is a
        multiple of it (numbers continue when resuming), and after the last.
    warm_start
        For PN2V with a bootstrapped noise model that keeps its Noise2Void network
        (:attr:`NoiseModel.source_network <pn2v_engine.noise_models.NoiseModel>`),
        start from that network (:func:`start_from_network`; the run's normalisation is
        then the network's) when it has this run's depth and width; otherwise,
        and with ``False``, from random weights. Not for resumed runs.

    Returns
    -------
    TrainResult
        As the generator's return value (see :func:`pn2v_engine.progress.drive`).

    Raises
    ------
    ConfigError
        Without a noise model in PN2V mode, for a resumed run of other network
        settings, or for a preview crop that is not 2-D, finite and large enough
        (or a ``preview_every`` below 1).
    """
    if settings.mode == "pn2v" and noise_model is None:
        raise ConfigError("PN2V training needs a noise model.", "Calibrate or estimate one first.")
    frames = as_frames(images)
    warnings: list[str] = []
    if settings.mode == "pn2v" and noise_model is not None:
        if allow_out_of_range:
            try:
                warnings += check_noise_model_range(frames, noise_model)
            except NoiseModelError as exc:
                warnings.append(exc.message)
        else:
            warnings += check_noise_model_range(frames, noise_model)
    for warning in warnings:
        log.warning(warning)
    if resume is not None and not settings.network.fits_weights_of(resume.settings.network):
        raise ConfigError(
            "The network settings differ from those of the run being resumed.",
            "Resume with the same network, or start a new training.",
        )
    if isinstance(preview_every, bool) or not isinstance(preview_every, int) or preview_every < 1:
        raise ConfigError(
            f"The preview interval must be a whole number of epochs, at least 1; "
            f"got {preview_every!r}.",
            "Set preview_every to 1 for a preview after every epoch.",
        )
    crop = _check_preview(preview, settings) if preview is not None else None
    torch_device = select_device(device)
    if settings.network.precision == "bfloat16" and not native_bfloat16(torch_device):
        warnings.append(
            "This processor computes bfloat16 only by emulation, slower than float32: "
            "choose the float32 (or automatic) arithmetic to train faster."
        )
    start = None
    if warm_start and settings.mode == "pn2v" and noise_model is not None:
        start = noise_model.source_network
    trainer = _Trainer(frames, noise_model, settings, torch_device, resume, start)
    if trainer.started_from is not None and resume is None:
        log.info("training starts from %s", trainer.started_from)
    if trainer.not_started_from is not None:
        warnings.append(f"Training starts from random weights: {trainer.not_started_from}.")
    previewer = _Preview(crop, preview_every, trainer) if crop is not None else None
    t = settings.training
    throttle = Throttle(0.25)
    started = time.monotonic()
    steps_run = 0
    remaining_steps = (t.epochs - trainer.epochs_done) * t.steps_per_epoch
    try:
        for epoch in range(trainer.epochs_done + 1, t.epochs + 1):
            running = 0.0
            for step in range(1, t.steps_per_epoch + 1):
                check(cancel)
                try:
                    loss = trainer.step()
                except Exception as exc:
                    if is_out_of_memory(exc):
                        raise _out_of_memory(settings, torch_device) from exc
                    raise
                if not math.isfinite(loss):
                    raise ResourceError(
                        f"Training diverged (loss {loss}) at epoch {epoch}, step {step}.",
                        "Lower the learning rate, or check the noise model and images.",
                    )
                steps_run += 1
                running += loss
                last_step = step == t.steps_per_epoch
                val = (
                    trainer.end_epoch(running / step, time.monotonic() - started)
                    if last_step
                    else (trainer.history.val_loss[-1] if trainer.history.val_loss else None)
                )
                if last_step or throttle():
                    denoised = (
                        previewer()
                        if last_step and previewer is not None and previewer.due(epoch)
                        else None
                    )
                    elapsed = time.monotonic() - started
                    rate = steps_run / elapsed if elapsed > 0 else 0.0
                    yield TrainProgress(
                        epoch=epoch,
                        epochs=t.epochs,
                        step=step,
                        steps_per_epoch=t.steps_per_epoch,
                        train_loss=running / step,
                        val_loss=val,
                        learning_rate=trainer.optimizer.param_groups[0]["lr"],
                        steps_per_s=rate,
                        elapsed_s=trainer.elapsed_before + elapsed,
                        eta_s=(remaining_steps - steps_run) / rate if rate > 0 else math.inf,
                        epoch_finished=last_step,
                        preview=denoised,
                    )
    except Cancelled:
        log.info("training stopped after %d epochs", trainer.epochs_done)
        return trainer.result(stopped=True, warnings=warnings)
    return trainer.result(stopped=False, warnings=warnings)


def _out_of_memory(settings: Settings, device: torch.device) -> ResourceError:
    t = settings.training
    return ResourceError(
        f"Out of memory on {device.type} while training on batches of {t.batch_size} patches "
        f"of {t.patch_size}x{t.patch_size} pixels.",
        "Lower the batch size or the patch size, or raise 'accumulate' to split each batch.",
    )


def run_train(
    images: Sequence[np.ndarray],
    noise_model: NoiseModel | None,
    settings: Settings,
    *,
    on_progress: Callable[[TrainProgress], Any] | None = None,
    **kwargs: Any,
) -> TrainResult:
    """Blocking :func:`iter_train`; ``on_progress`` receives each report."""
    return drive(iter_train(images, noise_model, settings, **kwargs), on_progress)
