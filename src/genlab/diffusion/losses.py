"""Training objectives: L_simple of Algorithm 1 (Ho et al. 2020, eq. 14) for any parameterisation."""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from genlab.diffusion.denoiser import Denoiser
from genlab.diffusion.parametrization import Prediction, coefficients
from genlab.diffusion.schedules import NoiseSchedule, extract
from genlab.errors import ConfigError, ModelInputError


def min_snr_weight(schedule: NoiseSchedule, t: Tensor, *, prediction: Prediction = "eps",
                   gamma: float = 5.0) -> Tensor:
    """Min-SNR-gamma loss weight for the chosen target (Hang et al. 2023, eq. 9 and its eps/v forms): (B,)."""
    snr = extract(schedule.snr(), t, t.to(torch.float64))  # (B,) in float64
    clipped = snr.clamp(max=gamma)
    weight = {"eps": clipped / snr, "x0": clipped, "v": clipped / (snr + 1.0)}[prediction]
    return weight.to(torch.float32)


def example_weight(schedule: NoiseSchedule, t: Tensor, *, weighting: Literal["none", "min_snr"], prediction: Prediction,
                   gamma: float = 5.0) -> Tensor:
    """The weight (B,) of each example's squared error at steps t (B,): 1, or min-SNR-gamma (Hang et al. 2023,
    eq. 9) for the given parameterisation."""
    if weighting not in ("none", "min_snr"):
        raise ConfigError(f"unknown loss weighting {weighting!r}; expected 'none' or 'min_snr'")
    if weighting == "min_snr":
        return min_snr_weight(schedule, t, prediction=prediction, gamma=gamma)
    return torch.ones(t.shape, device=t.device)


def l_simple(denoiser: Denoiser, x0: Tensor, *, t: Tensor, noise: Tensor,
             weighting: Literal["none", "min_snr"] = "none", snr_gamma: float = 5.0,
             reduction: Literal["mean", "none"] = "mean") -> Tensor:
    """Mean squared error between the denoiser's raw output and its target (Algorithm 1; Ho et al. 2020, eq. 14).

    x0, noise: (B, ...); t: (B,) long in [0, T-1]. The caller draws t and noise, so the training loop owns
    the randomness. Returns a scalar, or (B,) per-example losses with reduction="none". The squared error
    is taken in float32 whatever the network's dtype (bf16 autocast).
    """
    if noise.shape != x0.shape:
        raise ModelInputError(f"noise must have x0's shape {tuple(x0.shape)}, got {tuple(noise.shape)}")
    weight = example_weight(denoiser.schedule, t, weighting=weighting, prediction=denoiser.prediction,
                            gamma=snr_gamma)
    alpha, sigma = coefficients(denoiser.schedule, t, x0)
    target = denoiser.target(x0, noise, t)
    output = denoiser(alpha * x0 + sigma * noise, t)
    per_example = (output.float() - target.float()).pow(2).flatten(1).mean(dim=1) * weight
    return per_example.mean() if reduction == "mean" else per_example
