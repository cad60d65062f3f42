"""The DDPM U-Net (Ho et al. 2020, app. B; Dhariwal & Nichol 2021, sec. 3): residual blocks, group norm,
attention, time embedding."""
from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from genlab.nn.norm import GroupNorm
from genlab.errors import ConfigError, ModelInputError
from genlab.nn.attention import CrossAttention2d, SelfAttention2d
from genlab.nn.embeddings import TimeEmbedding, batch_timesteps
from genlab.nn.resample import Downsample, Upsample
from genlab.nn.resblock import ResBlock, TimeInjection

# Named sizes. "mnist-1m": 1,140,929 parameters with scale-shift (1,062,497 with time_embedding="add"), the size and
# attention placement of the diffusers UNet2DModel(block_out_channels=(32, 64, 64), layers_per_block=1, one
# mid-block attention) that has 1,062,497. "mnist-1m-efficient": 1,046,873 parameters (-1.5%), the same attention
# placement, with the Efficient U-Net changes of Saharia et al. 2022 (app. B.1): parameters moved from the 28x28
# level (16 channels) to the 7x7 one (72), and up-sampling convolutions run before the resize. 0.60 GFLOP per
# training image instead of 1.12: about twice the images per second for the same parameter count (BENCHMARKS.md).
UNET_PRESETS: dict[str, dict[str, Any]] = {
    "mnist-1m": dict(channels=(32, 64, 64), blocks_per_level=1, attention_levels=(), mid_attention=True,
                     heads=4, groups=32),
    "mnist-1m-efficient": dict(channels=(16, 64, 72), blocks_per_level=1, attention_levels=(), mid_attention=True,
                               heads=4, groups=8, upsample="conv_resize"),
    "tiny": dict(channels=(16, 32), blocks_per_level=1, attention_levels=(1,), mid_attention=True,
                 heads=2, groups=8),
}


class _Level(nn.Module):
    """One resolution: residual blocks, each optionally followed by self- and cross-attention."""

    def __init__(self, channels_in: list[int], channels: int, emb_dim: int, *, attention: bool,
                 context_dim: int | None, heads: int, groups: int, time_embedding: TimeInjection,
                 dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock(c, channels, emb_dim, groups=groups, time_embedding=time_embedding,
                                             dropout=dropout) for c in channels_in)
        n = len(channels_in) if attention else 0
        self.attn = nn.ModuleList(SelfAttention2d(channels, heads=heads, groups=groups) for _ in range(n))
        self.cross = nn.ModuleList(CrossAttention2d(channels, context_dim, heads=heads, groups=groups)
                                   for _ in range(n)) if context_dim else nn.ModuleList()

    def block(self, i: int, h: Tensor, emb: Tensor, context: Tensor | None, context_mask: Tensor | None) -> Tensor:
        h = self.blocks[i](h, emb)
        if self.attn:
            h = self.attn[i](h)
        if self.cross and context is not None:
            h = self.cross[i](h, context, context_mask)
        return h


