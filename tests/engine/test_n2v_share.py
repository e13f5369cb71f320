"""The bootstrap's Noise2Void network averaged into PN2V's result (``prediction.n2v_share``)."""

from __future__ import annotations

import numpy as np
import pytest
from test_training import _settings as tiny_settings

from pn2v_engine import Project, load_project, save_project
from pn2v_engine.bootstrap import BootstrapPairs, n2v_settings, source_network
from pn2v_engine.config import Settings, parse_settings, preset
from pn2v_engine.demo import DemoData, make_demo_data
from pn2v_engine.noise_models import HistogramNoiseModel
from pn2v_engine.prediction import Denoiser, run_predict, source_denoiser
from pn2v_engine.training import TrainResult, build_network, run_train


def _settings(mode: str = "pn2v", **changes: object) -> Settings:
    base = {"training.epochs": 1, "training.steps_per_epoch": 20, "training.val_patches": 4}
    return tiny_settings(mode, **(base | changes))


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return make_demo_data(seed=5, size=96, n_calibration=20, n_images=2)


@pytest.fixture(scope="module")
def bootstrapped(demo: DemoData) -> HistogramNoiseModel:
    """A bootstrapped model whose Noise2Void network is deeper than the PN2V network, so
    that the two networks' receptive fields and pooling grids differ."""
    n2v = run_train(list(demo.images), None, _settings("n2v", **{"network.depth": 3}), device="cpu")
    source = source_denoiser(source_network(n2v))
    predictions = [run_predict(source, frame).mmse for frame in demo.images]
    frames = [f.astype(np.float32) for f in demo.images]
    pairs = BootstrapPairs(predictions, frames, {"frames": 2}, network=source_network(n2v))
    model = pairs.histogram(bins=64)
    assert isinstance(model, HistogramNoiseModel)
    return model


@pytest.fixture(scope="module")
def pn2v(demo: DemoData, bootstrapped: HistogramNoiseModel) -> TrainResult:
    settings = _settings(**{"prediction.n2v_share": 0.5})
    return run_train(list(demo.images), bootstrapped, settings, device="cpu")


def _denoiser(result: TrainResult, model: HistogramNoiseModel, **kwargs: object) -> Denoiser:
    return Denoiser(
        result.settings, result.best_weights, result.normalisation, model, "cpu", **kwargs
    )


@pytest.mark.parametrize("orientations", [1, 4])
def test_the_result_is_the_weighted_average_of_both_networks(
    demo: DemoData, bootstrapped: HistogramNoiseModel, pn2v: TrainResult, orientations: int
) -> None:
    # sides on both networks' pooling grids: each network alone pads this frame as both do
    image = demo.images[0][:92, :76].astype(np.float32)
    both = _denoiser(pn2v, bootstrapped)
    assert both.companion is not None and both.n2v_share == 0.5
    assert (
        both.overlap == both.companion.overlap > _denoiser(pn2v, bootstrapped, n2v_share=0).overlap
    )
    options = {"orientations": orientations, "uncertainty": True, "prior_mean": True}
    blended = run_predict(both, image, **options)
    alone = run_predict(_denoiser(pn2v, bootstrapped, n2v_share=0.0), image, **options)
    assert bootstrapped.source_network is not None
    n2v = run_predict(
        source_denoiser(bootstrapped.source_network), image, orientations=orientations
    ).mmse
    assert np.abs(alone.mmse - n2v).mean() > 0.5  # two different estimates
    np.testing.assert_allclose(blended.mmse, 0.5 * alone.mmse + 0.5 * n2v, atol=1e-3)
    assert alone.posterior_std is not None and blended.posterior_std is not None
    # the posterior's root mean squared distance from the result
    expected_std = np.sqrt(alone.posterior_std**2 + (alone.mmse - blended.mmse) ** 2)
    np.testing.assert_allclose(blended.posterior_std, expected_std, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(blended.prior_mean, alone.prior_mean)
    tiled = run_predict(both, image, tile_size=32, **options)
    np.testing.assert_allclose(tiled.mmse, blended.mmse, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(tiled.posterior_std, blended.posterior_std, rtol=1e-5, atol=1e-3)


def test_the_share_comes_from_the_settings_and_survives_the_project(
    demo: DemoData, bootstrapped: HistogramNoiseModel, pn2v: TrainResult, tmp_path
) -> None:
    image = demo.images[1].astype(np.float32)
    project = Project(settings=pn2v.settings, noise_model=bootstrapped, training=pn2v)
    loaded = load_project(save_project(project, tmp_path / "boot.pn2v"))
    assert loaded.settings.prediction.n2v_share == 0.5
    reopened = loaded.denoiser("cpu")
    assert reopened.n2v_share == 0.5
    expected = run_predict(_denoiser(pn2v, bootstrapped), image).mmse
    np.testing.assert_array_equal(run_predict(reopened, image).mmse, expected)
    three_quarters = run_predict(loaded.denoiser("cpu", n2v_share=0.75), image).mmse
    assert np.abs(three_quarters - expected).max() > 0.1


def test_without_the_bootstraps_network_pn2v_stands_alone(
    bootstrapped: HistogramNoiseModel, pn2v: TrainResult
) -> None:
    calibrated = HistogramNoiseModel(bootstrapped.density, bootstrapped.low, bootstrapped.high)
    assert calibrated.source_network is None
    denoiser = _denoiser(pn2v, calibrated)
    assert denoiser.companion is None and denoiser.n2v_share == 0.0
    assert _denoiser(pn2v, bootstrapped, n2v_share=0.0).companion is None
    n2v_run = pn2v.settings.with_changes(mode="n2v", **{"network.n_samples": 1})
    weights = build_network(n2v_run).state_dict()
    plain = Denoiser(n2v_run, weights, pn2v.normalisation, bootstrapped, "cpu")
    assert plain.companion is None  # Noise2Void itself has nothing to average with
    with pytest.raises(ValueError, match="between 0 and 1"):
        _denoiser(pn2v, bootstrapped, n2v_share=1.5)


def test_the_presets_and_older_settings() -> None:
    assert preset("cpu").prediction.n2v_share == 0.5
    assert preset("paper").prediction.n2v_share == 0.0
    data = preset("cpu").model_dump()
    del data["prediction"]["n2v_share"]
    assert parse_settings(data).prediction.n2v_share == 0.0  # saved before: PN2V alone


def test_the_bootstraps_noise2void_drops_the_top_skip_where_it_is_averaged_in() -> None:
    masked = n2v_settings(preset("cpu"))
    assert (masked.mode, masked.network.n_samples, masked.network.top_skip) == ("n2v", 1, False)
    assert masked.training == preset("cpu").training
    assert n2v_settings(masked) == masked
    alone = n2v_settings(preset("cpu").with_changes(**{"prediction.n2v_share": 0.0}))
    assert alone.network.top_skip and n2v_settings(preset("paper")).network.top_skip
    blind = n2v_settings(preset("cpu").with_changes(**{"network.blind_spot": "network"}))
    assert blind.network.top_skip and blind.network.blind_spot == "network"
