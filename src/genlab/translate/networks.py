"""Image-to-image networks: the pix2pix U-Net, the CycleGAN ResNet generator and the PatchGAN discriminator.

Generators map images (B, C_in, H, W) in [-1, 1] to (B, C_out, H, W) in [-1, 1] (tanh); the PatchGAN maps
(B, C, H, W) to a map of raw scores (B, 1, h, w), one per overlapping patch. Instance normalisation throughout:
the papers' batch norm at batch size 1 (Isola et al. 2017, sec. 3.3; Ulyanov et al. 2016).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.errors import ConfigError, ModelInputError

LEAK = 0.2        # LeakyReLU slope of the encoders and discriminators (Isola et al. 2017, sec. 6.1.1)


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


def unet_plan(size: int, depth: int) -> list[tuple[int, int]]:
    """(kernel, padding) of each stride-2 level from `size`: 4/1 halves an even side, 3/0 takes an odd one to
    (s - 3) // 2 + 1, and the transposed conv of the same (kernel, padding) restores it: 28 -> 14 -> 7 -> 3."""
    plan, s = [], size
    for _ in range(depth):
        if s < 2:
            raise ConfigError(f"a U-Net of depth {depth} does not fit {size}x{size} images; lower model.depth")
        k, p = (4, 1) if s % 2 == 0 else (3, 0)
        plan.append((k, p))
        s = (s + 2 * p - k) // 2 + 1
    return plan


class UNetGenerator(nn.Module):
    """Encoder-decoder with skips from each encoder level to its mirror (Isola et al. 2017, sec. 3.2.1, 6.1.1).

    Encoder C_w-C_2w-C_4w... (conv 4x4 stride 2, no norm on the first and the innermost, LeakyReLU 0.2); decoder
    of transposed convs with ReLU, dropout on its first three layers, each fed the concatenated skip.
    """

    def __init__(self, *, in_channels: int, out_channels: int, size: int, channels: int = 32, depth: int = 3,
                 dropout: float = 0.5) -> None:
        super().__init__()
        plan = unet_plan(size, depth)
        widths = [channels * min(2 ** i, 8) for i in range(depth)]
        self.down = nn.ModuleList()
        for i, (k, p) in enumerate(plan):
            conv = nn.Conv2d(in_channels if i == 0 else widths[i - 1], widths[i], k, 2, p)
            layers: list[nn.Module] = [conv] if i == 0 else [nn.LeakyReLU(LEAK), conv]
            if 0 < i < depth - 1:
                layers.append(_norm(widths[i]))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for j, i in enumerate(reversed(range(depth))):          # innermost first
            k, p = plan[i]
            c_in = widths[i] * (1 if i == depth - 1 else 2)
            if i == 0:
                self.up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(c_in, out_channels, k, 2, p), nn.Tanh()))
                continue
            layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, widths[i - 1], k, 2, p), _norm(widths[i - 1])]
            if j < 3 and dropout > 0:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.in_channels, self.size = in_channels, size

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C_in, size, size) -> (B, C_out, size, size) in [-1, 1]."""
        _check_input(x, self.in_channels, self.size, "the U-Net")
        skips = []
        h = x
        for down in self.down:
            h = down(h)
            skips.append(h)
        h = self.up[0](skips[-1])
        for up, skip in zip(self.up[1:], reversed(skips[:-1]), strict=True):
            h = up(torch.cat([h, skip], dim=1))
        return h


class ResidualBlock(nn.Module):
    """x + (reflect-pad, conv 3x3, norm, ReLU, reflect-pad, conv 3x3, norm)(x) (He et al. 2016; Johnson et al. 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(),
                                  nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> (B, C, H, W)."""
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-w, d2w, d4w, R4w x blocks, u2w, uw, c7s1-C_out, tanh (Zhu et al. 2017, sec. 7.2; Johnson et al. 2016)."""

    def __init__(self, *, in_channels: int, out_channels: int, channels: int = 16, blocks: int = 6) -> None:
        super().__init__()
        w = channels
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, w, 7), _norm(w), nn.ReLU()]
        for m in (1, 2):                                         # d2w, d4w: 3x3 stride 2
            layers += [nn.Conv2d(w * m, w * 2 * m, 3, 2, 1), _norm(w * 2 * m), nn.ReLU()]
        layers += [ResidualBlock(4 * w) for _ in range(blocks)]
        for m in (4, 2):                                         # u2w, uw: fractionally strided 3x3
            layers += [nn.ConvTranspose2d(w * m, w * m // 2, 3, 2, 1, output_padding=1), _norm(w * m // 2), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.in_channels = in_channels

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C_in, H, W), H and W divisible by 4 -> (B, C_out, H, W) in [-1, 1]."""
        _check_input(x, self.in_channels, None, "the ResNet generator")
        if x.shape[2] % 4 or x.shape[3] % 4:
            raise ModelInputError(f"the ResNet generator needs sides divisible by 4, got {tuple(x.shape[2:])}")
        return self.net(x)


def patch_layers(n_layers: int) -> list[tuple[int, int]]:
    """(kernel, stride) of the PatchGAN's convs: n_layers 4x4 stride-2 convs, then two 4x4 stride-1 convs."""
    return [(4, 2)] * n_layers + [(4, 1), (4, 1)]


def patch_receptive_field(n_layers: int) -> int:
    """Side of the input patch each output score sees: 70 for n_layers = 3 (the paper's 70x70), 16 for 1."""
    rf = 1
    for k, s in reversed(patch_layers(n_layers)):
        rf = (rf - 1) * s + k
    return rf


class PatchDiscriminator(nn.Module):
    """PatchGAN: a fully convolutional D scoring each receptive-field patch as real or fake (Isola et al. 2017,
    sec. 3.2.2): C_w-C_2w-... (4x4 stride 2, no norm on the first, LeakyReLU 0.2), a 4x4 stride-1 conv, a 4x4
    conv to one channel; padding 1 everywhere."""

    def __init__(self, *, in_channels: int, channels: int = 32, n_layers: int = 1) -> None:
        super().__init__()
        if n_layers < 1:
            raise ConfigError(f"a PatchGAN needs at least one stride-2 layer, got {n_layers}")
        widths = [channels * min(2 ** i, 8) for i in range(n_layers + 1)]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, 2, 1), nn.LeakyReLU(LEAK)]
        for i in range(1, n_layers + 1):
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(widths[i - 1], widths[i], 4, stride, 1), _norm(widths[i]), nn.LeakyReLU(LEAK)]
        layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        self.in_channels = in_channels

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> patch scores (B, 1, h, w), raw (logits or least-squares values)."""
        _check_input(x, self.in_channels, None, "the PatchGAN discriminator")
        return self.net(x)


def _check_input(x: Tensor, channels: int, size: int | None, what: str) -> None:
    if x.ndim != 4 or x.shape[1] != channels or (size is not None and tuple(x.shape[2:]) != (size, size)):
        want = f"(B, {channels}, {size}, {size})" if size is not None else f"(B, {channels}, H, W)"
        raise ModelInputError(f"{what} expects images {want}, got {tuple(x.shape)}")
