"""The `vdm` run's network: the space-time U-Net, fed the given frames and their mask when trained with them."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.errors import ModelInputError
from genlab.nn.video_unet import VideoUNet
from genlab.video.config import VideoNetConfig


class FrameMaskedNet(nn.Module):
    """net(x_t, t, known, mask, still): clean `known` frames replace x_t where mask[b, f] (Harvey et al. 2022,
    sec. 3), and a constant mask plane per frame says which; `given_at_zero` also embeds step 0 for the given
    frames (a noise level per frame, as in Chen et al. 2024). Without a mask channel it is the plain U-Net."""

    def __init__(self, cfg: VideoNetConfig, *, shape: tuple[int, ...], mask_channel: bool,
                 given_at_zero: bool = False) -> None:
        super().__init__()
        frames, channels = shape[0], shape[1]
        self.shape, self.mask_channel, self.given_at_zero = tuple(shape), mask_channel, given_at_zero
        self.unet = VideoUNet(in_channels=channels + int(mask_channel), out_channels=channels,
                              channels=cfg.channels, attention_levels=cfg.attention_levels,
                              temporal_levels=cfg.temporal_levels, temporal_conv=cfg.temporal_conv, heads=cfg.heads,
                              groups=cfg.groups, max_frames=frames, temporal_attention=cfg.temporal_attention,
                              frame_size=(shape[2], shape[3]))

    def forward(self, x_t: Tensor, t: Tensor | float, known: Tensor | None = None, mask: Tensor | None = None,
                still: Tensor | None = None) -> Tensor:
        """x_t, known: (B, T, C, H, W); mask: (B, T) bool, True = frame given; still: (B,) bool -> (B, T, C, H, W)."""
        if x_t.ndim != 5 or tuple(x_t.shape[1:]) != self.shape:
            raise ModelInputError(f"clips of shape {tuple(x_t.shape[1:])} given to a model of clips {self.shape} "
                                  "(T, C, H, W)")
        if not self.mask_channel:
            if mask is not None and bool(mask.any()):
                raise ModelInputError("this run was trained without frame masks (video.mask_prob = 0): condition "
                                      "it on given frames by reconstruction guidance instead")
            return self.unet(x_t, t, still=still)
        if mask is None or known is None:
            mask = torch.zeros(x_t.shape[:2], dtype=torch.bool, device=x_t.device)
            known = x_t
        given = mask[:, :, None, None, None]
        x_in = torch.where(given, known.to(x_t.dtype), x_t)
        plane = given.to(x_t.dtype).expand(*x_t.shape[:2], 1, *x_t.shape[3:])
        if self.given_at_zero:      # a noise level per frame, 0 for the clean given ones (Chen et al. 2024)
            steps = torch.as_tensor(t, device=x_t.device)
            steps = (steps[:, None] if steps.ndim == 1 else steps).expand(mask.shape)
            t = torch.where(mask, torch.zeros_like(steps), steps)
        return self.unet(torch.cat([x_in, plane], dim=2), t, still=still)
