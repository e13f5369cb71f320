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


def native_bfloat16(device: torch.device) -> bool:
    """True where ``device`` computes bfloat16 natively (not by emulation)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        cpu = torch.cpu
        return any(
            getattr(cpu, probe, lambda: False)()
            for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        )
    return False


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype of the network's convolutions for ``network.precision`` on ``device``."""
    if precision == "bfloat16" or (precision == "auto" and native_bfloat16(device)):
        return torch.bfloat16
    return torch.float32


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the many ways torch and Python report exhausted memory."""
    if isinstance(exc, MemoryError | torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
