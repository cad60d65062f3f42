"""An MLP denoiser for vectors (2-D toy sets, tabular data): eps_theta(x_t, t) with a sinusoidal time embedding."""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from genlab.errors import ConfigError, ModelInputError
from genlab.nn.embeddings import TimeEmbedding, batch_timesteps


class MLPDenoiser(nn.Module):
    """x: (B, D), t: (B,) -> (B, D): `layers` SiLU layers of width `hidden`, the time embedding added before each."""

    def __init__(self, *, dim: int = 2, hidden: int = 256, layers: int = 4, time_dim: int = 64) -> None:
        super().__init__()
        if dim < 1 or hidden < 1 or layers < 1 or time_dim < 2:
            raise ConfigError(f"MLPDenoiser needs dim, hidden, layers >= 1 and time_dim >= 2, "
                              f"got dim={dim}, hidden={hidden}, layers={layers}, time_dim={time_dim}")
        self.dim = dim
        self.time_embed = TimeEmbedding(time_dim, hidden)
        self.inp = nn.Linear(dim, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.out = nn.Linear(hidden, dim)

    def forward(self, x: Tensor, t: Tensor | float) -> Tensor:
        """x: (B, D), t: (B,) or scalar timesteps -> (B, D)."""
        if x.ndim != 2 or x.shape[1] != self.dim or x.shape[0] == 0:
            raise ModelInputError(f"MLPDenoiser expects x of shape (B, {self.dim}), got {tuple(x.shape)}")
        t = batch_timesteps(t, x.shape[0], x.device)
        emb = self.time_embed(t)
        h = self.inp(x)
        for layer in self.hidden:
            h = layer(F.silu(h + emb))
        return self.out(F.silu(h))
