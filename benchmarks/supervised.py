"""A supervised U-Net (CARE; Weigert et al. 2018) for the FMD benchmark's "U-Net (trad.)" row.

The paper's row trains on the clean images of 19 other fields of view; here the only clean
data is the other field of view's single noisy/clean pair (``fmd_confocal_other_fov``), the
clean image put on the noisy image's intensity scale as ``pn2v calibrate`` puts it. The
network is the engine's U-Net with one output, trained with the mean squared error at every
pixel on the same patches, batch, learning rate, schedule and number of steps as the N2V and
PN2V rows, keeping the weights that score best on a held-out strip of the pair. It then
denoises through the engine's prediction code as an N2V network would. Not part of the app:
the product has no clean images to learn from.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from pn2v_engine import Settings
from pn2v_engine.data import Normalisation, _transform, grid_patches, split_train_validation
from pn2v_engine.training import build_network


@dataclass
class SupervisedRun:
    """A trained supervised network: what prediction needs, and what training cost."""

    weights: dict[str, torch.Tensor]
    normalisation: Normalisation
    seconds: float
    steps: int
    best_val_loss: float


class PairSampler:
    """Random aligned patches of a noisy image and its clean image, in one of the 8
    rotations and mirrors of the square (the same one for both)."""

    def __init__(self, noisy: np.ndarray, clean: np.ndarray, patch_size: int, seed: int) -> None:
        if noisy.shape != clean.shape:
            raise ValueError(f"noisy {noisy.shape} and clean {clean.shape} differ in shape")
        self.pair = torch.from_numpy(np.stack([noisy, clean]).astype(np.float32, copy=False))
        self.patch_size = patch_size
        self.rng = np.random.default_rng(seed)

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(noisy, clean) patches, each of shape (batch, 1, P, P)."""
        p = self.patch_size
        height, width = self.pair.shape[1:]
        patches = []
        for _ in range(batch):
            y = int(self.rng.integers(0, height - p + 1))
            x = int(self.rng.integers(0, width - p + 1))
            k = int(self.rng.integers(0, 8))
            patches.append(_transform(self.pair[:, y : y + p, x : x + p], k))
        both = torch.stack(patches).contiguous()
        return both[:, :1], both[:, 1:]


def train_supervised(
    noisy: np.ndarray, clean: np.ndarray, settings: Settings, steps: int, device: str = "cpu"
) -> SupervisedRun:
    """Train ``settings``' network (one output) to map ``noisy`` to ``clean`` for ``steps`` steps.

    Adam at the settings' learning rate on a cosine schedule over ``steps``; the bottom
    ``val_fraction`` of the rows is held out and scored every ``steps_per_epoch`` steps and
    at the end; the best weights are returned.
    """
    if settings.network.n_samples != 1:
        raise ValueError("a supervised network has one output (network.n_samples=1)")
    noisy, clean = (np.ascontiguousarray(a, dtype=np.float32) for a in (noisy, clean))
    t = settings.training
    torch.manual_seed(t.seed)
    network = build_network(settings).to(device)
    normalisation = Normalisation.of([noisy])
    (train_noisy,), (val_noisy,) = split_train_validation([noisy], t.val_fraction, t.patch_size)
    (train_clean,), (val_clean,) = split_train_validation([clean], t.val_fraction, t.patch_size)
    sampler = PairSampler(train_noisy, train_clean, t.patch_size, t.seed)
    val_inputs = normalisation.apply(grid_patches([val_noisy], t.patch_size, t.val_patches))
    val_targets = normalisation.apply(grid_patches([val_clean], t.patch_size, t.val_patches))
    optimizer = torch.optim.Adam(network.parameters(), lr=t.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)

    def validate() -> float:
        network.eval()
        with torch.no_grad():
            loss = torch.nn.functional.mse_loss(
                network(val_inputs.to(device)), val_targets.to(device)
            )
        network.train()
        return float(loss)

    best_val, best_weights = math.inf, {}
    started = time.perf_counter()
    for step in range(1, steps + 1):
        inputs, targets = sampler.sample(t.batch_size)
        optimizer.zero_grad(set_to_none=True)
        outputs = network(normalisation.apply(inputs).to(device))
        loss = torch.nn.functional.mse_loss(outputs, normalisation.apply(targets).to(device))
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % t.steps_per_epoch == 0 or step == steps:
            val = validate()
            if val < best_val:
                best_val = val
                state = network.state_dict().items()
                best_weights = {k: v.detach().to("cpu", copy=True) for k, v in state}
    return SupervisedRun(
        best_weights, normalisation, time.perf_counter() - started, steps, best_val
    )
