"""Down- and up-sampling between U-Net levels; up-sampling takes the skip's size so odd sizes (7 -> 4 -> 7)
round-trip."""
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


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Nearest-neighbour resize of (B, C, h, w) to (B, C, *size); the exact 2x case takes the faster kernel."""
    if size[0] == 2 * x.shape[2] and size[1] == 2 * x.shape[3]:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")
    return F.interpolate(x, size=size, mode="nearest")


class Upsample(nn.Module):
    """Resize then 3x3 convolution (Ho et al. 2020, app. B), or convolution then resize (Saharia et al. 2022, app. B.1).

    `conv_first=True` is the "Efficient U-Net" order of Imagen: a quarter of the FLOPs for the same weights;
    `out_channels` (default: `channels`) lets that convolution also narrow to the next level's width.
    """

    def __init__(self, channels: int, out_channels: int | None = None, *, conv_first: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)
        self.conv_first = conv_first

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """x: (B, C, h, w) -> (B, C_out, *size)."""
        if self.conv_first:
            return _resize(self.conv(x), size)
        return self.conv(_resize(x, size))
