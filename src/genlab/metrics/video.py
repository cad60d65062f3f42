"""Offline video metrics for digit clips: per-frame classifier Frechet distance, identity consistency along a clip,
and continuation error against the true future (FVD's I3D network cannot be fetched here; Unterthiner et al. 2018).

Frames are read through genlab's MNIST classifier (genlab.metrics.classifier) on digit crops: a square of
`crop` pixels around each frame's centre of mass, resized to 28x28, which undoes Moving MNIST's shrinking of a
centred MNIST digit (one digit per clip).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from genlab.errors import ModelInputError
from genlab.metrics.classifier import MnistClassifier
from genlab.metrics.frechet import frechet_distance


def digit_crops(frames: Tensor, *, crop: int = 16) -> Tensor:
    """Frames (N, 1, H, W) in [-1, 1] -> (N, 1, 28, 28) in [-1, 1]: a crop x crop square centred on each frame's
    centre of mass (clamped into the frame; an empty frame's centre), resized bilinearly."""
    if frames.ndim != 4 or frames.shape[1] != 1:
        raise ModelInputError(f"digit crops need grey frames (N, 1, H, W), got {tuple(frames.shape)}")
    n, _, h, w = frames.shape
    if not 1 <= crop <= min(h, w):
        raise ModelInputError(f"crop must be between 1 and {min(h, w)} pixels, got {crop}")
    mass = (frames[:, 0].float() + 1.0).clamp(min=0) / 2                        # (N, H, W) in [0, 1]
    total = mass.sum(dim=(1, 2)).clamp(min=1e-8)
    rows = (mass.sum(dim=2) * torch.arange(h)).sum(dim=1) / total
    cols = (mass.sum(dim=1) * torch.arange(w)).sum(dim=1) / total
    empty = mass.sum(dim=(1, 2)) < 1e-8
    rows, cols = torch.where(empty, (h - 1) / 2, rows), torch.where(empty, (w - 1) / 2, cols)
    top = (rows - (crop - 1) / 2).round().long().clamp(0, h - crop)
    left = (cols - (crop - 1) / 2).round().long().clamp(0, w - crop)
    idx = torch.arange(crop)
    r = (top[:, None] + idx)[:, :, None].expand(n, crop, crop)
    c = (left[:, None] + idx)[:, None, :].expand(n, crop, crop)
    squares = frames[torch.arange(n)[:, None, None], 0, r, c][:, None].float()
    return F.interpolate(squares, size=(28, 28), mode="bilinear", align_corners=False).clamp(-1, 1)


@torch.no_grad()
def clip_features(classifier: MnistClassifier, clips: Tensor, *, crop: int = 16, batch_size: int = 512,
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """(features (N, T, 128), labels (N, T), top softmax probabilities (N, T)) of the digit crops of clips
    (N, T, 1, H, W) in [-1, 1]."""
    if clips.ndim != 5:
        raise ModelInputError(f"clips must be (N, T, 1, H, W), got {tuple(clips.shape)}")
    n, frames = clips.shape[:2]
    feats, probs = [], []
    for chunk in clips.flatten(0, 1).split(batch_size):
        f = classifier.features(digit_crops(chunk, crop=crop))
        feats.append(f)
        probs.append(classifier.head(f).softmax(dim=1))
    top, labels = torch.cat(probs).max(dim=1)
    return torch.cat(feats).view(n, frames, -1), labels.view(n, frames), top.view(n, frames)


def label_spread(labels: Tensor) -> dict[str, float]:
    """How the clips' labels (N, T) spread over classes: the share of the commonest first-frame label (1.0 when
    every clip reads as one class, as noise often does) and the number of classes seen."""
    first = labels[:, 0]
    counts = torch.bincount(first, minlength=10)
    return {"top_label_share": float(counts.max()) / len(first), "classes_seen": int((counts > 0).sum())}


def per_frame_frechet(real: Tensor, fake: Tensor) -> list[float]:
    """Frechet distance between real and generated features at each frame index f: real (N, T, d), fake (M, T, d)."""
    if real.shape[1:] != fake.shape[1:]:
        raise ModelInputError(f"feature shapes differ: {tuple(real.shape[1:])} vs {tuple(fake.shape[1:])}")
    out = []
    for f in range(real.shape[1]):
        a, b = real[:, f].double().numpy(), fake[:, f].double().numpy()
        out.append(frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)))
    return out


def identity_consistency(labels: Tensor) -> float:
    """Fraction of clips whose classifier label is the same on every frame: labels (N, T)."""
    return float((labels == labels[:, :1]).all(dim=1).float().mean())


def continuation_error(predicted: Tensor, future: Tensor, last_given: Tensor) -> dict[str, float]:
    """Mean squared error (pixels in [-1, 1]) of predicted frames against the true future, and of copying the last
    given frame: predicted, future (N, F, C, H, W), last_given (N, C, H, W)."""
    if predicted.shape != future.shape or last_given.shape != future.shape[:1] + future.shape[2:]:
        raise ModelInputError(f"predicted {tuple(predicted.shape)}, future {tuple(future.shape)} and last given "
                              f"frame {tuple(last_given.shape)} do not match")
    model = (predicted.float() - future.float()).pow(2).mean().item()
    copy = (last_given[:, None].float() - future.float()).pow(2).mean().item()
    return {"mse": model, "mse_copy_last": copy}
