"""The noise-model interface: p(x | s) for an observation x given a signal s.

All models work in camera units (the units of the images on disk) and evaluate
as batched torch operations, differentiable in ``s``, on whatever device they
were moved to with :meth:`NoiseModel.to`.
"""

from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import torch

from pn2v_engine.errors import NoiseModelError
from pn2v_engine.files import atomic_write_bytes

#: Likelihoods below this density are treated as this value, so that the
#: log-likelihood stays finite (ln 1e-30 ~ -69).
DENSITY_FLOOR = 1e-30
LOG_DENSITY_FLOOR = math.log(DENSITY_FLOOR)

#: Share of pixels outside the noise model's range above which training and denoising refuse.
MAX_OUT_OF_RANGE = 0.05

_REGISTRY: dict[str, type[NoiseModel]] = {}
#: Prefix of the ``.npz`` members that hold a :class:`SourceNetwork`'s weights.
_NETWORK_PREFIX = "source_network."


@dataclass(frozen=True)
class SourceNetwork:
    """The trained Noise2Void network a bootstrapped noise model's signal came from.

    PN2V training on the same images can start from it (see
    :func:`pn2v_engine.training.iter_train`). ``weights`` is its state dict as numpy
    arrays; ``mean`` and ``std`` the normalisation its inputs and outputs use;
    ``network`` its network settings (``depth``, ``features``, ``output_scale``, ...).
    """

    weights: dict[str, np.ndarray]
    mean: float
    std: float
    network: dict[str, Any]

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {_NETWORK_PREFIX + name: value for name, value in self.weights.items()}
        described = {"mean": self.mean, "std": self.std, "network": self.network}
        arrays[_NETWORK_PREFIX.rstrip(".")] = np.array(json.dumps(described))
        return arrays

    @classmethod
    def _pop_from(cls, arrays: dict[str, np.ndarray]) -> SourceNetwork | None:
        """The network stored among ``arrays`` (its members removed), or ``None``."""
        described = arrays.pop(_NETWORK_PREFIX.rstrip("."), None)
        names = [name for name in arrays if name.startswith(_NETWORK_PREFIX)]
        weights = {name.removeprefix(_NETWORK_PREFIX): arrays.pop(name) for name in names}
        if described is None:
            return None
        text = json.loads(str(described))
        return cls(weights, float(text["mean"]), float(text["std"]), dict(text["network"]))


@dataclass(frozen=True)
class RangeReport:
    """How much of some data lies outside a noise model's calibrated range."""

    low: float
    high: float
    n_pixels: int
    n_below: int
    n_above: int

    @property
    def fraction_outside(self) -> float:
        return (self.n_below + self.n_above) / self.n_pixels if self.n_pixels else 0.0


