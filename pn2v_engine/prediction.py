"""Tiled MMSE prediction (paper Eq. 11): :func:`iter_predict` and :func:`run_predict`.

The image is cut into tiles whose inputs overlap by more than the network's
receptive field, on the pooling grid, so tiled output equals untiled output.
Per tile the trunk runs once; the K-sample head and the posterior weights
p(x|s_k) then run over chunks of pixels, so memory is bounded by the tile and
the chunk, never by K times the image.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .config import ORIENTATIONS, Settings, parse_settings
from .data import Normalisation
from .device import is_out_of_memory, select_device
from .errors import InvalidImageError, ResourceError
from .noise_models import NoiseModel, SourceNetwork
from .progress import CancelToken, PredictProgress, Throttle, check, drive
from .training import build_network, place_network
from .unet import SampleNetwork

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """Denoised frames, shape (frames, Y, X) float32 each (``mmse``: the result, with the
    bootstrap's Noise2Void prediction averaged in where the denoiser has it)."""

    mmse: np.ndarray
    prior_mean: np.ndarray | None = None
    posterior_std: np.ndarray | None = None


class Denoiser:
    """A trained network with its noise model and normalisation, ready to predict.

    Where the noise model was bootstrapped and keeps its Noise2Void network
    (:attr:`~pn2v_engine.noise_models.NoiseModel.source_network`), that network's
    prediction takes ``n2v_share`` of the result (default: the settings'
    ``prediction.n2v_share``) and PN2V's MMSE the rest.
    """

    def __init__(
        self,
        settings: Settings,
        weights: dict[str, torch.Tensor],
        normalisation: Normalisation,
        noise_model: NoiseModel | None,
        device: str = "auto",
        n2v_share: float | None = None,
    ) -> None:
        self.settings = settings
        self.device = select_device(device)
        self.network: SampleNetwork = build_network(settings)
        self.network.load_state_dict(weights)
        place_network(self.network, settings, self.device, training=False)
        self.network.eval()
        self.normalisation = normalisation
        self.noise_model = noise_model.to(self.device) if noise_model is not None else None
        self.probabilistic = settings.mode == "pn2v" and settings.network.n_samples > 1
        if self.probabilistic and noise_model is None:
            raise ValueError("a PN2V denoiser needs its noise model")
        share = settings.prediction.n2v_share if n2v_share is None else n2v_share
        if not 0 <= share <= 1:
            raise ValueError(f"n2v_share must be between 0 and 1, not {share}")
        source = noise_model.source_network if noise_model is not None else None
        #: the bootstrap's Noise2Void network, averaged in with weight :attr:`n2v_share`
        self.companion = (
            source_denoiser(source, device)
            if self.probabilistic and source is not None and share > 0
            else None
        )
        self.n2v_share = share if self.companion is not None else 0.0

    @property
    def size_multiple(self) -> int:
        """What the padded frame's sides are multiples of (the deepest network's pooling)."""
        return max(d.network.size_multiple for d in self._networks())

    @property
    def overlap(self) -> int:
        m = self.size_multiple
        return max(math.ceil(d.network.receptive_radius / m) * m for d in self._networks())

    def _networks(self) -> list[Denoiser]:
        return [self] if self.companion is None else [self, self.companion]

    def _statistics(
        self, features: torch.Tensor, observed: torch.Tensor, want_std: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """MMSE, prior mean and posterior std for (N, C) features and (N,) observations."""
        samples = self.normalisation.invert(self.network.apply_head(features))
        if not self.probabilistic:
            prior_mean = samples.mean(dim=1)
            return prior_mean, prior_mean, None
        assert self.noise_model is not None
        samples = self.noise_model.clamp_signal(samples)
        prior_mean = samples.mean(dim=1)
        weights = self.noise_model.posterior_weights(observed.unsqueeze(1), samples)
        if not want_std:  # the samples are not needed again: multiply in place
            return samples.mul_(weights).sum(dim=1), prior_mean, None
        mmse = (weights * samples).sum(dim=1)
        std = samples.sub_(mmse.unsqueeze(1)).square_().mul_(weights).sum(dim=1).sqrt_()
        return mmse, prior_mean, std

    def _tiles(self, height: int, width: int, tile: int) -> list[tuple[slice, slice, slice, slice]]:
        """(input rows, input cols, output rows, output cols) of each tile of the padded frame."""
        o = self.overlap
        spans = []
        for size in (height, width):
            spans.append(
                [
                    (max(0, a - o), min(size, a + tile + o), a, min(size, a + tile))
                    for a in range(0, size, tile)
                ]
            )
        return [
            (slice(ia, ib), slice(ja, jb), slice(oa, ob), slice(pa, pb))
            for ia, ib, oa, ob in spans[0]
            for ja, jb, pa, pb in spans[1]
        ]


def source_denoiser(source: SourceNetwork, device: str = "cpu") -> Denoiser:
    """The Noise2Void network a bootstrapped noise model keeps, ready to predict."""
    settings = parse_settings({"mode": "n2v", "network": source.network})
    weights = {name: torch.from_numpy(np.asarray(value)) for name, value in source.weights.items()}
    return Denoiser(settings, weights, Normalisation(source.mean, source.std), None, device)


def _pad(frame: torch.Tensor, multiple: int) -> torch.Tensor:
    height, width = frame.shape
    pad_y, pad_x = (-height) % multiple, (-width) % multiple
    if not (pad_y or pad_x):
        return frame
    mode = "reflect" if pad_y < height and pad_x < width else "replicate"
    return F.pad(frame[None, None], (0, pad_x, 0, pad_y), mode=mode)[0, 0]


def iter_predict(
    denoiser: Denoiser,
    image: np.ndarray,
    *,
    prior_mean: bool = False,
    uncertainty: bool = False,
    tile_size: int | None = None,
    orientations: int = 1,
    cancel: CancelToken | None = None,
) -> Generator[PredictProgress, None, Prediction]:
    """Denoise a 2-D image or a stack of frames, yielding progress per tile.

    Parameters
    ----------
    image
        (Y, X) or (frames, Y, X), in camera units.
    prior_mean, uncertainty
        Also return the mean of the prior samples (the N2V-like estimate) and the
        posterior standard deviation (an uncertainty map).
    tile_size
        Side of the output tiles; default from the settings. Smaller saves memory.
    orientations
        1, 2, 4 or 8: the network sees the image in that many rotations and mirrors
        (:data:`ORIENTATIONS`) and their results are averaged, which takes that many
        times as long (measured on FMD: 4 gains 0.04-0.07 dB, README "Benchmarks").
        The posterior of the average is the equal mixture of the orientations'
        posteriors, so the uncertainty also holds their disagreement.

    Where the denoiser has a :attr:`Denoiser.companion` (the bootstrap's Noise2Void
    network), its prediction, in the same orientations, takes :attr:`Denoiser.n2v_share`
    of the result; the uncertainty is then the posterior's root mean squared distance
    from the result, and the prior mean stays PN2V's.
    """
    array = np.asarray(image)
    if array.ndim not in (2, 3) or min(array.shape[-2:]) < 1:
        raise InvalidImageError(f"Cannot denoise an array of shape {array.shape}.")
    if orientations not in ORIENTATIONS:
        raise ValueError(f"orientations must be one of {sorted(ORIENTATIONS)}, not {orientations}")
    frames = array.reshape(-1, *array.shape[-2:])
    m = denoiser.size_multiple
    companion = denoiser.companion
    tile = max(m, (tile_size or denoiser.settings.prediction.tile_size) // m * m)
    chunk = denoiser.settings.prediction.pixel_chunk
    transforms = ORIENTATIONS[orientations]
    height, width = frames.shape[1:]
    outputs = {"mmse": np.empty(frames.shape, np.float32)}
    if prior_mean:
        outputs["prior_mean"] = np.empty(frames.shape, np.float32)
    if uncertainty and denoiser.probabilistic:
        outputs["posterior_std"] = np.empty(frames.shape, np.float32)
    started = time.monotonic()
    throttle = Throttle(0.25)
    device = denoiser.device
    for index, frame in enumerate(frames):
        raw = _pad(torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32)), m)
        normalised = denoiser.normalisation.apply(raw)
        companion_input = companion.normalisation.apply(raw) if companion is not None else None
        tiles = denoiser._tiles(*raw.shape, tile)
        for number, (rows, cols, out_rows, out_cols) in enumerate(tiles, start=1):
            check(cancel)
            crop_y = slice(out_rows.start - rows.start, out_rows.stop - rows.start)
            crop_x = slice(out_cols.start - cols.start, out_cols.stop - cols.start)
            keep_y = slice(out_rows.start, min(out_rows.stop, height))
            keep_x = slice(out_cols.start, min(out_cols.stop, width))
            if keep_y.start >= keep_y.stop or keep_x.start >= keep_x.stop:
                continue
            tile_args = (
                raw[keep_y, keep_x],
                crop_y,
                crop_x,
                (keep_y.stop - keep_y.start, keep_x.stop - keep_x.start),
                chunk,
            )
            try:
                results = _predict_tile(
                    denoiser,
                    normalised[rows, cols],
                    *tile_args,
                    "posterior_std" in outputs,
                    transforms,
                    cancel,
                    device,
                )
                if companion is not None and companion_input is not None:
                    n2v = _predict_tile(
                        companion,
                        companion_input[rows, cols],
                        *tile_args,
                        False,
                        transforms,
                        cancel,
                        companion.device,
                    )["mmse"]
                    _blend(results, n2v, denoiser.n2v_share)
            except Exception as exc:
                if is_out_of_memory(exc):
                    raise ResourceError(
                        f"Out of memory on {device.type} while denoising tiles of {tile} pixels.",
                        "Choose a smaller tile size (--tile-size) or close other programs.",
                    ) from exc
                raise
            for name, values in results.items():
                if name in outputs:
                    outputs[name][index, keep_y, keep_x] = values
            if throttle() or number == len(tiles):
                yield PredictProgress(
                    index, len(frames), number, len(tiles), time.monotonic() - started
                )
    shape = array.shape
    return Prediction(**{name: values.reshape(shape) for name, values in outputs.items()})


def _blend(results: dict[str, np.ndarray], n2v: np.ndarray, share: float) -> None:
    """Give the Noise2Void prediction ``n2v`` its ``share`` of the result, in place; the
    uncertainty becomes the posterior's root mean squared distance from the new result."""
    mmse = results["mmse"]
    blended = (1 - share) * mmse + share * n2v
    if "posterior_std" in results:
        std = results["posterior_std"]
        results["posterior_std"] = np.sqrt(np.square(std) + np.square(mmse - blended))
    results["mmse"] = blended


def _oriented(image: torch.Tensor, k: int) -> torch.Tensor:
    """``image`` turned by ``k % 4`` quarter turns, mirrored when ``k >= 4`` (last two
    axes); ``image`` itself for ``k == 0`` (``rot90`` would copy it)."""
    if k == 0:
        return image
    turned = torch.rot90(image, k % 4, (-2, -1))
    return torch.flip(turned, (-1,)) if k >= 4 else turned


def _unoriented(image: torch.Tensor, k: int) -> torch.Tensor:
    """The inverse of :func:`_oriented`."""
    if k == 0:
        return image
    unmirrored = torch.flip(image, (-1,)) if k >= 4 else image
    return torch.rot90(unmirrored, -(k % 4), (-2, -1))


def _predict_tile(
    denoiser: Denoiser,
    tile_input: torch.Tensor,
    observed: torch.Tensor,
    crop_y: slice,
    crop_x: slice,
    shape: tuple[int, int],
    chunk: int,
    want_std: bool,
    transforms: tuple[int, ...],
    cancel: CancelToken | None,
    device: torch.device,
) -> dict[str, np.ndarray]:
    """The tile's statistics, averaged over the orientations ``transforms``."""
    with torch.inference_mode():
        observed = observed.reshape(-1).to(device)
        with_std = want_std and denoiser.probabilistic
        names = ["mmse", "prior_mean"] + (["posterior_std"] if with_std else [])
        # The tile's outputs exist before the chunks and each chunk's results are added
        # in and freed at once: small results kept from chunk to chunk would pin holes in
        # the heap that the next chunk's large arrays no longer fit, and glibc's heap
        # (the CPU case) then grows by about one (chunk, K) array per chunk. The
        # orientations' MMSE is averaged by Welford's update, which also gives their
        # spread (in float32, E[s^2] - E[s]^2 would lose it).
        totals = {name: observed.new_zeros(observed.numel()) for name in names}
        spread = observed.new_zeros(observed.numel()) if with_std else None
        for count, k in enumerate(transforms, start=1):
            turned = _oriented(tile_input, k)[None, None].to(device)
            features = denoiser.network.trunk_features(turned)
            features = _unoriented(features[0], k)[:, crop_y, crop_x][:, : shape[0], : shape[1]]
            # (pixels, C), contiguous: a view for channels-last features without a crop
            features = features.permute(1, 2, 0).reshape(-1, features.shape[0])
            for start in range(0, features.shape[0], chunk):
                check(cancel)
                stop = min(start + chunk, features.shape[0])
                mmse, prior_mean, std = denoiser._statistics(
                    features[start:stop], observed[start:stop], want_std
                )
                mean = totals["mmse"][start:stop]
                delta = mmse - mean
                mean += delta / count
                totals["prior_mean"][start:stop] += prior_mean
                if spread is not None:
                    spread[start:stop] += delta * (mmse - mean)
                    totals["posterior_std"][start:stop] += std.square_()
                del mmse, prior_mean, std, delta
            del features
        n = len(transforms)
        totals["prior_mean"].div_(n)
        if spread is not None:
            # the equal mixture's variance: within the orientations plus between them
            totals["posterior_std"].add_(spread).div_(n).sqrt_()
        return {name: values.reshape(shape).cpu().numpy() for name, values in totals.items()}


def run_predict(
    denoiser: Denoiser,
    image: np.ndarray,
    *,
    on_progress: Callable[[PredictProgress], Any] | None = None,
    **kwargs: Any,
) -> Prediction:
    """Blocking :func:`iter_predict`."""
    return drive(iter_predict(denoiser, image, **kwargs), on_progress)
