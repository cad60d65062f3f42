"""A clip's content code: what its given frames show, pooled over positions and frames (the content encoder of
Villegas et al. 2017, sec. 3.1, and Denton & Birodkar 2017), added to every frame's time embedding of a video U-Net."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class ContentEncoder(nn.Module):
    """code(known, given) -> (B, emb_dim): each given frame through three 3x3 convolutions (the last two of stride
    2) and a mean over positions, then a mean over the given frames and a two-layer MLP; zeros for a clip with no
    given frame. Pooling over positions keeps what a frame shows and drops where it shows it. The MLP's last
    layer starts at zero, so a fresh network is the one without the code."""

    def __init__(self, in_channels: int, emb_dim: int, *, width: int = 32) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(in_channels, width, 3, padding=1),
                                    nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
                                    nn.Conv2d(2 * width, emb_dim, 3, stride=2, padding=1)])
        last = nn.Linear(emb_dim, emb_dim)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), last)

    def forward(self, known: Tensor, given: Tensor) -> Tensor:
        """known: (B, T, C, H, W) (only the given frames are read), given: (B, T) bool -> (B, emb_dim)."""
        h = known[given]                                                 # (G, C, H, W): the given frames only
        for conv in self.convs:
            h = F.silu(conv(h))
        per_frame = h.mean(dim=(2, 3))                                   # (G, E), in the order of given.nonzero()
        total = per_frame.new_zeros(given.shape[0], per_frame.shape[1]).index_add(0, given.nonzero()[:, 0], per_frame)
        count = given.sum(dim=1, keepdim=True).clamp(min=1).to(total.dtype)
        some = given.any(dim=1, keepdim=True)
        return torch.where(some, self.mlp(total / count), torch.zeros_like(total))