class NoiseModel(ABC):
    """p(x | s) in camera units, evaluated with torch.

    Subclasses set ``kind`` (stored in the ``.npz``), implement
    :meth:`log_likelihood`, :meth:`to`, :meth:`_arrays` and :meth:`_from_arrays`.
    """

    kind: ClassVar[str]
    #: A bootstrapped model's Noise2Void network, kept with it (saved in its ``.npz``).
    source_network: SourceNetwork | None = None

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata: dict[str, Any] = dict(metadata or {})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            _REGISTRY[cls.kind] = cls

    @property
    @abstractmethod
    def signal_range(self) -> tuple[float, float]:
        """The (low, high) range of signals and observations the model was calibrated on."""

    @abstractmethod
    def log_likelihood(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """ln p(x | s), broadcasting ``x`` against ``s``; finite everywhere."""

    @abstractmethod
    def to(self, device: torch.device | str) -> Self:
        """A copy of this model whose tensors live on ``device``."""

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """The model's parameters as named numpy arrays."""

    @classmethod
    @abstractmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> Self:
        """Rebuild a model from :meth:`_arrays` output."""

    def likelihood(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_likelihood(x, s))

    def clamp_signal(self, s: torch.Tensor) -> torch.Tensor:
        """``s`` limited to where the model is defined (in place where allowed)."""
        return s

    def posterior_weights(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """p(x|s_k) / sum_k p(x|s_k) over the last axis of ``s``: Eq. 11's weights.

        Computed in log space, so samples that all lie far from ``x`` still give
        finite weights (their likelihoods would underflow to zero).
        """
        return torch.softmax(self.log_likelihood(x, s), dim=-1)

    def describe(self) -> str:
        """One line for people: what kind of model and its range."""
        low, high = self.signal_range
        return f"{self.kind} noise model, calibrated range {low:g} to {high:g}"

    def check_range(self, data: np.ndarray) -> RangeReport:
        """Count the pixels of ``data`` outside the calibrated range."""
        low, high = self.signal_range
        flat = np.asarray(data)
        return RangeReport(
            low=low,
            high=high,
            n_pixels=int(flat.size),
            n_below=int(np.count_nonzero(flat < low)),
            n_above=int(np.count_nonzero(flat > high)),
        )

    # -- persistence -----------------------------------------------------------------

    def to_npz_bytes(self) -> bytes:
        """The model as the bytes of an ``.npz`` file (see :meth:`save`)."""
        import io

        buffer = io.BytesIO()
        arrays = self._arrays()
        if self.source_network is not None:
            arrays.update(self.source_network._arrays())
        np.savez_compressed(
            buffer,
            kind=np.array(self.kind),
            metadata=np.array(json.dumps(self.metadata)),
            **arrays,
        )
        return buffer.getvalue()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to an ``.npz`` file atomically; returns the path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        atomic_write_bytes(path, self.to_npz_bytes())
        return path


def noise_model_from_npz_bytes(data: bytes, name: str = "noise model") -> NoiseModel:
    """Load a noise model from the bytes of an ``.npz`` file (no pickle)."""
    import io
    import zipfile

    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise NoiseModelError(
            f"{name} is not a readable noise model file ({exc}).",
            "Build the noise model again with 'pn2v calibrate' or the Calibrate page.",
        ) from exc
    kind = str(arrays.pop("kind", ""))
    if kind not in _REGISTRY:
        raise NoiseModelError(
            f"{name} holds an unknown kind of noise model: {kind or 'none'!r}.",
            "It may come from a newer PN2V Studio; update, or build the model again.",
        )
    try:
        metadata = json.loads(str(arrays.pop("metadata", "{}")))
        source = SourceNetwork._pop_from(arrays)
        model = _REGISTRY[kind]._from_arrays(arrays, metadata)
        model.source_network = source
        return model
    except (KeyError, ValueError, TypeError) as exc:
        raise NoiseModelError(f"{name} is damaged: {exc}.", "Build the noise model again.") from exc


def load_noise_model(path: str | os.PathLike) -> NoiseModel:
    """Load a noise model saved with :meth:`NoiseModel.save`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise NoiseModelError(f"Noise model file not found: {path}", "Check the path.") from exc
    except OSError as exc:
        raise NoiseModelError(f"Cannot read {path}: {exc.strerror}.", "Check the file.") from exc
    return noise_model_from_npz_bytes(data, name=str(path))


def check_noise_model_range(frames: Sequence[np.ndarray], noise_model: NoiseModel) -> list[str]:
    """Refuse data mostly outside the calibrated range; warn about a little outside."""
    reports = [noise_model.check_range(f) for f in frames]
    outside = sum(r.n_below + r.n_above for r in reports)
    total = sum(r.n_pixels for r in reports)
    low, high = noise_model.signal_range
    share = outside / total if total else 0.0
    if share > MAX_OUT_OF_RANGE:
        data_low = min(float(f.min()) for f in frames)
        data_high = max(float(f.max()) for f in frames)
        raise NoiseModelError(
            f"{share:.1%} of the pixels ({data_low:g} to {data_high:g}) lie outside the noise "
            f"model's calibrated range ({low:g} to {high:g}).",
            "Use a noise model calibrated on the same camera settings over the images' range "
            "(brighter calibration frames), or estimate one from these images.",
        )
    if outside:
        return [
            f"{outside} pixels ({share:.2%}) lie outside the noise model's calibrated range "
            f"({low:g} to {high:g}); they are treated as the nearest calibrated value."
        ]
    return []
