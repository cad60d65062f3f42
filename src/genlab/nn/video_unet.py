"""The space-time factorised U-Net of video diffusion (Ho et al. 2022, sec. 3, fig. 1): 2-D convolutions and
spatial attention per frame, temporal attention across frames at the attention resolutions."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genlab.errors import ConfigError, ModelInputError
from genlab.nn.attention import SelfAttention2d
from genlab.nn.embeddings import TimeEmbedding, batch_timesteps
from genlab.nn.norm import GroupNorm
from genlab.nn.resample import Downsample, Upsample
from genlab.nn.resblock import ResBlock
from genlab.nn.temporal_attention import TemporalAttention


class _SpaceTime(nn.Module):
    """A residual block per frame, then (at attention levels) spatial attention per frame and temporal attention."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, *, attention: bool, heads: int, groups: int,
                 max_frames: int) -> None:
        super().__init__()
        self.res = ResBlock(c_in, c_out, emb_dim, groups=groups)
        self.spatial = SelfAttention2d(c_out, heads=heads, groups=groups) if attention else None
        self.temporal = TemporalAttention(c_out, heads=heads, groups=groups, max_frames=max_frames) if attention \
            else None

    def forward(self, h: Tensor, emb: Tensor, frames: int, still: Tensor | None) -> Tensor:
        """h: (B*T, C_in, H, W), emb: (B*T, E) -> (B*T, C_out, H, W)."""
        h = self.res(h, emb)
        if self.spatial is not None and self.temporal is not None:
            h = self.temporal(self.spatial(h), frames, still)
        return h


class VideoUNet(nn.Module):
    """eps_theta(x_t, t) on clips x_t: (B, T, C, H, W) (Ho et al. 2022, sec. 3).

    Every convolution and norm acts on one frame; frames meet only in temporal attention, which `still` masks
    to the identity for still-image rows, so one network trains on images and videos together. Each level
    halves H and W; `attention_levels` index `channels` and the middle block always attends.
    """

    def __init__(self, *, in_channels: int = 1, out_channels: int | None = None, channels: tuple[int, ...] = (32, 64),
                 attention_levels: tuple[int, ...] = (1,), heads: int = 4, groups: int = 8,
                 max_frames: int = 16) -> None:
        super().__init__()
        if not channels or any(c % groups for c in channels):
            raise ConfigError(f"every entry of channels={tuple(channels)} must be divisible by groups={groups}")
        if any(not 0 <= i < len(channels) for i in attention_levels):
            raise ConfigError(f"attention_levels={tuple(attention_levels)} must index channels "
                              f"(0..{len(channels) - 1})")
        self.in_channels, self.out_channels = in_channels, out_channels or in_channels
        self.max_frames = max_frames
        emb_dim = 4 * channels[0]
        self.time_embed = TimeEmbedding(channels[0], emb_dim)
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        opts = dict(heads=heads, groups=groups, max_frames=max_frames)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, c = [channels[0]], channels[0]
        for i, ch in enumerate(channels):
            self.down.append(_SpaceTime(c, ch, emb_dim, attention=i in attention_levels, **opts))
            c = ch
            skips.append(ch)
            if i < len(channels) - 1:
                self.downsample.append(Downsample(ch))
                skips.append(ch)
        self.mid1 = _SpaceTime(c, c, emb_dim, attention=True, **opts)
        self.mid2 = _SpaceTime(c, c, emb_dim, attention=False, **opts)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, ch in reversed(list(enumerate(channels))):
            for _ in range(2):
                self.up.append(_SpaceTime(c + skips.pop(), ch, emb_dim, attention=i in attention_levels, **opts))
                c = ch
            if i > 0:
                self.upsample.append(Upsample(ch))
        self.levels = len(channels)
        self.norm_out = GroupNorm(groups, c)
        self.conv_out = nn.Conv2d(c, self.out_channels, 3, padding=1)

    def forward(self, x: Tensor, t: Tensor | float, *, still: Tensor | None = None) -> Tensor:
        """x: (B, T, C_in, H, W), t: (B,) or scalar, still: (B,) bool (frames independent) -> (B, T, C_out, H, W)."""
        if x.ndim != 5 or x.shape[2] != self.in_channels or x.shape[0] == 0:
            raise ModelInputError(f"video U-Net expects clips of shape (B, T, {self.in_channels}, H, W), "
                                  f"got {tuple(x.shape)}")
        b, frames = x.shape[:2]
        if frames > self.max_frames:
            raise ModelInputError(f"clips of {frames} frames given to a network built for at most {self.max_frames}")
        emb = self.time_embed(batch_timesteps(t, b, x.device)).repeat_interleave(frames, dim=0)
        h = self.conv_in(x.flatten(0, 1))
        skips = [h]
        for i, block in enumerate(self.down):
            h = block(h, emb, frames, still)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                skips.append(h)
        h = self.mid2(self.mid1(h, emb, frames, still), emb, frames, still)
        for j, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb, frames, still)
            if j % 2 == 1 and j // 2 < len(self.upsample):
                h = self.upsample[j // 2](h, skips[-1].shape[2:])
        out = self.conv_out(F.silu(self.norm_out(h)))
        return out.view(b, frames, self.out_channels, *out.shape[2:])
