"""A motion-compensated reference for the frames not given: the nearest given frame moved by the global
translation the given frames show, measured by phase correlation (Kuglin & Hines 1975), as global motion
compensation predicts a frame in video coding. Fed to the network (video.motion), it hands each unknown frame
the given digit's shape where the motion says it goes, instead of leaving the network to learn to move a shape.
"""
from __future__ import annotations

import torch
from torch import Tensor

from genlab.video.network import nearest_given_index


def translation(a: Tensor, b: Tensor) -> Tensor:
    """The integer shift (dy, dx) that best maps frame a onto frame b, b(y, x) ~ a(y - dy, x - dx), by phase
    correlation (Kuglin & Hines 1975): a, b (N, C, H, W) -> (N, 2) long, each in [-H/2, H/2) x [-W/2, W/2)."""
    h, w = a.shape[-2:]

    def spectrum(x: Tensor) -> Tensor:                                  # of the channel sum, mean removed
        plane = x.float().sum(dim=1)
        return torch.fft.rfft2(plane - plane.mean(dim=(1, 2), keepdim=True))

    cross = spectrum(b) * spectrum(a).conj()
    peak = torch.fft.irfft2(cross / cross.abs().clamp(min=1e-6), s=(h, w)).flatten(1).argmax(dim=1)
    dy, dx = peak // w, peak % w
    return torch.stack([torch.where(dy >= (h + 1) // 2, dy - h, dy), torch.where(dx >= (w + 1) // 2, dx - w, dx)], 1)


def translate(frames: Tensor, shift: Tensor) -> Tensor:
    """frames (N, C, H, W) moved by integer shifts (N, 2) = (dy, dx): out(y, x) = in(y - dy, x - dx), the pixels
    moved in from outside set to the mean of the frame's border (the background of a digit on a plain ground)."""
    n, c, h, w = frames.shape
    ys = torch.arange(h, device=frames.device)[None] - shift[:, :1]                 # (N, H) source rows
    xs = torch.arange(w, device=frames.device)[None] - shift[:, 1:]                 # (N, W) source columns
    inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]   # (N, H, W)
    rows = frames.gather(2, ys.clamp(0, h - 1)[:, None, :, None].expand(n, c, h, w))
    moved = rows.gather(3, xs.clamp(0, w - 1)[:, None, None, :].expand(n, c, h, w))
    border = torch.cat([frames[:, :, 0], frames[:, :, -1], frames[:, :, 1:-1, 0], frames[:, :, 1:-1, -1]], dim=2)
    return torch.where(inside[:, None], moved, border.mean(dim=2)[:, :, None, None])


def nearest_given_frames(clips: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For each frame of clips (B, T, C, H, W), mask (B, T): the nearest given frame, flattened (B*T, C, H, W),
    its index (B, T) and whether the clip has a given frame (B, T) (genlab.video.network.nearest_given_index)."""
    b, frames = mask.shape
    rows = torch.arange(b, device=mask.device)[:, None].expand(b, frames)
    nearest, some = nearest_given_index(mask)
    return clips[rows, nearest].flatten(0, 1), nearest, some


def motion_reference(clips: Tensor, mask: Tensor) -> Tensor:
    """Each frame's reference (B, T, C, H, W) from the given frames of clips (B, T, C, H, W), mask (B, T): the
    nearest given frame j moved by (i - j) times the per-frame translation between j and the given frame nearest
    to it (rounded); unmoved when one frame is given, the given frames themselves, zeros with none given."""
    b, frames = mask.shape
    base, nearest, some = nearest_given_frames(clips, mask)
    second, has_second = nearest_given_index(mask, exclude=nearest)
    second = torch.where(has_second, second, nearest)
    rows = torch.arange(b, device=mask.device)[:, None].expand(b, frames)
    shift = translation(clips[rows, second].flatten(0, 1), base).view(b, frames, 2)
    span = (nearest - second).float()[..., None]                                   # (B, T, 1): j - j2
    velocity = torch.where(span != 0, shift / span, 0.0)                           # 0 / 0 where j has no partner
    steps = (torch.arange(frames, device=mask.device)[None] - nearest).float()       # (B, T): i - j
    moved = translate(base, (velocity * steps[..., None]).round().long().flatten(0, 1))
    return torch.where(some[:, :, None, None, None], moved.view_as(clips), torch.zeros_like(clips))


def aligned_reference(clips: Tensor, mask: Tensor, estimate: Tensor) -> Tensor:
    """Each frame's reference (B, T, C, H, W): the nearest given frame of clips (B, T, C, H, W), mask (B, T), moved
    onto where `estimate` (B, T, C, H, W; a sampler's current x0 in pixels) has frame i, by phase correlation;
    the given frames themselves, zeros with none given. Where the estimate has the digit in the right place, the
    reference is the given shape there, through bounces and rounding that an extrapolated motion misses."""
    base, _, some = nearest_given_frames(clips, mask)
    shift = translation(base, estimate.flatten(0, 1))
    shift = torch.where(mask.flatten()[:, None], torch.zeros_like(shift), shift)   # given frames stay put
    moved = translate(base, shift).view_as(clips)
    return torch.where(some[:, :, None, None, None], moved, torch.zeros_like(clips))
