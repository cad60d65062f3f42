"""Down- and up-sampling between U-Net levels; up-sampling takes the skip's size so odd sizes (7 -> 4 -> 7) round-trip."""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class Downsample(nn.Module):
    """3x3 convolution with stride 2 and padding 1: H -> ceil(H / 2) (Ho et al. 2020, app. B)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2))."""
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour resize to a given size, then a 3x3 convolution (Ho et al. 2020, app. B)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """x: (B, C, h, w) -> (B, C, *size)."""
        if size[0] == 2 * x.shape[2] and size[1] == 2 * x.shape[3]:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            x = F.interpolate(x, size=size, mode="nearest")
        return self.conv(x)
