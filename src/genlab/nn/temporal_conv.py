"""A 1-D convolution across the frames of a clip, per pixel (the temporal convolutions that factorised space-time
video networks put after their 2-D ones, as in Imagen Video, Ho et al. 2022b)."""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from genlab.nn.norm import GroupNorm
from genlab.nn.temporal_attention import check_still


class TemporalConv(nn.Module):
    """h + conv_t(SiLU(GroupNorm(h))), conv_t a kernel-3 convolution over T with zero padding at the clip ends.

    conv_t starts at zero, so a fresh block is the identity (a still image is unaffected); rows with
    `still[b]` True keep h as it is, so joint image-video training sees independent frames (Ho et al. 2022).
    """

    def __init__(self, channels: int, *, groups: int, kernel: int = 3) -> None:
        super().__init__()
        self.norm = GroupNorm(groups, channels)
        self.conv = nn.Conv3d(channels, channels, (kernel, 1, 1), padding=(kernel // 2, 0, 0))
        for weight in self.conv.parameters():
            nn.init.zeros_(weight)

    def forward(self, h: Tensor, frames: int, still: Tensor | None = None) -> Tensor:
        """h: (B*T, C, H, W) frames of B clips in order; still: (B,) bool -> (B*T, C, H, W)."""
        bt, c, hh, ww = h.shape
        b = bt // frames
        clips = F.silu(self.norm(h)).view(b, frames, c, hh, ww).transpose(1, 2)       # (B, C, T, H, W)
        out = self.conv(clips).transpose(1, 2)                                       # (B, T, C, H, W)
        if still is not None:
            check_still(still, b)
            out = out * (~still).to(out.dtype)[:, None, None, None, None]
        return h + out.reshape(bt, c, hh, ww)
