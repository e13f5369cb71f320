"""Tests for tabulating a Gaussian mixture and smoothing calibration histograms with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pn2v_engine.calibration import run_calibrate, run_calibrate_pairs
from pn2v_engine.demo import Camera
from pn2v_engine.noise_models import GaussianMixtureNoiseModel, noise_model_from_npz_bytes
from pn2v_engine.noise_models.histogram import histogram_from_pairs
from pn2v_engine.noise_models.smoothing import (
    PSEUDO_COUNT_GRID,
    held_out_nll,
    iter_smooth_histogram,
    mean_row_count,
    pseudo_count_grid,
    shrink_rows,
)
from pn2v_engine.progress import drive

CAMERA = Camera(gain=2.0, offset=100.0, read_noise=3.0, bit_depth=12, quantum_efficiency=1.0)


def _mixture() -> GaussianMixtureNoiseModel:
    rng = np.random.default_rng(0)
    parameters = rng.normal(0.0, 1.0, (3, 3, 3))
    return GaussianMixtureNoiseModel(parameters, (0.0, 200.0), (20.0, 180.0), 0.5, 4.0)


def _ramp_frames(frames: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """A static ramp from dark to bright, read ``frames`` times by the camera."""
    photons = np.broadcast_to(np.linspace(0.0, 400.0, size), (frames, size, size))
    return CAMERA.expose(photons, np.random.default_rng(seed))


def _analytic_rows(model, centres: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The camera's Gaussian approximation, as bin masses of the model's grid."""
    edges = model.low + model.width * np.arange(model.bins + 1)
    sd = np.sqrt(CAMERA.gain * (centres - CAMERA.offset) + (CAMERA.gain * CAMERA.read_noise) ** 2)
    z = torch.tensor((edges[None, :] - centres[:, None]) / sd[:, None])
    return np.diff(torch.special.ndtr(z).numpy(), axis=1)


# ------------------------------------------------------------------------- tabulation


def test_tabulated_rows_are_the_mixtures_bin_masses() -> None:
    mixture = _mixture()
    table = mixture.tabulate(-0.5, 199.5, 200)
    density = table.density.numpy().astype(np.float64)
    np.testing.assert_allclose(density.sum(axis=1) * table.width, 1.0, rtol=1e-5)
    # each inner bin holds the integral of p(x|s) over it (a fine midpoint rule)
    rows = [10, 75, 150]
    fine = torch.linspace(-0.5, 199.5, 200 * 40 + 1, dtype=torch.float64)
    midpoints = ((fine[1:] + fine[:-1]) / 2).float()
    for i in rows:
        s = torch.full_like(midpoints, float(table.bin_centres[i]))
        p = mixture.likelihood(midpoints, s).double().numpy() * (1.0 / 40)
        integral = p.reshape(200, 40).sum(axis=1)
        np.testing.assert_allclose(density[i, 1:-1], integral[1:-1], atol=2e-5, rtol=2e-3)


def test_tabulation_puts_the_tails_into_the_outer_bins() -> None:
    mixture = _mixture()
    narrow = mixture.tabulate(80.0, 120.0, 20)
    wide = mixture.tabulate(0.0, 200.0, 100)
    # a signal near the top of the narrow range: the readings above it pile into its last bin
    row = 18
    assert narrow.bin_centres[row] == pytest.approx(117.0)
    above = wide.density.numpy()[58, 59:].sum() * wide.width  # readings >= 118 in the wide
    assert narrow.density.numpy()[row, -1] * narrow.width == pytest.approx(above, rel=1e-3)


def test_tabulate_keeps_counts_and_metadata_and_round_trips() -> None:
    counts = np.arange(16, dtype=np.int64).reshape(4, 4)
    table = _mixture().tabulate(0.0, 200.0, 4, counts=counts, metadata={"note": "x"})
    np.testing.assert_array_equal(table.row_counts(), counts.sum(axis=1))
    loaded = noise_model_from_npz_bytes(table.to_npz_bytes())
    assert loaded.metadata == {"note": "x"}
    np.testing.assert_array_equal(loaded.density.numpy(), table.density.numpy())
    with pytest.raises(ValueError, match="cannot tabulate"):
        _mixture().tabulate(10.0, 10.0, 4)


# -------------------------------------------------------------------------- smoothing


