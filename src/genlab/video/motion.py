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


def border_mean(frames: Tensor) -> Tensor:
    """The mean of each channel over the frame's border pixels, each counted once: frames (N, C, H, W) -> (N, C)."""
    border = torch.cat([frames[:, :, 0], frames[:, :, -1], frames[:, :, 1:-1, 0], frames[:, :, 1:-1, -1]], dim=2)
    return border.mean(dim=2)


def translate(frames: Tensor, shift: Tensor) -> Tensor:
    """frames (N, C, H, W) moved by integer shifts (N, 2) = (dy, dx): out(y, x) = in(y - dy, x - dx), the pixels
    moved in from outside set to the mean of the frame's border (the background of a digit on a plain ground)."""
    n, c, h, w = frames.shape
    ys = torch.arange(h, device=frames.device)[None] - shift[:, :1]                 # (N, H) source rows
    xs = torch.arange(w, device=frames.device)[None] - shift[:, 1:]                 # (N, W) source columns
    inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]   # (N, H, W)
    rows = frames.gather(2, ys.clamp(0, h - 1)[:, None, :, None].expand(n, c, h, w))
    moved = rows.gather(3, xs.clamp(0, w - 1)[:, None, None, :].expand(n, c, h, w))
    return torch.where(inside[:, None], moved, border_mean(frames)[:, :, None, None])


def nearest_given_frames(clips: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For each frame of clips (B, T, C, H, W), mask (B, T): the nearest given frame, flattened (B*T, C, H, W),
    its index (B, T) and whether the clip has a given frame (B, T) (genlab.video.network.nearest_given_index)."""
    b, frames = mask.shape
    rows = torch.arange(b, device=mask.device)[:, None].expand(b, frames)
    nearest, some = nearest_given_index(mask)
    return clips[rows, nearest].flatten(0, 1), nearest, some


def content_box(frames: Tensor) -> tuple[Tensor, Tensor]:
    """The first and last (row, column) (N, 2) where frames (N, C, H, W) stand out from their border's mean by
    more than half their peak contrast: the box of a digit on a plain ground; the whole frame where nothing does."""
    plane = frames.float().sum(dim=1)                                              # (N, H, W)
    ground = border_mean(plane[:, None])[:, 0]
    contrast = (plane - ground[:, None, None]).abs()
    on = contrast > 0.5 * contrast.flatten(1).amax(dim=1).clamp(min=1e-6)[:, None, None]
    lo, hi = [], []
    for lines in (on.any(dim=2), on.any(dim=1)):                                   # rows (N, H), columns (N, W)
        index = torch.arange(lines.shape[1], device=frames.device).expand_as(lines)
        blank = ~lines.any(dim=1)
        lo.append(torch.where(blank, 0, torch.where(lines, index, lines.shape[1]).amin(dim=1)))
        hi.append(torch.where(blank, lines.shape[1] - 1, torch.where(lines, index, -1).amax(dim=1)))
    return torch.stack(lo, dim=1), torch.stack(hi, dim=1)


def bounced(shift: Tensor, frames: Tensor) -> Tensor:
    """Shifts (N, 2) float of frames (N, C, H, W), folded so that the content box stays in the frame: a box that
    would cross an edge is reflected off it, as Moving MNIST's digits bounce off the walls (Srivastava et al. 2015,
    sec. 3); unchanged where the box fills the frame."""
    lo, hi = content_box(frames)
    room = torch.tensor(frames.shape[-2:], device=shift.device) - (hi - lo + 1)        # (N, 2) free space
    span = (2 * room).clamp(min=1).float()
    place = torch.remainder(lo + shift, span)                                       # unfolded corner, period 2 room
    place = torch.where(place > room, span - place, place)
    return torch.where(room > 0, place - lo, shift)


def motion_reference(clips: Tensor, mask: Tensor, *, bounce: bool = False) -> Tensor:
    """Each frame's reference (B, T, C, H, W) from the given frames of clips (B, T, C, H, W), mask (B, T): the
    nearest given frame j moved by (i - j) times the per-frame translation between j and the given frame nearest
    to it (rounded); unmoved when one frame is given, the given frames themselves, zeros with none given.
    `bounce`: the moved content reflects off the frame's edges instead of leaving it (`bounced`)."""
    b, frames = mask.shape
    base, nearest, some = nearest_given_frames(clips, mask)
    second, has_second = nearest_given_index(mask, exclude=nearest)
    second = torch.where(has_second, second, nearest)
    rows = torch.arange(b, device=mask.device)[:, None].expand(b, frames)
    shift = translation(clips[rows, second].flatten(0, 1), base).view(b, frames, 2)
    span = (nearest - second).float()[..., None]                                   # (B, T, 1): j - j2
    velocity = torch.where(span != 0, shift / span, 0.0)                           # 0 / 0 where j has no partner
    steps = (torch.arange(frames, device=mask.device)[None] - nearest).float()       # (B, T): i - j
    shift = (velocity * steps[..., None]).flatten(0, 1)                             # (B*T, 2) float
    moved = translate(base, (bounced(shift, base) if bounce else shift).round().long())
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
