"""Settings validation names the bad field and says what is allowed."""

from __future__ import annotations

import pytest

from pn2v_engine import ConfigError, preset


@pytest.mark.parametrize("name", ["cpu", "paper"])
def test_presets_fit_their_network(name: str) -> None:
    settings = preset(name)
    assert settings.training.patch_size % 2 ** (settings.network.depth - 1) == 0


def test_patch_size_must_fit_the_depth() -> None:
    with pytest.raises(ConfigError, match=r"patch_size \(36\) must be a multiple of 8") as info:
        preset("cpu").with_changes(**{"network.depth": 4, "training.patch_size": 36})
    assert not info.value.message.startswith("Invalid settings: :")
    preset("cpu").with_changes(**{"network.depth": 4, "training.patch_size": 40})


def test_field_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"training\.epochs"):
        preset("cpu").with_changes(**{"training.epochs": 0})
    with pytest.raises(ConfigError, match="Unknown setting"):
        preset("cpu").with_changes(**{"training.nonsense": 1})
