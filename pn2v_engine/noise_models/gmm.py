"""A Gaussian-mixture noise model whose parameters are polynomials of the signal.

Prakash et al., "Fully Unsupervised Probabilistic Noise2Void" (ISBI 2020), describe
p(x | s) as a mixture of ``C`` Gaussians whose weights, means and variances vary
smoothly with the signal ``s``. It needs far less data than a histogram and can be
fitted to (pseudo-clean, noisy) pairs, so PN2V works without a calibration stack.

Parametrisation (our own; the reference code is not used)
---------------------------------------------------------
The signal is mapped to ``u = (s - fit_low) / (fit_high - fit_low)``, clipped to
``[0, 1]``; every parameter is a polynomial of degree ``d`` in ``u``, written in the
Bernstein basis ``b_j(u) = binom(d, j) u^j (1 - u)^(d - j)`` (well conditioned on
``[0, 1]``, and a positive combination of it is positive; evaluation converts to
powers of ``u`` and uses Horner's rule). ``parameters`` has shape ``(3, C, d + 1)``:

* ``parameters[0]``: weight logits; weights ``w_k(s) = softmax_k(sum_j L_kj b_j(u))``.
* ``parameters[1]``: offsets in units of ``scale``; ``o_k(s) = scale sum_j M_kj b_j(u)``.
  The means are ``s + o_k(s) - sum_i w_i(s) o_i(s)``, so the mixture's mean is exactly
  ``s`` (the signal is the mean reading, as in a calibration).
* ``parameters[2]``: log variance coefficients; the component variances are
  ``min_sigma**2 + scale**2 sum_j exp(V_kj) b_j(u)``. Positive Bernstein coefficients
  keep the variance positive, and each standard deviation is at least ``min_sigma``
  (the reference clamps the *variance* at its ``min_sigma``). A Poisson-Gaussian
  variance ``a s + b`` is represented exactly at any degree.

Beyond the fitted signal range the mixture keeps the shape it has at the nearest end
and its means follow ``s``, so ln p(x|s) is finite and differentiable in ``s``
everywhere. ``signal_range`` is the range of all the data the fit saw (signals and
observations), as for the histogram; :meth:`clamp_signal` limits samples to it.
"""

from __future__ import annotations

import math
from typing import Any, Self

import numpy as np
import torch

from .base import NoiseModel
from .histogram import HistogramNoiseModel


