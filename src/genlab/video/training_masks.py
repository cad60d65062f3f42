"""What a training batch of clips is turned into: still-image rows (Ho et al. 2022, sec. 3) and frame masks
(Harvey et al. 2022, sec. 3), all drawn from the loop's batch randomness."""
from __future__ import annotations

import torch
from torch import Tensor

from genlab.training.objective import BatchRandom


def still_rows(x0: Tensor, rng: BatchRandom, fraction: float) -> tuple[Tensor, Tensor]:
    """(x0 with a `fraction` of its rows replaced by T independent frames of random clips and times, still (B,)).

    x0: (B, T, C, H, W). Each frame of a still row comes from a random row and frame of the batch, so its
    frames are independent images, as the image batches concatenated to videos in Ho et al. 2022.
    """
    b, frames = x0.shape[:2]
    still = rng.rand() < fraction
    rows, times = rng.randint(b, frames), rng.randint(frames, frames)   # drawn always: the stream stays the same
    if not bool(still.any()):                                        # video-only training: no copy of the batch
        return x0, still
    images = x0[rows, times]                                         # (B, T, C, H, W) of independent frames
    return torch.where(still[:, None, None, None, None], images, x0), still


def frame_masks(rng: BatchRandom, frames: int, prob: float, *, still: Tensor) -> Tensor:
    """Given frames (B, T) bool: with probability `prob` a video row gets k ~ U{1..T-1} given frames, the first
    k (continuation) or a random k (infilling), each half of the time; other rows and still rows get none."""
    cond = (rng.rand() < prob) & ~still
    k = rng.randint(max(frames - 1, 1)) + 1                         # (B,) in 1..T-1
    prefix = rng.rand() < 0.5
    order = rng.rand(frames).argsort(dim=1).argsort(dim=1)          # a random rank of each frame
    position = torch.arange(frames, device=k.device).expand(len(k), frames)
    given = torch.where(prefix[:, None], position, order) < k[:, None]
    return given & cond[:, None] & (frames > 1)
