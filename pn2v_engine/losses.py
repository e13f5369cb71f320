"""Training losses: PN2V (Eq. 7), N2V masked MSE, and supervised MSE."""

from __future__ import annotations

import math

import torch

from .noise_models import NoiseModel


def pn2v_loss(
    samples: torch.Tensor, observations: torch.Tensor, noise_model: NoiseModel
) -> torch.Tensor:
    """-ln(1/K sum_k p(x_i | s_i^k)), averaged over pixels, computed in log space.

    Parameters
    ----------
    samples
        (N, K) prior samples in camera units.
    observations
        (N,) observed values in camera units.
    """
    log_p = noise_model.log_likelihood(observations.unsqueeze(1), samples)
    log_mean = torch.logsumexp(log_p, dim=1) - math.log(samples.shape[1])
    return -log_mean.mean()


def masked_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The N2V loss: mean squared error at the masked pixels ((N,) or (N, 1) each)."""
    return torch.mean((prediction.reshape(-1) - target.reshape(-1)) ** 2)


def supervised_mse(prediction: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """The loss of the paper's "U-Net (trad.)": MSE against clean images."""
    return torch.mean((prediction - clean) ** 2)
