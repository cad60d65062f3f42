"""The `vdm` run's network: the space-time U-Net, fed the given frames and their mask when trained with them."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.errors import ConfigError, ModelInputError
from genlab.nn.content_encoder import ContentEncoder
from genlab.nn.video_unet import VideoUNet
from genlab.video.config import VideoNetConfig


class FrameMaskedNet(nn.Module):
    """net(x_t, t, known, mask, still): clean `known` frames replace x_t where mask[b, f] (Harvey et al. 2022,
    sec. 3), and a constant mask plane per frame says which; `given_at_zero` also embeds step 0 for the given
    frames (a noise level per frame, as in Chen et al. 2024); `reference` also gives every frame the nearest given
    frame and its time offset as input channels. Without a mask channel it is the plain U-Net."""

    def __init__(self, cfg: VideoNetConfig, *, shape: tuple[int, ...], mask_channel: bool,
                 given_at_zero: bool = False, reference: bool = False, content: bool = False,
                 motion: bool = False) -> None:
        super().__init__()
        frames, channels = shape[0], shape[1]
        for key, on in (("reference", reference), ("content", content)):
            if on and not mask_channel:
                raise ConfigError(f"video.{key} needs frame masks to train with (video.mask_prob > 0)")
        if motion and not reference:
            raise ConfigError("video.motion moves the reference frame: it needs video.reference = true")
        self.shape, self.mask_channel, self.given_at_zero = tuple(shape), mask_channel, given_at_zero
        self.reference, self.motion = reference, motion
        extra = int(mask_channel) + (channels + 1) * int(reference)
        self.unet = VideoUNet(in_channels=channels + extra, out_channels=channels,
                              channels=cfg.channels, attention_levels=cfg.attention_levels,
                              temporal_levels=cfg.temporal_levels, temporal_conv=cfg.temporal_conv, heads=cfg.heads,
                              groups=cfg.groups, max_frames=frames, temporal_attention=cfg.temporal_attention,
                              frame_size=(shape[2], shape[3]))
        self.content = ContentEncoder(channels, self.unet.emb_dim) if content else None

    def forward(self, x_t: Tensor, t: Tensor | float, known: Tensor | None = None, mask: Tensor | None = None,
                still: Tensor | None = None, *, moved: Tensor | None = None) -> Tensor:
        """x_t, known: (B, T, C, H, W); mask: (B, T) bool, True = frame given; still: (B,) bool -> (B, T, C, H, W).
        moved (B, T, C, H, W): with video.motion, the reference frames moved by the given frames' motion
        (genlab.video.motion.motion_reference, encoded as the frames are)."""
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
        known = known.to(x_t.dtype)
        given = mask[:, :, None, None, None]
        x_in = torch.where(given, known, x_t)
        planes = [x_in, given.to(x_t.dtype).expand(*x_t.shape[:2], 1, *x_t.shape[3:])]
        if self.reference:
            frame, offset = nearest_given(known, mask)
            if self.motion:
                if moved is None and bool(mask.any()):
                    raise ModelInputError("this run feeds motion-compensated reference frames (video.motion): "
                                          "pass moved= (VideoDiffusionFamily.moved_reference)")
                some = mask.any(dim=1)[:, None, None, None, None]
                frame = torch.where(some, moved.to(x_t.dtype), 0.0) if moved is not None else frame
            planes += [frame, offset[:, :, None, None, None].to(x_t.dtype).expand_as(planes[1])]
        if self.given_at_zero:      # a noise level per frame, 0 for the clean given ones (Chen et al. 2024)
            steps = torch.as_tensor(t, device=x_t.device)
            steps = (steps[:, None] if steps.ndim == 1 else steps).expand(mask.shape)
            t = torch.where(mask, torch.zeros_like(steps), steps)
        code = None if self.content is None else self.content(known, mask)
        return self.unet(torch.cat(planes, dim=2), t, still=still, code=code)


def nearest_given(known: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """For each frame i the given frame j nearest in time (the earlier on ties) and (i - j) / T: known (B, T, ...),
    mask (B, T) -> ((B, T, ...), (B, T)); zeros in rows with no given frame. The conditioning frames fed as input
    channels, as MCVD does (Voleti et al. 2022, sec. 3), here one per frame so that any subset can be given."""
    frames = mask.shape[1]
    position = torch.arange(frames, device=mask.device)
    nearest, _ = nearest_given_index(mask)                               # (B, T)
    some = mask.any(dim=1, keepdim=True)
    index = nearest.view(*nearest.shape, *([1] * (known.ndim - 2))).expand_as(known)
    frame = torch.where(some.view(*some.shape, *([1] * (known.ndim - 2))), known.gather(1, index),
                        torch.zeros_like(known))
    offset = torch.where(some, (position - nearest).to(known.dtype) / frames, torch.zeros_like(known[:, :, 0, 0, 0]))
    return frame, offset


def nearest_given_index(mask: Tensor, exclude: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """For each frame i of mask (B, T) bool, the given frame j nearest in time, the earlier on ties, and whether
    there is one: ((B, T) long, (B, T) bool). `exclude` (B, T) long: a frame per position that may not be chosen."""
    frames = mask.shape[1]
    position = torch.arange(frames, device=mask.device)
    gap = position[:, None] - position[None, :]                                     # (T, T): i - j
    allowed = mask[:, None, :].expand(-1, frames, -1)                               # (B, T_i, T_j)
    if exclude is not None:
        allowed = allowed & (position[None, None, :] != exclude[:, :, None])
    cost = torch.where(allowed, 2 * gap.abs() + (gap < 0).long(), 4 * frames)
    return cost.argmin(dim=2), allowed.any(dim=2)