class GaussianMixtureNoiseModel(NoiseModel):
    """p(x | s) as a signal-dependent mixture of Gaussians (see the module docstring).

    Parameters
    ----------
    parameters
        ``(3, C, d + 1)``: weight logits, offsets (units of ``scale``) and log variance
        coefficients (units of ``scale**2``), Bernstein coefficients over the fitted range.
    value_range
        ``(low, high)``: the range of signals and observations the model was fitted on.
    fit_range
        ``(fit_low, fit_high)``: the signals mapped to ``u = 0`` and ``u = 1``.
    min_sigma
        Each component's standard deviation is at least this, in camera units.
    scale
        The unit of offsets and (squared) of variances, in camera units.
    """

    kind = "gmm"

    def __init__(
        self,
        parameters: np.ndarray | torch.Tensor,
        value_range: tuple[float, float],
        fit_range: tuple[float, float],
        min_sigma: float,
        scale: float,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(metadata)
        parameters = torch.as_tensor(parameters, dtype=torch.float32)
        if parameters.ndim != 3 or parameters.shape[0] != 3 or parameters.shape[1] < 1:
            raise ValueError(f"parameters must have shape (3, C, d + 1), got {parameters.shape}")
        self.parameters = parameters
        self.low, self.high = (float(v) for v in value_range)
        self.fit_low, self.fit_high = (float(v) for v in fit_range)
        if not self.fit_high > self.fit_low:
            raise ValueError(f"the fitted range {fit_range} is empty")
        self.min_sigma, self.scale = float(min_sigma), float(scale)
        if not (self.min_sigma > 0 and self.scale > 0):
            raise ValueError("min_sigma and scale must be positive")
        self._to_monomial = _bernstein_to_monomial(parameters.shape[2] - 1).to(parameters.device)

    @property
    def n_components(self) -> int:
        return int(self.parameters.shape[1])

    @property
    def degree(self) -> int:
        return int(self.parameters.shape[2]) - 1

    @property
    def signal_range(self) -> tuple[float, float]:
        return self.low, self.high

    def _monomials(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logit, offset and variance polynomials in powers of ``u``, each ``(C, d + 1)``."""
        p = self.parameters.to(dtype)
        to_monomial = self._to_monomial.to(dtype).T
        return p[0] @ to_monomial, p[1] @ to_monomial, torch.exp(p[2]) @ to_monomial

    def _u(self, s: torch.Tensor) -> torch.Tensor:
        return ((s - self.fit_low) / (self.fit_high - self.fit_low)).clamp(0.0, 1.0)

    def _mixture(
        self, s: torch.Tensor, dtype: torch.dtype = torch.float32
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log weights, means and variances, each ``(C, *s.shape)`` (components first).

        Computed in ``dtype``, or in ``s``'s precision if that is higher; differentiable
        in ``s`` and in the parameters (the fit uses this).
        """
        s = s.to(torch.promote_types(dtype, s.dtype))
        u = self._u(s)
        logits, offsets, variances = (_polynomial(m, u) for m in self._monomials(s.dtype))
        log_weights = torch.log_softmax(logits, dim=0)
        offsets = offsets * self.scale
        centre = (log_weights.exp() * offsets).sum(dim=0)
        means = (s - centre) + offsets
        # clamped: rounding in Horner's rule must not undercut the floor
        variances = variances.clamp_min(0.0) * self.scale**2 + self.min_sigma**2
        return log_weights, means, variances

    def components(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log weights, means and variances of the components, each ``(*s.shape, C)``.

        Computed in float32, or in ``s``'s precision if that is higher.
        """
        return tuple(v.movedim(0, -1) for v in self._mixture(s))  # type: ignore[return-value]

    def variance(self, s: torch.Tensor) -> torch.Tensor:
        """var(x | s) of the mixture, shape of ``s`` (its mean is ``s`` itself)."""
        log_weights, means, variances = self._mixture(s)
        spread = (means - s.to(means.dtype)) ** 2
        return (log_weights.exp() * (variances + spread)).sum(dim=0)

    def log_likelihood(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        # Not floored: a sample far from x keeps a gradient towards it (the log stays finite).
        if self.parameters.requires_grad or x.requires_grad:
            return self._log_likelihood_autograd(x, s)
        if torch.is_grad_enabled() and s.requires_grad:
            return _LogLikelihood.apply(x, s, self)
        return _evaluate(self, x, s, slope=False)[0]

    def _log_likelihood_autograd(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """ln p(x|s) by plain torch operations, differentiable in everything (fitting)."""
        log_weights, means, variances = self._mixture(s, torch.promote_types(x.dtype, s.dtype))
        residual = x.to(means.dtype) - means
        log_density = -0.5 * (torch.log(2 * math.pi * variances) + residual**2 / variances)
        log_terms = log_weights + log_density
        return torch.logsumexp(log_terms, dim=0)

    def clamp_signal(self, s: torch.Tensor) -> torch.Tensor:
        return s.clamp_(self.low, self.high)

    def tabulate(
        self,
        low: float,
        high: float,
        bins: int,
        counts: np.ndarray | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> HistogramNoiseModel:
        """The mixture as a histogram model on ``bins`` equal bins over ``[low, high)``.

        Row ``i`` holds the mixture's probability of each observation bin at the signal
        of bin centre ``i`` (exact normal-CDF masses, so integer readings lose nothing
        when the bins are whole grey levels); the outer bins take the tails beyond the
        range, as the histogram clamps such readings into them. Training and prediction
        then run at the histogram's speed (a table lookup instead of ``C`` Gaussians)
        with the mixture's smooth shape. ``counts`` (the pairs the mixture was fitted
        to, if binned on the same grid) are kept for display and checks; ``metadata``
        replaces this model's; its source network is kept.
        """
        width = (high - low) / bins
        mass = self.bin_masses(low, high, bins)
        table = HistogramNoiseModel(mass / width, low, high, counts=counts, metadata=metadata)
        table.source_network = self.source_network
        return table

    def bin_masses(self, low: float, high: float, bins: int) -> np.ndarray:
        """Float64 ``(bins, bins)``: row ``i`` is the probability of each observation bin
        at the signal of bin centre ``i``, rows summing to one (see :meth:`tabulate`)."""
        if int(bins) != bins or bins < 2 or not high > low:
            raise ValueError(f"cannot tabulate on {bins} bins over [{low}, {high})")
        edges = torch.linspace(low, high, int(bins) + 1, dtype=torch.float64)
        centres = (edges[:-1] + edges[1:]) / 2
        edges[0], edges[-1] = -math.inf, math.inf
        log_weights, means, variances = self.components(centres)  # (bins, C) each
        z = (edges[None, :, None] - means[:, None, :]) / variances.sqrt()[:, None, :]
        cdf = torch.special.ndtr(z)
        mass = ((cdf[:, 1:] - cdf[:, :-1]) * log_weights.exp()[:, None, :]).sum(dim=-1)
        return (mass / mass.sum(dim=1, keepdim=True)).numpy()

    def to(self, device: torch.device | str) -> Self:
        return type(self)(
            self.parameters.to(device),
            (self.low, self.high),
            (self.fit_low, self.fit_high),
            self.min_sigma,
            self.scale,
            self.metadata,
        )

    def describe(self) -> str:
        return (
            f"Gaussian-mixture noise model ({self.n_components} components, degree "
            f"{self.degree}), range {self.low:g} to {self.high:g}"
        )

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "parameters": self.parameters.detach().cpu().numpy().copy(),
            "range": np.array([self.low, self.high]),
            "fit_range": np.array([self.fit_low, self.fit_high]),
            "constants": np.array([self.min_sigma, self.scale]),
        }

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> Self:
        parameters = arrays["parameters"]
        if not np.all(np.isfinite(parameters)):
            raise ValueError("the mixture's parameters are not finite")
        low, high = (float(v) for v in arrays["range"])
        fit_low, fit_high = (float(v) for v in arrays["fit_range"])
        min_sigma, scale = (float(v) for v in arrays["constants"])
        return cls(parameters, (low, high), (fit_low, fit_high), min_sigma, scale, metadata)


def _bernstein_to_monomial(degree: int) -> torch.Tensor:
    """``T`` with ``sum_j B_j b_j(u) == sum_i (T @ B)_i u^i`` for Bernstein coefficients ``B``."""
    n = degree
    matrix = [
        [
            math.comb(n, j) * math.comb(n - j, i - j) * (-1) ** (i - j) if j <= i else 0
            for j in range(n + 1)
        ]
        for i in range(n + 1)
    ]
    return torch.tensor(matrix, dtype=torch.float64)


def _polynomial(coefficients: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``(C, *u.shape)``: the ``(C, d + 1)`` power-series polynomials at ``u`` (Horner)."""
    c = coefficients.reshape(coefficients.shape[0], *([1] * u.ndim), -1)
    value = c[..., -1].expand(coefficients.shape[0], *u.shape)
    for j in range(coefficients.shape[1] - 2, -1, -1):
        value = value * u + c[..., j]
    return value


def _polynomial_and_slope(
    coefficients: torch.Tensor, u: torch.Tensor, slope: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`_polynomial` and, if ``slope``, its derivative in ``u``, in place (no autograd)."""
    c = coefficients.reshape(coefficients.shape[0], *([1] * u.ndim), -1)
    value = c[..., -1].expand(coefficients.shape[0], *u.shape).clone()
    derivative = torch.zeros_like(value) if slope else None
    for j in range(coefficients.shape[1] - 2, -1, -1):
        if derivative is not None:
            derivative.mul_(u).add_(value)
        value.mul_(u).add_(c[..., j])
    return value, derivative


@torch.no_grad()
def _evaluate(
    model: GaussianMixtureNoiseModel, x: torch.Tensor, s: torch.Tensor, slope: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """ln p(x|s) and, if ``slope``, its derivative in ``s``, both of the broadcast shape.

    The same values as :meth:`GaussianMixtureNoiseModel._log_likelihood_autograd`, with
    the derivative written out so that training and prediction neither keep an autograd
    graph over ``(C, N, K)`` tensors nor allocate one per operation.
    """
    dtype = torch.promote_types(torch.float32, torch.promote_types(x.dtype, s.dtype))
    shape = torch.broadcast_shapes(x.shape, s.shape)
    x, s = x.to(dtype), s.to(dtype).expand(shape)
    width = model.fit_high - model.fit_low
    u = (s - model.fit_low).div_(width)
    inside = ((u >= 0) & (u <= 1)).to(dtype).div_(width) if slope else None  # du/ds
    u.clamp_(0.0, 1.0)
    logits, offsets, variances = model._monomials(dtype)
    logits, d_logits = _polynomial_and_slope(logits, u, slope)
    offsets, d_offsets = _polynomial_and_slope(offsets * model.scale, u, slope)
    variances, d_variances = _polynomial_and_slope(variances * model.scale**2, u, slope)
    log_weights = torch.log_softmax(logits, dim=0)
    del logits
    weights = log_weights.exp()
    centre = (weights * offsets).sum(dim=0)
    if d_logits is not None and d_offsets is not None:  # i.e. slope
        d_log_weights = d_logits.sub_((weights * d_logits).sum(dim=0))
        d_centre = (weights * (d_log_weights * offsets + d_offsets)).sum(dim=0)
        d_shift = d_offsets.sub_(d_centre)  # d (mean_k - s) / du
    # residual x - mean_k, with mean_k = s - centre + offset_k
    residual = offsets.neg_().add_(x - s + centre)
    if d_variances is not None:
        d_variances.masked_fill_(variances < 0, 0.0)
    variances.clamp_min_(0.0).add_(model.min_sigma**2)
    scaled = residual / variances  # d ln N / d mean
    log_terms = torch.log(variances).add_(scaled * residual).mul_(-0.5).add_(log_weights)
    log_terms.sub_(0.5 * math.log(2 * math.pi))
    log_p = torch.logsumexp(log_terms, dim=0)
    if not slope:
        return log_p, None
    assert d_variances is not None and inside is not None
    responsibilities = log_terms.sub_(log_p).exp_()
    # d ln p / du through the weights, the means' offsets and the variances
    through_u = d_log_weights.add_(scaled * d_shift)
    through_u.add_(d_variances.mul_(scaled * residual - 1).div_(2 * variances))
    derivative = (responsibilities * scaled).sum(dim=0)  # the means' own "+ s"
    derivative.add_(inside * (responsibilities * through_u).sum(dim=0))
    return log_p, derivative


class _LogLikelihood(torch.autograd.Function):
    """ln p(x|s) whose backward pass uses the derivative :func:`_evaluate` wrote out."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, s: torch.Tensor, model: GaussianMixtureNoiseModel
    ) -> torch.Tensor:
        log_p, derivative = _evaluate(model, x, s, slope=True)
        ctx.save_for_backward(derivative)
        ctx.s_shape, ctx.s_dtype = s.shape, s.dtype
        return log_p

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor, None]:  # type: ignore[override]
        (derivative,) = ctx.saved_tensors
        return None, (grad * derivative).sum_to_size(ctx.s_shape).to(ctx.s_dtype), None
