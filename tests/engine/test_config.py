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


def test_masking_half_the_pixels_or_more_is_refused_but_a_blind_spot_network_may() -> None:
    with pytest.raises(ConfigError, match=r"masking\.fraction \(0\.6\) must be below 0\.5"):
        preset("cpu").with_changes(**{"masking.fraction": 0.6})
    settings = preset("cpu").with_changes(
        **{"masking.fraction": 1.0, "network.blind_spot": "network"}
    )
    assert settings.masking.fraction == 1.0


def test_the_blind_spot_network_keeps_its_skips() -> None:
    with pytest.raises(ConfigError, match="blind-spot network keeps"):
        preset("cpu").with_changes(**{"network.top_skip": False, "network.blind_spot": "network"})
    settings = preset("cpu").with_changes(**{"network.top_skip": False})
    assert not settings.network.top_skip


def test_settings_saved_before_top_skip_load_as_the_paper_u_net() -> None:
    from pn2v_engine.config import parse_settings

    data = preset("cpu").model_dump()
    del data["network"]["top_skip"]
    assert parse_settings(data).network.top_skip
