"""Multi-head self- and cross-attention over the pixels of a feature map
(Vaswani et al. 2017, eq. 1; Rombach et al. 2022, sec. 3.3)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genlab.nn.norm import GroupNorm
from genlab.errors import ConfigError, ModelInputError


def _heads(x: Tensor, heads: int) -> Tensor:
    """(B, N, C) -> (B, heads, N, C / heads) in float32.

    Attention runs in float32 even under bf16 autocast: softmax keeps its precision, and on CPU the bf16
    SDPA kernels are 3-5x slower than float32 ones at these sizes (64 x 4 heads x 49 tokens, fwd + bwd).
    """
    b, n, c = x.shape
    return x.float().view(b, n, heads, c // heads).transpose(1, 2)


def _merge(x: Tensor, dtype: torch.dtype) -> Tensor:
    """(B, heads, N, d) -> (B, N, heads * d) in `dtype`."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d).to(dtype)


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """softmax(q k^T / sqrt(d) + mask) v (Vaswani et al. 2017, eq. 1) in float32, outside autocast (which would
    cast back to bf16); q, k, v: (..., N, d), mask: bool (True = attend) or an additive float bias."""
    with torch.autocast(q.device.type, enabled=False):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _tokens(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, H*W, C); a view when x is channels-last."""
    return x.permute(0, 2, 3, 1).flatten(1, 2)


def _image(tokens: Tensor, like: Tensor) -> Tensor:
    """(B, H*W, C) -> (B, C, H, W) shaped like `like` (a channels-last view)."""
    b, c, h, w = like.shape
    return tokens.view(b, h, w, c).permute(0, 3, 1, 2)


class SelfAttention2d(nn.Module):
    """x + proj(softmax(q k^T / sqrt(d)) v) with q, k, v from GroupNorm(x) over the H*W positions (Vaswani eq. 1)."""

    def __init__(self, channels: int, *, heads: int, groups: int) -> None:
        super().__init__()
        if channels % heads:
            raise ConfigError(f"attention needs channels divisible by heads, got channels={channels}, heads={heads}")
        self.heads = heads
        self.norm = GroupNorm(groups, channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> (B, C, H, W)."""
        q, k, v = self.qkv(_tokens(self.norm(x))).chunk(3, dim=-1)
        out = attend(_heads(q, self.heads), _heads(k, self.heads), _heads(v, self.heads))
        return x + _image(self.proj(_merge(out, q.dtype)), x)


class CrossAttention2d(nn.Module):
    """x + proj(attention(q = GroupNorm(x), k = v = context)) with padded context keys masked out
    (Rombach et al. 2022, sec. 3.3)."""

    def __init__(self, channels: int, context_dim: int, *, heads: int, groups: int) -> None:
        super().__init__()
        if channels % heads:
            raise ConfigError(f"attention needs channels divisible by heads, got channels={channels}, heads={heads}")
        self.heads = heads
        self.context_dim = context_dim
        self.norm = GroupNorm(groups, channels)
        self.q = nn.Linear(channels, channels)
        self.kv = nn.Linear(context_dim, 2 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor | None = None) -> Tensor:
        """x: (B, C, H, W), context: (B, L, D), context_mask: (B, L) bool, True = attend -> (B, C, H, W)."""
        if context.ndim != 3 or context.shape[0] != x.shape[0] or context.shape[2] != self.context_dim:
            raise ModelInputError(f"context must be (B={x.shape[0]}, L, D={self.context_dim}), "
                                  f"got {tuple(context.shape)}")
        mask = None
        if context_mask is not None:
            if context_mask.shape != context.shape[:2] or context_mask.dtype != torch.bool:
                raise ModelInputError(f"context_mask must be bool of shape {tuple(context.shape[:2])}, "
                                      f"got {context_mask.dtype} {tuple(context_mask.shape)}")
            if not bool(context_mask.any(dim=1).all()):
                raise ModelInputError("context_mask leaves some item with no key to attend to; "
                                      "keep at least one per row")
            mask = context_mask[:, None, None, :]
        q = _heads(self.q(_tokens(self.norm(x))), self.heads)
        k, v = self.kv(context).chunk(2, dim=-1)
        out = attend(q, _heads(k, self.heads), _heads(v, self.heads), mask)
        return x + _image(self.proj(_merge(out, q.dtype)), x)
