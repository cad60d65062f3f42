"""Study: pictures for docs/latent.md: the guidance trade-off plot and sample grids of conditional runs."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from genlab.training.run import Run
from genlab.viz import save_strip


def plot_guidance(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Share classified as the asked digit (left axis) and classifier Frechet distance (right) against w."""
    w = [r["w"] for r in rows]
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    ax.plot(w, [100 * r["share_asked"] for r in rows], "o-", color="C0", label="classified as asked (%)")
    ax.set(xlabel="guidance scale w", ylabel="classified as the asked digit (%)", title=title)
    ax.grid(True, alpha=0.3)
    right = ax.twinx()
    right.plot(w, [r["frechet"] for r in rows], "s--", color="C3", label="Frechet distance")
    right.set_ylabel("classifier Frechet distance")
    lines = ax.get_lines() + right.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="center right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path


@torch.no_grad()
def guidance_grid(run: Run, scales: Sequence[float], path: str | os.PathLike[str], *, per_digit: int = 1,
                  steps: int = 25, seed: int = 0) -> Path:
    """One row per w, digits 0..9 left to right, the same noise in every row: what guidance changes."""
    labels = torch.arange(10).repeat_interleave(per_digit)
    rows = [run.sample(len(labels), seed=seed, label=labels, guidance=w, steps=steps) for w in scales]
    return save_strip(rows, path, scale=2)


@torch.no_grad()
def prompt_grid(run: Run, prompts: Sequence[str], path: str | os.PathLike[str], *, per_prompt: int = 8,
                guidance: float = 3.0, steps: int = 25, seed: int = 0) -> Path:
    """One row of samples per prompt."""
    rows = [run.sample(per_prompt, seed=seed, prompt=p, guidance=guidance, steps=steps) for p in prompts]
    return save_strip(rows, path, scale=2)


@torch.no_grad()
def superres_strip(run: Run, images: torch.Tensor, path: str | os.PathLike[str], *, steps: int = 25,
                   seed: int = 0) -> Path:
    """Rows: the low-resolution input (nearest), bicubic upsampling, the model's samples, the originals (in [-1, 1])."""
    from genlab.diffusion.conditioning import downsample_images, upsample_images

    size = tuple(images.shape[2:])
    low = downsample_images(images, run.family.config.condition.low_res)
    sr = run.sample(len(images), seed=seed, low_res=low, steps=steps)
    rows = [upsample_images(low, size, mode="nearest"), upsample_images(low, size).clamp(-1, 1), sr, images]
    return save_strip(rows, path, scale=2)