class UNet(nn.Module):
    """Noise-prediction U-Net: eps_theta(x_t, t[, y, context])
    (Ho et al. 2020, app. B; AdaGN of Dhariwal & Nichol 2021).

    Each level halves the size with a stride-2 convolution (H -> ceil(H/2)); up-sampling resizes to the skip's
    size, so any H, W >= 1 works (28 -> 14 -> 7, 7 -> 4 -> 2, 8 -> 4 -> 2). With `num_classes`, a learned class
    embedding is added to the time embedding; index `num_classes` is the "null" class used for classifier-free
    guidance (Ho & Salimans 2022) and is what `y=None` means. With `context_dim`, cross-attention to a context
    sequence follows every self-attention block. `upsample="conv_resize"` convolves before each resize and
    narrows to the next level's width (Saharia et al. 2022, app. B.1); `channels_last=True` runs every layer
    after the stem on channels-last tensors (measured no faster on this CPU, BENCHMARKS.md).
    """

    def __init__(self, *, in_channels: int = 1, out_channels: int | None = None,
                 channels: tuple[int, ...] = (32, 64, 64), blocks_per_level: int = 1,
                 attention_levels: tuple[int, ...] = (), mid_attention: bool = True, heads: int = 4,
                 groups: int = 32, time_embedding: Literal["scale_shift", "add"] = "scale_shift",
                 dropout: float = 0.0, upsample: Literal["resize_conv", "conv_resize"] = "resize_conv",
                 channels_last: bool = False, num_classes: int | None = None, context_dim: int | None = None) -> None:
        super().__init__()
        if time_embedding not in ("scale_shift", "add"):
            raise ConfigError(f"time_embedding must be 'scale_shift' or 'add', got {time_embedding!r}")
        if not channels or any(c % groups for c in channels):
            raise ConfigError(f"every entry of channels={tuple(channels)} must be divisible by groups={groups}")
        if upsample not in ("resize_conv", "conv_resize"):
            raise ConfigError(f"upsample must be 'resize_conv' or 'conv_resize', got {upsample!r}")
        if any(not 0 <= i < len(channels) for i in attention_levels):
            raise ConfigError(f"attention_levels={tuple(attention_levels)} must index channels "
                              f"(0..{len(channels) - 1})")
        if context_dim is not None and not (attention_levels or mid_attention):
            raise ConfigError("context_dim needs attention somewhere: set attention_levels or mid_attention=True")
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        self.num_classes = num_classes
        self.context_dim = context_dim
        emb_dim = 4 * channels[0]
        self.time_embed = TimeEmbedding(channels[0], emb_dim)
        self.class_embed = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        opts: dict[str, Any] = dict(context_dim=context_dim, heads=heads, groups=groups,
                                    time_embedding=time_embedding, dropout=dropout)

        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        skips, c = [channels[0]], channels[0]
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        for i, ch in enumerate(channels):
            self.down.append(_Level([c] + [ch] * (blocks_per_level - 1), ch, emb_dim,
                                    attention=i in attention_levels, **opts))
            c = ch
            skips += [ch] * blocks_per_level
            if i < len(channels) - 1:
                self.downsample.append(Downsample(ch))
                skips.append(ch)
        self.mid = _Level([c, c], c, emb_dim, attention=False, **opts)
        self.mid_attn = SelfAttention2d(c, heads=heads, groups=groups) if mid_attention else None
        self.mid_cross = CrossAttention2d(c, context_dim, heads=heads, groups=groups) if (
            mid_attention and context_dim) else None
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, ch in reversed(list(enumerate(channels))):
            ins = []
            for _ in range(blocks_per_level + 1):
                ins.append(c + skips.pop())
                c = ch
            self.up.append(_Level(ins, ch, emb_dim, attention=i in attention_levels, **opts))
            if i > 0:
                if upsample == "conv_resize":   # Saharia et al. 2022, app. B.1: convolve at the low resolution
                    self.upsample.append(Upsample(ch, channels[i - 1], conv_first=True))
                    c = channels[i - 1]
                else:
                    self.upsample.append(Upsample(ch))
        self.norm_out = GroupNorm(groups, c)
        self.conv_out = nn.Conv2d(c, self.out_channels, 3, padding=1)
        self.blocks_per_level = blocks_per_level
        self.channels_last = channels_last

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> UNet:
        """A U-Net of a named size from UNET_PRESETS, with keyword overrides."""
        if name not in UNET_PRESETS:
            raise ConfigError(f"unknown U-Net preset {name!r}; choose one of {sorted(UNET_PRESETS)}")
        return cls(**{**UNET_PRESETS[name], **overrides})

    def _embedding(self, x: Tensor, t: Tensor | float, y: Tensor | None) -> Tensor:
        t = batch_timesteps(t, x.shape[0], x.device)
        emb = self.time_embed(t)
        if self.class_embed is None or self.num_classes is None:   # class_embed exists iff num_classes
            if y is not None:
                raise ModelInputError("labels y given to a U-Net built without num_classes")
            return emb
        if y is None:
            y = torch.full((x.shape[0],), self.num_classes, dtype=torch.long, device=x.device)
        elif y.shape != (x.shape[0],) or y.dtype != torch.long or not bool(((y >= 0) & (y <= self.num_classes)).all()):
            raise ModelInputError(f"y must be int64 of shape ({x.shape[0]},) in 0..{self.num_classes} "
                                  f"({self.num_classes} = null class), got {y.dtype} {tuple(y.shape)}")
        return emb + self.class_embed(y)

    def forward(self, x: Tensor, t: Tensor | float, *, y: Tensor | None = None, context: Tensor | None = None,
                context_mask: Tensor | None = None) -> Tensor:
        """x: (B, C, H, W), t: (B,) or scalar timesteps, y: (B,) long, context: (B, L, D), mask: (B, L)
        -> (B, C_out, H, W)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[0] == 0:
            raise ModelInputError(f"U-Net expects x of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if context is not None and self.context_dim is None:
            raise ModelInputError("context given to a U-Net built without context_dim")
        emb = self._embedding(x, t, y)
        h = self.conv_in(x)
        if self.channels_last:   # every layer after this keeps the layout (with 1 channel, x cannot carry it)
            h = h.contiguous(memory_format=torch.channels_last)
        skips = [h]
        for i, level in enumerate(self.down):
            assert isinstance(level, _Level)
            for b in range(self.blocks_per_level):
                h = level.block(b, h, emb, context, context_mask)
                skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                skips.append(h)
        h = self.mid.blocks[0](h, emb)
        if self.mid_attn is not None:
            h = self.mid_attn(h)
        if self.mid_cross is not None and context is not None:
            h = self.mid_cross(h, context, context_mask)
        h = self.mid.blocks[1](h, emb)
        for i, level in enumerate(self.up):
            assert isinstance(level, _Level)
            for b in range(self.blocks_per_level + 1):
                h = level.block(b, torch.cat([h, skips.pop()], dim=1), emb, context, context_mask)
            if i < len(self.upsample):
                h = self.upsample[i](h, skips[-1].shape[2:])
        out = self.conv_out(nn.functional.silu(self.norm_out(h)))
        return out.contiguous() if self.channels_last else out