def test_smoothing_follows_the_camera_where_the_histogram_is_thin() -> None:
    """384 readings per signal leave ragged rows; the smoothed rows sit closer to the camera."""
    photons = np.repeat(np.linspace(5.0, 400.0, 32), 2)[None, :].repeat(64, axis=0)
    clean = CAMERA.offset + CAMERA.gain * photons
    frames = CAMERA.expose(np.broadcast_to(photons, (3, 64, 64)), np.random.default_rng(0))
    result = run_calibrate_pairs(clean, frames)
    smoothed, measured = result.noise_model, result.measured
    assert measured is not None
    assert smoothed.metadata["smoothing"]["method"] == "gaussian mixture"
    assert "smoothing" not in measured.metadata
    np.testing.assert_array_equal(smoothed.counts, measured.counts)
    grid = (smoothed.low, smoothed.high, smoothed.bins)
    assert grid == (measured.low, measured.high, measured.bins)
    plain = run_calibrate_pairs(clean, frames, smooth=False)
    assert plain.measured is None
    np.testing.assert_array_equal(plain.noise_model.density.numpy(), measured.density.numpy())

    levels = np.unique(clean)
    x = torch.tensor(measured.bin_centres, dtype=torch.float32)
    truth = _analytic_rows(measured, levels)
    errors = {}
    for name, model in (("smoothed", smoothed), ("measured", measured)):
        rows = [model.likelihood(x, torch.full_like(x, float(s))).numpy() for s in levels]
        errors[name] = np.abs(np.stack(rows) * model.width - truth).sum(axis=1)
    assert np.median(errors["smoothed"]) < 0.3 * np.median(errors["measured"])
    # the mixture fits this camera, so the cross-validation leans on it
    alpha = smoothed.metadata["smoothing"]["pseudo_counts"]
    assert alpha is None or alpha >= 1000


