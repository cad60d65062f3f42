"""Spectral normalisation of a discriminator's linear and conv layers (Miyato et al. 2018).

Each weight W is divided by its largest singular value sigma(W), estimated by one power iteration per training
forward pass (Miyato et al. 2018, Algorithm 1). torch's parametrization keeps the iteration vectors u, v as
buffers, so they go into checkpoints with the weights and a resumed run continues the same iteration.
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

SN_LAYERS = (nn.Linear, nn.Conv2d)


def apply_spectral_norm(module: nn.Module, *, n_power_iterations: int = 1) -> nn.Module:
    """Spectrally normalise every nn.Linear and nn.Conv2d inside `module` in place (W / sigma(W), Miyato 2018 eq. 8)."""
    layers = [m for m in module.modules() if isinstance(m, SN_LAYERS)]
    for layer in layers:
        spectral_norm(layer, n_power_iterations=n_power_iterations)
    return module
