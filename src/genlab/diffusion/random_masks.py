"""Random training masks for Palette-style inpainting (Saharia et al. 2022, sec. 4 and app. C.1).

Each item gets one of four kinds of hole, drawn with a fixed number of random numbers per item (one integer,
then 14 uniforms), so the masks come from the loop's global-batch randomness (BatchRandom) and data-parallel
processes draw the same masks a single process would:
  0 box     a rectangle with sides 25-60% of the image's, anywhere inside it
  1 half    the left, right, top or bottom half
  2 strokes a thick polyline through 4 random points (radius 7-12% of the side), rasterised by the distance
            of each pixel centre to its segments ("free-form" masks, as Palette's irregular masks)
  3 border  everything outside a central box of 40-70% of the side (uncropping)
Convention as in genlab.diffusion.masks: 1 = known, 0 = to fill.
"""
from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

MASK_KINDS: tuple[str, ...] = ("box", "half", "strokes", "border")
DRAWS = 14          # uniforms per item: box 0-3, half 4, border/stroke size 5, stroke points 6-13


class Random(Protocol):
    """What the masks need from genlab.training.objective.BatchRandom: (b, *shape) draws for this rank's rows."""

    def rand(self, *shape: int) -> Tensor: ...

    def randint(self, high: int, *shape: int) -> Tensor: ...


def _grid(height: int, width: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates in [0, 1]: y (1, H, 1) and x (1, 1, W)."""
    y = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    x = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    return y[None, :, None], x[None, None, :]


def box_holes(u: Tensor, y: Tensor, x: Tensor) -> Tensor:
    """Rectangles with sides 0.25-0.6 anywhere in the image: u (b, DRAWS) -> fill (b, H, W) bool."""
    h, w = 0.25 + 0.35 * u[:, 0, None, None], 0.25 + 0.35 * u[:, 1, None, None]
    top, left = u[:, 2, None, None] * (1 - h), u[:, 3, None, None] * (1 - w)
    return (y >= top) & (y < top + h) & (x >= left) & (x < left + w)


def half_holes(u: Tensor, y: Tensor, x: Tensor) -> Tensor:
    """The left, right, top or bottom half (u[:, 4] in quarters): fill (b, H, W) bool."""
    side = (u[:, 4] * 4).long().clamp(max=3)[:, None, None]
    return torch.where(side == 0, x < 0.5, torch.where(side == 1, x >= 0.5, torch.where(side == 2, y < 0.5, y >= 0.5)))


def stroke_holes(u: Tensor, y: Tensor, x: Tensor) -> Tensor:
    """A polyline through 4 points in [0.1, 0.9]^2 of radius 0.07-0.12: fill (b, H, W) bool."""
    points = 0.1 + 0.8 * u[:, 6:14].reshape(-1, 4, 2)                 # (b, 4, (y, x))
    a, d = points[:, :-1], points[:, 1:] - points[:, :-1]              # segment starts and directions (b, 3, 2)
    py, px = y[..., None] - a[:, None, None, :, 0], x[..., None] - a[:, None, None, :, 1]    # (b, H, W, 3)
    dy, dx = d[:, None, None, :, 0], d[:, None, None, :, 1]
    s = ((py * dy + px * dx) / (dy * dy + dx * dx).clamp_min(1e-12)).clamp(0, 1)      # nearest point on segment
    dist = ((py - s * dy) ** 2 + (px - s * dx) ** 2).min(dim=-1).values.sqrt()
    return dist < (0.07 + 0.05 * u[:, 5, None, None])


def border_holes(u: Tensor, y: Tensor, x: Tensor) -> Tensor:
    """Everything outside a central box of side 0.4-0.7 (uncropping): fill (b, H, W) bool."""
    half = (0.2 + 0.15 * u[:, 5])[:, None, None]
    return ((y - 0.5).abs() >= half) | ((x - 0.5).abs() >= half)


def random_masks(rng: Random, height: int, width: int) -> Tensor:
    """One random mask per item of the batch (box, half, strokes or border, equally likely): (b, 1, H, W) float."""
    kind = rng.randint(len(MASK_KINDS))
    u = rng.rand(DRAWS)
    y, x = _grid(height, width, u.device)
    holes = torch.stack([f(u, y, x) for f in (box_holes, half_holes, stroke_holes, border_holes)], dim=1)
    fill = holes.gather(1, kind.to(u.device)[:, None, None, None].expand(-1, 1, height, width))
    return (~fill).float()
