"""The space-time factorised U-Net of video diffusion (Ho et al. 2022, sec. 3, fig. 1): 2-D convolutions and
spatial attention per frame, temporal attention (and optionally temporal convolutions) across frames."""
from __future__ import annotations

from functools import partial

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
from genlab.nn.temporal_conv import TemporalConv

TEMPORAL_ATTENTION = ("axial", "full")    # across frames per position (Ho et al. 2022), or over frames x positions
FULL_TOKENS = 4096     # largest T*H*W of full attention: its (T H W)^2 scores per head and clip grow fast


class _SpaceTime(nn.Module):
    """A residual block per frame, a temporal convolution, then spatial attention per frame (at `attention`
    levels) and temporal attention across frames (at `temporal` levels)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, *, attention: bool, temporal: bool, temporal_conv: bool,
                 heads: int, groups: int, max_frames: int, full_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.res = ResBlock(c_in, c_out, emb_dim, groups=groups)
        self.conv_t = TemporalConv(c_out, groups=groups) if temporal_conv else None
        self.spatial = SelfAttention2d(c_out, heads=heads, groups=groups) if attention else None
        self.temporal = TemporalAttention(c_out, heads=heads, groups=groups, max_frames=max_frames,
                                          full_size=full_size) if temporal \
            else None

    def forward(self, h: Tensor, emb: Tensor, frames: int, still: Tensor | None) -> Tensor:
        """h: (B*T, C_in, H, W), emb: (B*T, E) -> (B*T, C_out, H, W)."""
        h = self.res(h, emb)
        if self.conv_t is not None:
            h = self.conv_t(h, frames, still)
        if self.spatial is not None:
            h = self.spatial(h)
        if self.temporal is not None:
            h = self.temporal(h, frames, still)
        return h


class VideoUNet(nn.Module):
    """eps_theta(x_t, t) on clips x_t: (B, T, C, H, W) (Ho et al. 2022, sec. 3).

    Every 2-D convolution and norm acts on one frame; frames meet only in temporal attention (at
    `temporal_levels`, None: the `attention_levels`) and temporal convolutions (`temporal_conv`: one per block), which
    `still` turns into the identity for still-image rows, so one network trains on images and videos together.
    Each level halves H and W; `attention_levels` (spatial attention) and `temporal_levels` index `channels`;
    the middle block always attends in space and time. `temporal_attention` "full" makes the temporal attention
    joint over all frames and positions of a clip (for small latent frames; see TemporalAttention), with a bias
    table per displacement sized for frames of at most `frame_size` (H, W).
    """

    def __init__(self, *, in_channels: int = 1, out_channels: int | None = None, channels: tuple[int, ...] = (32, 64),
                 attention_levels: tuple[int, ...] = (1,), temporal_levels: tuple[int, ...] | None = None,
                 temporal_conv: bool = False, heads: int = 4, groups: int = 8, max_frames: int = 16,
                 temporal_attention: str = "axial", frame_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        if not channels or any(c % groups for c in channels):
            raise ConfigError(f"every entry of channels={tuple(channels)} must be divisible by groups={groups}")
        temporal_levels = tuple(attention_levels) if temporal_levels is None else tuple(temporal_levels)
        for key, levels in (("attention_levels", attention_levels), ("temporal_levels", temporal_levels)):
            if any(not 0 <= i < len(channels) for i in levels):
                raise ConfigError(f"{key}={tuple(levels)} must index channels (0..{len(channels) - 1})")
        if temporal_attention not in TEMPORAL_ATTENTION:
            raise ConfigError(f"temporal_attention = {temporal_attention!r}; expected one of: "
                              f"{', '.join(TEMPORAL_ATTENTION)}")
        self.in_channels, self.out_channels = in_channels, out_channels or in_channels
        self.max_frames = max_frames
        self.emb_dim = emb_dim = 4 * channels[0]
        self.time_embed = TimeEmbedding(channels[0], emb_dim)
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        full = temporal_attention == "full"
        if full and frame_size is None:
            raise ConfigError("full space-time attention needs the frame size (H, W) to size its displacement bias")
        size = frame_size or (1, 1)
        sizes = [(-(-size[0] // 2 ** i), -(-size[1] // 2 ** i)) for i in range(len(channels))]
        full_sizes = sizes if full else [None] * len(channels)     # TemporalAttention's full_size per level
        for i in sorted({*temporal_levels, len(channels) - 1}) if full else ():
            tokens = max_frames * sizes[i][0] * sizes[i][1]
            if tokens > FULL_TOKENS:
                raise ConfigError(f"full space-time attention at level {i} ({sizes[i][0]}x{sizes[i][1]}) would attend "
                                  f"over {max_frames} x {sizes[i][0] * sizes[i][1]} = {tokens:,} positions (at most "
                                  f"{FULL_TOKENS:,}): use it on small latent frames or at lower temporal_levels")
        block = partial(_SpaceTime, emb_dim=emb_dim, temporal_conv=temporal_conv, heads=heads, groups=groups,
                        max_frames=max_frames)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, c = [channels[0]], channels[0]
        for i, ch in enumerate(channels):
            self.down.append(block(c, ch, attention=i in attention_levels, temporal=i in temporal_levels,
                                   full_size=full_sizes[i]))
            c = ch
            skips.append(ch)
            if i < len(channels) - 1:
                self.downsample.append(Downsample(ch))
                skips.append(ch)
        self.mid1 = block(c, c, attention=True, temporal=True, full_size=full_sizes[-1])
        self.mid2 = block(c, c, attention=False, temporal=False)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, ch in reversed(list(enumerate(channels))):
            for _ in range(2):
                self.up.append(block(c + skips.pop(), ch, attention=i in attention_levels,
                                     temporal=i in temporal_levels, full_size=full_sizes[i]))
                c = ch
            if i > 0:
                self.upsample.append(Upsample(ch))
        self.levels = len(channels)
        self.norm_out = GroupNorm(groups, c)
        self.conv_out = nn.Conv2d(c, self.out_channels, 3, padding=1)

    def forward(self, x: Tensor, t: Tensor | float, *, still: Tensor | None = None,
                code: Tensor | None = None) -> Tensor:
        """x: (B, T, C_in, H, W), t: (B,), (B, T) (a step per frame) or scalar, still: (B,) bool (frames
        independent), code: (B, 4 channels[0]) a clip-level code added to every frame's time embedding
        -> (B, T, C_out, H, W)."""
        if x.ndim != 5 or x.shape[2] != self.in_channels or x.shape[0] == 0:
            raise ModelInputError(f"video U-Net expects clips of shape (B, T, {self.in_channels}, H, W), "
                                  f"got {tuple(x.shape)}")
        b, frames = x.shape[:2]
        if frames > self.max_frames:
            raise ModelInputError(f"clips of {frames} frames given to a network built for at most {self.max_frames}")
        if isinstance(t, Tensor) and t.ndim == 2:
            if t.shape != (b, frames):
                raise ModelInputError(f"per-frame t must be ({b}, {frames}), got {tuple(t.shape)}")
            emb = self.time_embed(t.to(x.device).flatten())
        else:
            emb = self.time_embed(batch_timesteps(t, b, x.device)).repeat_interleave(frames, dim=0)
        if code is not None:
            emb = emb + code.to(emb.dtype).repeat_interleave(frames, dim=0)
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
