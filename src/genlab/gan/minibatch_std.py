"""The minibatch standard deviation feature (Karras et al. 2018, sec. 3), added before a discriminator's last layer.

The std of every feature over the batch, averaged into one number, is appended to each item as one more
feature (vectors) or one more constant channel (feature maps). D then sees how varied a batch is, and a
generator that collapses to few modes gives batches of low spread that D can reject. With PacGAN packing the
batch is one of packed inputs, so the statistic is over the groups of m samples D sees.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

EPS = 1e-8


class MinibatchStd(nn.Module):
    """(B, C, ...) -> (B, C + 1, ...): append mean_c,... sqrt(Var_batch[x] + eps) as one more feature or channel."""

    def forward(self, x: Tensor) -> Tensor:
        std = torch.sqrt(x.var(dim=0, unbiased=False) + EPS).mean()
        extra = std.expand(x.shape[0], 1, *x.shape[2:]).to(x.dtype)
        return torch.cat([x, extra], dim=1)


def with_minibatch_std(layer: nn.Module) -> nn.Sequential:
    """The discriminator's last layer (nn.Linear or nn.Conv2d) widened by one input, after a MinibatchStd."""
    if isinstance(layer, nn.Linear):
        new: nn.Module = nn.Linear(layer.in_features + 1, layer.out_features)
    elif isinstance(layer, nn.Conv2d):
        if layer.groups != 1 or layer.dilation != (1, 1) or not isinstance(layer.padding, tuple):
            raise TypeError("minibatch std goes before a plain conv (groups 1, dilation 1, numeric padding)")
        (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
        conv = nn.Conv2d(layer.in_channels + 1, layer.out_channels, (kh, kw), (sh, sw), (ph, pw))
        nn.init.normal_(conv.weight, 0.0, 0.02)         # the DCGAN initialisation of the layer it replaces
        nn.init.zeros_(conv.bias)   # type: ignore[arg-type]   # bias=True above
        new = conv
    else:
        raise TypeError(f"minibatch std goes before an nn.Linear or nn.Conv2d score layer, got {type(layer).__name__}")
    return nn.Sequential(MinibatchStd(), new)