def _photomultiplier_pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(signal, reading) of a photon-counting detector with a no-photon floor.

    ``Poisson(s / 20)`` photons, each adding an exponential pulse of mean 20, on a
    baseline of 3 with little read noise: a reading sits on the floor with probability
    ``exp(-s / 20)``, a point mass that decays slowly in s (as FMD's confocal FISH
    images), which a mixture of three Gaussians cannot follow.
    """
    rng = np.random.default_rng(seed)
    signal = rng.uniform(3.0, 150.0, n)
    photons = rng.poisson((signal - 3.0) / 20.0)
    pulses = rng.gamma(np.maximum(photons, 1), 20.0) * (photons > 0)
    reading = np.round(3.0 + pulses + rng.normal(0.0, 0.3, n))
    return signal.astype(np.float32), np.clip(reading, 0, 255).astype(np.float32)


def test_smoothing_keeps_well_measured_rows_the_mixture_cannot_follow() -> None:
    signal, reading = _photomultiplier_pairs(400_000, seed=0)
    result = run_calibrate_pairs(signal[None], reading[None], value_range=(0.0, 255.0))
    smoothed, measured = result.noise_model, result.measured
    assert measured is not None
    alpha = smoothed.metadata["smoothing"]["pseudo_counts"]
    assert alpha is not None and 10 <= alpha <= 10_000
    pure = noise_model_from_npz_bytes(smoothed.to_npz_bytes())
    pure.metadata["smoothing"]["pseudo_counts"] = None
    assert "where thin" in smoothed.describe() and "where thin" not in pure.describe()

    # fresh pairs from the same detector are likelier under the chosen table than under
    # the mixture alone (the table at alpha = inf)
    mass = _mass_from(smoothed, alpha)
    mixture_only = type(smoothed)(mass / smoothed.width, smoothed.low, smoothed.high)
    s, x = (torch.from_numpy(v) for v in _photomultiplier_pairs(100_000, seed=1))
    chosen = smoothed.log_likelihood(x, s).mean()
    assert chosen > mixture_only.log_likelihood(x, s).mean() + 0.02

    # the floor's share at signal 60 (true exp(-57/20) = 0.058) is kept, not smoothed away
    floor = torch.tensor([3.0])
    row = torch.tensor([60.0])
    share = float(smoothed.likelihood(floor, row)) * smoothed.width
    assert share == pytest.approx(np.exp(-57 / 20), rel=0.3)
    # calibration keeps the mixture's mass below the floor (README: censoring it cost
    # calibrated PN2V 0.05-0.07 dB on FMD; bootstrapped models censor it)
    assert smoothed.metadata["smoothing"]["lowest_reading"] is None


def test_the_mixture_reads_nothing_below_the_floor() -> None:
    """The detector never reads below its baseline of 3; a fitted mixture's Gaussians do,
    unless their mass there is moved onto the floor, where the detector records it."""
    signal, reading = _photomultiplier_pairs(30_000, seed=0)
    measured = histogram_from_pairs([signal], [reading], value_range=(0.0, 255.0), integer=True)
    options = {"seed": 0, "steps": 60, "min_pseudo_rows": 50}
    as_fitted = drive(iter_smooth_histogram(measured, signal, reading, **options))
    censored = drive(iter_smooth_histogram(measured, signal, reading, lowest=3.0, **options))
    assert as_fitted.metadata["smoothing"]["lowest_reading"] is None
    assert censored.metadata["smoothing"]["lowest_reading"] == 3.0
    assert "reads nothing below the floor of 3," in censored.describe()
    assert "floor" not in as_fitted.describe()
    floor = int(measured.bin_index(np.array([3.0]))[0])
    for model in (as_fitted, censored):
        np.testing.assert_allclose(model.density.numpy().sum(axis=1) * model.width, 1.0, rtol=1e-5)
    for level in (5.0, 20.0):
        row = int(measured.bin_index(np.array([level]))[0])
        fitted = as_fitted.density.numpy()[row] * as_fitted.width
        kept = censored.density.numpy()[row] * censored.width
        assert fitted[:floor].sum() > 0.1 and kept[:floor].sum() < 0.01
        # the floor's share (true: exp(-(s - 3) / 20)) comes closer
        truth = np.exp(-(level - 3.0) / 20.0)
        assert abs(kept[floor] - truth) < abs(fitted[floor] - truth)
    s, x = (torch.from_numpy(v) for v in _photomultiplier_pairs(30_000, seed=1))
    assert censored.log_likelihood(x, s).mean() > as_fitted.log_likelihood(x, s).mean() + 0.1


def test_a_floor_on_the_pseudo_counts_limits_the_choice() -> None:
    signal, reading = _photomultiplier_pairs(30_000, seed=0)
    measured = histogram_from_pairs([signal], [reading], value_range=(0.0, 255.0), integer=True)
    options = {"seed": 0, "steps": 60}
    free = drive(iter_smooth_histogram(measured, signal, reading, **options))
    floored = drive(iter_smooth_histogram(measured, signal, reading, min_pseudo_rows=50, **options))
    assert measured.counts is not None
    floor = 50 * mean_row_count(measured.counts)
    chosen = free.metadata["smoothing"]["pseudo_counts"]
    assert chosen is not None and chosen < floor  # the floor changes something here
    assert set(free.metadata["smoothing"]["pseudo_count_scores"]) == {
        "inf" if a == np.inf else f"{a:g}" for a in PSEUDO_COUNT_GRID
    }
    scores = floored.metadata["smoothing"]["pseudo_count_scores"]
    assert set(scores) == {f"{floor:g}", f"{floor * 10**0.5:g}", f"{floor * 10:g}", "inf"}
    assert floored.metadata["smoothing"]["min_pseudo_rows"] == 50
    best = min(scores, key=scores.__getitem__)
    alpha = floored.metadata["smoothing"]["pseudo_counts"]
    assert best == ("inf" if alpha is None else f"{alpha:g}")
    # the floored rows lean further towards the mixture: the floor's share falls
    at_floor, row = torch.tensor([3.0]), torch.tensor([60.0])
    assert float(floored.likelihood(at_floor, row)) < float(free.likelihood(at_floor, row))


def test_the_floor_gives_the_mixture_the_same_weight_in_bins_of_any_width() -> None:
    """Rows twice as wide hold twice the pairs, so the floor doubles: a row of average
    population leans on the mixture as much either way. Empty rows do not dilute it."""
    signal, reading = _photomultiplier_pairs(30_000, seed=0)
    shares = []
    for bins in (256, 128):
        measured = histogram_from_pairs(
            [signal], [reading], bins=bins, value_range=(0.0, 255.0), integer=True
        )
        assert measured.counts is not None
        mean = mean_row_count(measured.counts)
        floor = pseudo_count_grid(measured.counts, 1.2)[0]
        assert floor == pytest.approx(1.2 * mean)
        shares.append(floor / (mean + floor))
        filled = measured.counts.sum(axis=1) > 0
        assert mean == pytest.approx(measured.counts.sum() / filled.sum())
        assert not filled.all()  # the signals stop at 150: the mean skips the empty rows
    assert measured.width == 2.0
    assert shares[0] == pytest.approx(shares[1])
    assert pseudo_count_grid(measured.counts) == PSEUDO_COUNT_GRID
    assert pseudo_count_grid(np.zeros((4, 4)), 1.2) == PSEUDO_COUNT_GRID


def _mass_from(model, alpha: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Invert ``shrink_rows``: the mixture's bin masses behind a shrunk table."""
    probability = model.density.numpy().astype(np.float64) * model.width
    counts = model.counts.astype(np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    return np.clip((probability * (rows + alpha) - counts) / alpha, 0.0, None)


def test_shrink_rows_moves_from_the_counts_to_the_mixture() -> None:
    counts = np.array([[8, 2, 0], [0, 0, 0], [1, 0, 0]], dtype=np.int64)
    mass = np.full((3, 3), 1 / 3)
    np.testing.assert_allclose(shrink_rows(counts[:1], mass[:1], 0.0), [[0.8, 0.2, 0.0]])
    np.testing.assert_allclose(shrink_rows(counts, mass, np.inf), mass)
    ten = shrink_rows(counts, mass, 10.0)
    np.testing.assert_allclose(ten.sum(axis=1), 1.0)
    np.testing.assert_allclose(ten[0], [(8 + 10 / 3) / 20, (2 + 10 / 3) / 20, (10 / 3) / 20])
    np.testing.assert_allclose(ten[1], mass[1])  # an empty row is the mixture's
    # one count weighs less than ten: row 2 ends nearer the mixture, though it starts further
    assert np.abs(ten[2] - mass[2]).sum() < np.abs(ten[0] - mass[0]).sum()


def test_held_out_scores_prefer_the_truth_to_its_noisy_counts() -> None:
    rng = np.random.default_rng(0)
    truth = rng.dirichlet(np.ones(20), size=20)
    rows = rng.integers(0, 20, 4000)
    columns = np.array([rng.choice(20, p=truth[r]) for r in rows])
    scores = held_out_nll(truth, rows, columns, seed=0)
    assert min(scores, key=scores.__getitem__) >= 1000  # 100 pairs a row: trust the model
    wrong = np.full((20, 20), 1 / 20)
    scores = held_out_nll(wrong, rows, columns, seed=0)
    assert min(scores, key=scores.__getitem__) <= 100  # a poor model: trust the counts


def test_smoothing_pairs_and_seed() -> None:
    frames = _ramp_frames(3, seed=1)
    clean = CAMERA.offset + CAMERA.gain * np.broadcast_to(np.linspace(0.0, 400.0, 64), (64, 64))
    one = run_calibrate_pairs(clean, frames, bins=64, seed=5)
    two = run_calibrate_pairs(clean, frames, bins=64, seed=5)
    assert one.measured is not None and "smoothing" in one.noise_model.metadata
    np.testing.assert_array_equal(one.noise_model.density.numpy(), two.noise_model.density.numpy())


def test_too_few_pairs_keep_the_measured_histogram_and_say_so() -> None:
    frames = _ramp_frames(2, size=16)  # 512 pairs: too few for a mixture
    result = run_calibrate(frames, bins=32)
    assert result.measured is None
    assert "smoothing" not in result.noise_model.metadata
    warning = result.summary.warnings[-1]
    assert "could not be smoothed" in warning and "used as measured" in warning
    assert result.noise_model.metadata["calibration"]["warnings"][-1] == warning


def test_measured_is_the_plain_histogram_of_the_kept_counts() -> None:
    counts = np.array([[3, 1, 0], [0, 0, 0], [0, 2, 2]], dtype=np.int64)
    table = _mixture().tabulate(0.0, 3.0, 3, counts=counts, metadata={"smoothing": {}})
    measured = table.measured()
    assert measured is not None and "smoothing" not in measured.metadata
    np.testing.assert_allclose(
        measured.density.numpy(), [[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.0, 0.5, 0.5]]
    )
    np.testing.assert_array_equal(measured.counts, counts)
    assert _mixture().tabulate(0.0, 3.0, 3).measured() is None
