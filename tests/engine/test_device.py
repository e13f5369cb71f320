"""Tests for pn2v_engine.device: which arithmetic the network's convolutions run in."""

from __future__ import annotations

import pytest
import torch

from pn2v_engine import device as device_module
from pn2v_engine.device import compute_dtype, native_bfloat16

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("precision", "dtype"), [("float32", torch.float32), ("bfloat16", torch.bfloat16)]
)
def test_a_named_precision_is_used_whatever_the_processor(
    precision: str, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    for native in (True, False):
        monkeypatch.setattr(device_module, "native_bfloat16", lambda _device, n=native: n)
        assert compute_dtype(precision, CPU) == dtype


@pytest.mark.parametrize("native", [True, False])
def test_auto_uses_bfloat16_only_where_the_processor_computes_it(
    native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_module, "native_bfloat16", lambda _device: native)
    assert compute_dtype("auto", CPU) == (torch.bfloat16 if native else torch.float32)


def test_the_cpu_probe_follows_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    for avx512_bf16, amx, expected in [
        (False, False, False),
        (True, False, True),
        (False, True, True),
    ]:
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert native_bfloat16(CPU) is expected
    assert native_bfloat16(torch.device("meta")) is False
