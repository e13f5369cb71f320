"""Choosing and describing the compute device."""

from __future__ import annotations

import torch

from .errors import ConfigError


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; or name one (``cpu``, ``cuda:0``)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"Unknown device {name!r}.", "Use auto, cpu, cuda or mps.") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("No CUDA GPU is available.", "Use --device cpu or auto.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("Apple MPS is not available.", "Use --device cpu or auto.")
    return device


def describe_device(device: torch.device) -> str:
    """A short human name: the GPU's name, or the CPU with its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the many ways torch and Python report exhausted memory."""
    if isinstance(exc, MemoryError | torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
