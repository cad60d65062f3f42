"""Attention across the frames of a clip, per pixel, with a learned relative-position bias (Ho et al. 2022, sec. 3;
the bias of Shaw et al. 2018 / Raffel et al. 2020 as one scalar per head and frame distance)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.errors import ConfigError, ModelInputError
from genlab.nn.attention import attend
from genlab.nn.norm import GroupNorm


def check_still(still: Tensor, clips: int) -> None:
    """`still` must flag each of the batch's clips: (clips,) bool, True = a row of independent still frames."""
    if still.shape != (clips,):
        raise ModelInputError(f"still must be ({clips},) bool, got {tuple(still.shape)}")


class TemporalAttention(nn.Module):
    """h + proj(softmax(q k^T / sqrt(d) + bias(i - j) + mask) v) over the T frames at each position (Ho et al.
    2022's factorised attention), or, given `full_size` = the largest (H, W), over all T * H * W positions of the
    clip (joint space-time attention, as in the video transformers of Arnab et al. 2021, model 1; affordable on
    small latent frames) with a bias per 3-D displacement, so that a frame can look up a pattern displaced in
    another frame.

    Still images in a video batch (`still[b]` True) get a mask that lets each frame attend to itself only, so
    their frames stay independent (Ho et al. 2022, sec. 3: joint image-video training). The output projection
    starts at zero: a fresh network is a per-frame image model.
    """

    def __init__(self, channels: int, *, heads: int, groups: int, max_frames: int,
                 full_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.full_size = full_size
        if channels % heads:
            raise ConfigError(f"attention needs channels divisible by heads, got channels={channels}, heads={heads}")
        self.heads, self.max_frames = heads, max_frames
        self.norm = GroupNorm(groups, channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.relative_bias = nn.Parameter(torch.zeros(heads, 2 * max_frames - 1))
        if full_size is not None:      # a bias per head and displacement (dt, dy, dx): where to look, not what for
            self.displacement_bias = nn.Parameter(torch.zeros(heads, 2 * max_frames - 1, 2 * full_size[0] - 1,
                                                              2 * full_size[1] - 1))

    @property
    def full(self) -> bool:
        """Attention over all frames and positions (built with a full_size), not across frames per position."""
        return self.full_size is not None

    def bias(self, frames: int) -> Tensor:
        """The (heads, T, T) table bias[h, i, j] = relative_bias[h, i - j + max_frames - 1] (a Toeplitz matrix)."""
        if not 1 <= frames <= self.max_frames:
            raise ModelInputError(f"clips of {frames} frames given to temporal attention built for at most "
                                  f"{self.max_frames}")
        idx = torch.arange(frames, device=self.relative_bias.device)
        return self.relative_bias[:, idx[:, None] - idx[None, :] + self.max_frames - 1]

    def full_bias(self, frames: int, hh: int, ww: int) -> Tensor:
        """(heads, n, n) over the n = T*H*W tokens (frame-major): relative_bias[dt] + displacement_bias[dt, dy, dx]
        with dt, dy, dx the frame, row and column offsets of token i from token j (3-D relative positions, as
        the video Swin Transformer's, Liu et al. 2022)."""
        assert self.full_size is not None
        if hh > self.full_size[0] or ww > self.full_size[1]:
            raise ModelInputError(f"frames of {hh}x{ww} given to full space-time attention built for at most "
                                  f"{self.full_size[0]}x{self.full_size[1]}")
        device = self.relative_bias.device
        f, y, x = (idx.flatten() for idx in torch.meshgrid(torch.arange(frames, device=device),
                                                           torch.arange(hh, device=device),
                                                           torch.arange(ww, device=device), indexing="ij"))
        dt = f[:, None] - f[None, :] + self.max_frames - 1
        dy = y[:, None] - y[None, :] + self.full_size[0] - 1
        dx = x[:, None] - x[None, :] + self.full_size[1] - 1
        return self.bias(frames)[:, f][:, :, f] + self.displacement_bias[:, dt, dy, dx]

    def forward(self, h: Tensor, frames: int, still: Tensor | None = None) -> Tensor:
        """h: (B*T, C, H, W) frames of B clips in order; still: (B,) bool -> (B*T, C, H, W)."""
        bt, c, hh, ww = h.shape
        b, hw = bt // frames, hh * ww
        tokens = self.norm(h).view(b, frames, c, hw).permute(0, 3, 1, 2)             # (B, HW, T, C)
        if self.full:
            tokens = tokens.transpose(1, 2).reshape(b, 1, frames * hw, c)            # (B, 1, T*HW, C), frame-major
        q, k, v = self.qkv(tokens).float().chunk(3, dim=-1)
        d, n = c // self.heads, tokens.shape[2]
        q, k, v = (z.reshape(b, tokens.shape[1], n, self.heads, d).transpose(2, 3) for z in (q, k, v))  # (B,.,h,n,d)
        mask = (self.full_bias(frames, hh, ww) if self.full else self.bias(frames)).float()   # (h, n, n)
        if still is not None:
            check_still(still, b)
            eye = torch.eye(frames, dtype=torch.bool, device=h.device)
            if self.full:                                      # token i is frame i // HW: expand frames to tokens
                eye = eye.repeat_interleave(hw, dim=0).repeat_interleave(hw, dim=1)
            blocked = still[:, None, None, None, None] & ~eye                        # (B, 1, 1, n, n)
            mask = mask.masked_fill(blocked, float("-inf"))                          # (B, 1, h, n, n)
        out = attend(q, k, v, mask).transpose(2, 3)                                 # (B, ., n, h, d)
        if self.full:
            out = out.reshape(b, frames, hw, c).transpose(1, 2)
        out = self.proj(out.reshape(b, hw, frames, c).to(h.dtype)).permute(0, 2, 3, 1).reshape(bt, c, hh, ww)
        return h + out
