"""Timestep and class embeddings: the sinusoidal code of Vaswani et al. (2017, sec. 3.5) as used by Ho et al. (2020);
random Fourier features of low-dimensional inputs (Tancik et al. 2020)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genlab.errors import ModelInputError


def batch_timesteps(t: Tensor | float, batch: int, device: torch.device) -> Tensor:
    """t as a (batch,) tensor: a scalar is repeated; anything but (batch,) raises ModelInputError."""
    t = torch.as_tensor(t, device=device)
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ModelInputError(f"t must be a scalar or of shape ({batch},), got {tuple(t.shape)}")
    return t


def sinusoidal_embedding(t: Tensor, dim: int, *, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal code of t: (B,) -> (B, dim) = [sin(t w_i), cos(t w_i)], w_i = max_period^(-i / (dim/2))
    (Vaswani sec. 3.5)."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=t.device) * (-math.log(max_period) / half))
    angles = t.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        emb = nn.functional.pad(emb, (0, 1))
    return emb


class TimeEmbedding(nn.Module):
    """Sinusoidal code of the timestep followed by a 2-layer SiLU MLP (Ho et al. 2020, appendix B)."""

    def __init__(self, base_dim: int, emb_dim: int) -> None:
        super().__init__()
        self.base_dim = base_dim
        self.mlp = nn.Sequential(nn.Linear(base_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

    def forward(self, t: Tensor) -> Tensor:
        """t: (B,) integer or real timesteps -> (B, emb_dim)."""
        return self.mlp(sinusoidal_embedding(t, self.base_dim).to(next(self.mlp.parameters()).dtype))


class FourierFeatures(nn.Module):
    """x -> [x, sin(2 pi x B), cos(2 pi x B)] with fixed B ~ N(0, scale^2): (B, D) -> (B, D + 2 F). Lets an MLP
    resolve fine structure of low-dimensional inputs (Tancik et al. 2020, eq. 5); scale 0 is the identity."""

    freqs: Tensor

    def __init__(self, dim: int, *, scale: float, features: int = 64) -> None:
        super().__init__()
        self.scale = scale
        self.register_buffer("freqs", torch.randn(dim, features, generator=torch.Generator().manual_seed(0)) * scale)
        self.out_dim = dim + (2 * features if scale > 0 else 0)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, D) -> (B, out_dim)."""
        if self.scale <= 0:
            return x
        angles = 2 * math.pi * x @ self.freqs.to(x.dtype)
        return torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=1)
