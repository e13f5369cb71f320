"""Tests for pn2v_engine.data: where training patches are drawn."""

from __future__ import annotations

import numpy as np
import pytest

from pn2v_engine.data import PatchSampler, place_weights

PATCH = 16


def _dark_frame_with_bright_square() -> np.ndarray:
    """A 128 x 96 frame of background 10 with a 12 x 12 square of 200 near one corner."""
    rng = np.random.default_rng(0)
    frame = rng.poisson(10.0, (128, 96)).astype(np.float32)
    frame[100:112, 70:82] = 200.0
    return frame


def _share_holding_the_square(sampler: PatchSampler, draws: int = 2000) -> float:
    patches = sampler.sample(draws)
    return float((patches.amax(dim=(1, 2, 3)) >= 200).float().mean())


def test_weights_are_probabilities_and_uniform_without_bright_share() -> None:
    frame = _dark_frame_with_bright_square()
    step = 4
    uniform = place_weights(frame, PATCH, step, 0.0)
    assert uniform.shape == (
        len(range(0, 128 - PATCH + 1, step)),
        len(range(0, 96 - PATCH + 1, step)),
    )
    assert uniform.sum() == pytest.approx(1.0)
    # each grid cell stands for the positions from it up to the next cell: the last
    # row and column of cells hold one position each (113 = 28 x 4 + 1; 81 = 20 x 4 + 1)
    assert uniform[0, 0] == pytest.approx(16 / (113 * 81))
    assert uniform[-1, -1] == pytest.approx(1 / (113 * 81))
    bright = place_weights(frame, PATCH, step, 0.8)
    assert bright.sum() == pytest.approx(1.0)
    # the most likely cells' patches hold the whole square (rows 100-111, columns 70-81)
    y, x = np.unravel_index(np.argmax(bright), bright.shape)
    assert y * step in (96, 100) and x * step == 68
    assert bright.max() > 10 * uniform.max()


def test_a_flat_frame_is_sampled_uniformly() -> None:
    flat = np.full((64, 64), 7.0, dtype=np.float32)
    np.testing.assert_allclose(
        place_weights(flat, PATCH, 4, 0.8), place_weights(flat, PATCH, 4, 0.0)
    )


def test_bright_share_draws_bright_structures_more_often() -> None:
    frame = _dark_frame_with_bright_square()
    uniform = _share_holding_the_square(PatchSampler([frame], PATCH, seed=0))
    # positions whose patch holds part of the square: (12 + 15)^2 of the 113 x 81
    assert uniform == pytest.approx(27 * 27 / (113 * 81), abs=0.03)
    bright = _share_holding_the_square(PatchSampler([frame], PATCH, seed=0, bright_share=0.8))
    assert bright > 0.7
    assert bright > 5 * uniform


@pytest.mark.parametrize("shape", [(37, 53), (16, 16), (64, 17)])
def test_every_position_can_be_drawn_and_none_outside(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    frame = rng.random(shape).astype(np.float32)
    sampler = PatchSampler([frame], PATCH, seed=2, bright_share=0.5)
    corners = {sampler._places[0].draw(sampler.rng) for _ in range(20_000)}  # type: ignore[index]
    limits = (shape[0] - PATCH + 1, shape[1] - PATCH + 1)
    assert corners == {(y, x) for y in range(limits[0]) for x in range(limits[1])}


def test_frames_keep_their_share_by_area() -> None:
    """A bright frame does not take the patches of a dark one: the bright share works
    within each frame."""
    rng = np.random.default_rng(3)
    dark = rng.poisson(5.0, (64, 64)).astype(np.float32)
    bright = rng.poisson(500.0, (64, 64)).astype(np.float32)
    patches = PatchSampler([dark, bright], PATCH, seed=4, bright_share=1.0).sample(2000)
    from_dark = float((patches.mean(dim=(1, 2, 3)) < 100).float().mean())
    assert from_dark == pytest.approx(0.5, abs=0.05)


def test_state_restores_the_stream() -> None:
    frame = _dark_frame_with_bright_square()
    sampler = PatchSampler([frame], PATCH, seed=5, bright_share=0.8)
    sampler.sample(3)
    state = sampler.state()
    first = sampler.sample(4)
    again = PatchSampler([frame], PATCH, seed=99, bright_share=0.8)
    again.set_state(state)
    assert np.array_equal(first.numpy(), again.sample(4).numpy())
