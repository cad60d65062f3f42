"""Residual block with group norm and a timestep injected by addition or adaptive group norm
(Dhariwal & Nichol 2021, sec. 3)."""
from __future__ import annotations

from typing import Literal

from torch import Tensor, nn
from torch.nn import functional as F

from genlab.nn.norm import GroupNorm, group_norm

TimeInjection = Literal["scale_shift", "add"]


class AdaGroupNorm(nn.Module):
    """AdaGN(h, e) = GroupNorm(h) * (1 + scale(e)) + shift(e) (Dhariwal & Nichol 2021, eq. in sec. 3)."""

    def __init__(self, channels: int, emb_dim: int, *, groups: int) -> None:
        super().__init__()
        self.norm = GroupNorm(groups, channels)
        self.modulation = nn.Linear(emb_dim, 2 * channels)

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        """h: (B, C, H, W), emb: (B, E) -> (B, C, H, W)."""
        scale, shift = self.modulation(emb).chunk(2, dim=1)
        n = self.norm
        return group_norm(h, n.num_groups, n.weight, n.bias, eps=n.eps, scale=scale, shift=shift)


class ResBlock(nn.Module):
    """GN-SiLU-conv, timestep injection, GN-SiLU-dropout-conv, plus a (1x1 if needed) skip (Ho et al. 2020, app. B)."""

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int, *, groups: int,
                 time_embedding: TimeInjection = "scale_shift", dropout: float = 0.0) -> None:
        super().__init__()
        self.time_embedding = time_embedding
        self.norm1 = GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        if time_embedding == "scale_shift":
            self.norm2: AdaGroupNorm | GroupNorm = AdaGroupNorm(out_channels, emb_dim, groups=groups)
        else:
            self.emb_proj = nn.Linear(emb_dim, out_channels)
            self.norm2 = GroupNorm(groups, out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        """x: (B, C_in, H, W), emb: (B, E) -> (B, C_out, H, W)."""
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_embedding == "scale_shift":
            h = self.norm2(h, emb)
        else:
            h = self.norm2(h + self.emb_proj(emb)[:, :, None, None])
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h
