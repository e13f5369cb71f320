"""PN2V training started from a bootstrapped noise model's Noise2Void network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_training import _settings as tiny_settings

from pn2v_engine import Project, load_project, save_project
from pn2v_engine.bootstrap import BootstrapPairs, source_network
from pn2v_engine.config import Settings
from pn2v_engine.data import Normalisation
from pn2v_engine.demo import DemoData, make_demo_data
from pn2v_engine.noise_models import HistogramNoiseModel, noise_model_from_npz_bytes
from pn2v_engine.prediction import Denoiser, run_predict
from pn2v_engine.training import (
    STARTED_FROM_BOOTSTRAP,
    TOP_SKIP_WEIGHT,
    TrainResult,
    build_network,
    run_train,
    start_from_network,
)


def _settings(mode: str = "pn2v", **changes: object) -> Settings:
    """test_training's tiny network, one epoch of 40 steps, validated on 8 patches."""
    base = {"training.epochs": 1, "training.steps_per_epoch": 40, "training.val_patches": 8}
    return tiny_settings(mode, **(base | changes))


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return make_demo_data(seed=3, size=128, n_calibration=30, n_images=2)


@pytest.fixture(scope="module")
def n2v(demo: DemoData) -> TrainResult:
    return run_train(list(demo.images), None, _settings("n2v"), device="cpu")


@pytest.fixture(scope="module")
def bootstrapped(demo: DemoData, n2v: TrainResult) -> HistogramNoiseModel:
    """A bootstrapped model of the N2V run's pairs, keeping its network (as the engine does)."""
    denoiser = Denoiser(n2v.settings, n2v.best_weights, n2v.normalisation, None, "cpu")
    predictions = [run_predict(denoiser, frame).mmse for frame in demo.images]
    frames = [f.astype(np.float32) for f in demo.images]
    pairs = BootstrapPairs(predictions, frames, {"frames": 2}, network=source_network(n2v))
    model = pairs.histogram(bins=64)
    assert isinstance(model, HistogramNoiseModel)
    return model


def test_the_samples_start_around_the_n2v_prediction(
    demo: DemoData, n2v: TrainResult, bootstrapped: HistogramNoiseModel
) -> None:
    settings = _settings()
    assert bootstrapped.source_network is not None
    torch.manual_seed(0)
    started = build_network(settings)
    torch.manual_seed(0)
    scratch = build_network(settings)
    assert start_from_network(started, bootstrapped.source_network, settings) is None
    source = build_network(_settings("n2v"))
    source.load_state_dict(n2v.best_weights)
    patch = torch.from_numpy(demo.images[0][None, None, :64, :64].astype(np.float32))
    with torch.no_grad():
        image = n2v.normalisation.apply(patch)
        samples, prediction = started(image), source(image)
        # each sample = the N2V prediction + what the head's random start adds to the trunk
        random_part = torch.nn.functional.conv2d(
            source.trunk(image), scratch.head.weight, scratch.head.bias
        )
    np.testing.assert_allclose(samples, prediction + random_part, atol=1e-4)
    assert samples.std(dim=1).min() > 0.01  # the samples are spread, not one value
    for name, value in n2v.best_weights.items():
        if not name.startswith("head."):
            assert torch.equal(started.state_dict()[name], value)


def test_pn2v_starts_from_the_bootstraps_network_and_learns_faster(
    demo: DemoData, n2v: TrainResult, bootstrapped: HistogramNoiseModel
) -> None:
    settings = _settings(**{"training.steps_per_epoch": 5})
    warm = run_train(list(demo.images), bootstrapped, settings, device="cpu")
    cold = run_train(list(demo.images), bootstrapped, settings, device="cpu", warm_start=False)
    assert warm.started_from == STARTED_FROM_BOOTSTRAP and cold.started_from is None
    assert warm.normalisation == n2v.normalisation  # the network's, which its weights expect
    assert warm.warnings == cold.warnings == []
    # after 5 steps the warm start is far ahead of random weights
    assert warm.best_val_loss < cold.best_val_loss - 0.05, (warm.best_val_loss, cold.best_val_loss)


def test_another_architecture_starts_from_random_weights_with_a_note(
    demo: DemoData, bootstrapped: HistogramNoiseModel
) -> None:
    settings = _settings(**{"network.features": 16, "training.steps_per_epoch": 1})
    result = run_train(list(demo.images), bootstrapped, settings, device="cpu")
    assert result.started_from is None
    assert len(result.warnings) == 1
    assert "starts from random weights" in result.warnings[0]
    assert "8 features" in result.warnings[0] and "16 features" in result.warnings[0]
    n2v_run = _settings("n2v", **{"training.steps_per_epoch": 1})
    plain = run_train(list(demo.images), bootstrapped, n2v_run, device="cpu")
    assert plain.started_from is None and plain.warnings == []  # N2V ignores the noise model


def test_the_network_is_saved_with_the_model_and_the_start_with_the_project(
    demo: DemoData, bootstrapped: HistogramNoiseModel, tmp_path
) -> None:
    loaded = noise_model_from_npz_bytes(bootstrapped.to_npz_bytes())
    source, again = bootstrapped.source_network, loaded.source_network
    assert source is not None and again is not None
    assert again.weights.keys() == source.weights.keys()
    assert all(np.array_equal(again.weights[k], v) for k, v in source.weights.items())
    assert (again.mean, again.std, again.network) == (source.mean, source.std, source.network)
    np.testing.assert_array_equal(loaded.density.numpy(), bootstrapped.density.numpy())
    plain = HistogramNoiseModel(bootstrapped.density, bootstrapped.low, bootstrapped.high)
    assert noise_model_from_npz_bytes(plain.to_npz_bytes()).source_network is None
    result = run_train(
        list(demo.images), loaded, _settings(**{"training.steps_per_epoch": 1}), device="cpu"
    )
    project = Project(settings=result.settings, noise_model=loaded, training=result)
    reopened = load_project(save_project(project, tmp_path / "warm.pn2v"))
    assert reopened.training is not None
    assert reopened.training.started_from == STARTED_FROM_BOOTSTRAP
    assert reopened.noise_model is not None and reopened.noise_model.source_network is not None
    assert reopened.training.normalisation == Normalisation(source.mean, source.std)


def test_a_skipless_n2v_network_starts_a_u_net_with_its_skip_at_zero(
    demo: DemoData, bootstrapped: HistogramNoiseModel
) -> None:
    skipless = run_train(
        list(demo.images), None, _settings("n2v", **{"network.top_skip": False}), device="cpu"
    )
    source = source_network(skipless)
    settings = _settings()
    started = build_network(settings)
    assert start_from_network(started, source, settings) is None
    weight = started.state_dict()[TOP_SKIP_WEIGHT]
    features = settings.network.features
    assert weight.shape[1] == 2 * features
    assert torch.equal(weight[:, :features], skipless.best_weights[TOP_SKIP_WEIGHT])
    assert not weight[:, features:].any()
    original = build_network(skipless.settings)
    original.load_state_dict(skipless.best_weights)
    patch = torch.from_numpy(demo.images[0][None, None, :64, :64].astype(np.float32))
    with torch.no_grad():
        image = skipless.normalisation.apply(patch)
        # the network starts computing the skipless network's features
        torch.testing.assert_close(started.trunk(image), original.trunk(image))
