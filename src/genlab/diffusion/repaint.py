"""Inpainting with an unconditional diffusion model: replacement and RePaint's resampling (Lugmayr et al. 2022).

Each reverse step draws the unknown pixels from the model's ancestral step p(x_{t-1} | x_t) and the known
pixels from the forward process q(x_{t-1} | x_0 = known), and joins them by the mask (RePaint, eq. 8; with no
resampling this is the "replacement" method of Song et al. 2021, app. I). RePaint then jumps back: from the
state at visited step t_k it re-noises the whole image to the step jump_length steps up, in one draw of
q(x_{t_{k-j}} | x_{t_k}) (the product of the one-step kernels of Algorithm 1's line 8), and denoises again, so
the filled region gets `resample` chances to harmonise with the known one (sec. 4.2, fig. 3).

The samplers keep the registry's signature, with the known image (1 or B, C, H, W) in [-1, 1] and the mask
(1 or B, 1, H, W), 1 = known, as keyword inputs (any shapes that broadcast to x's). Network calls for N visited
steps, jump j, resample r: N + (r - 1) j ceil((N - j) / j) (`repaint_calls`): 230 for the default 50 / 5 / 5,
50 for replacement; the paper's 250 / 10 / 10 costs 2,410.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from genlab.diffusion.denoiser import Denoiser
from genlab.diffusion.forward_process import gaussian_noise
from genlab.diffusion.likelihood import Variance
from genlab.diffusion.sampling import Callback, check_batch, ddpm_update, visited_steps
from genlab.errors import ConfigError, ModelInputError


def repaint_schedule(num_steps: int, *, jump_length: int, resample: int) -> list[int]:
    """The positions RePaint's sampler walks through, for num_steps visited steps (sec. 4.2's jump schedule).

    Position p is the state at the p-th visited step from the top (0: x_T, num_steps: the clean image). Going
    down one position is one reverse step (one network call); every jump_length-th position counted from the
    bottom (the lowest visited step, then jump_length above it, ... while a full jump fits below the top)
    sends the walk back up jump_length positions, resample - 1 times, the first times it is reached from above.
    """
    if jump_length < 1 or resample < 1:
        raise ConfigError(f"RePaint needs jump_length >= 1 and resample >= 1, got {jump_length} and {resample}")
    jumps_left = {num_steps - 1 - k: resample - 1 for k in range(0, num_steps - jump_length, jump_length)}
    path, p = [0], 0
    while p < num_steps:
        p += 1
        path.append(p)
        if jumps_left.get(p, 0) > 0:
            jumps_left[p] -= 1
            p -= jump_length
            path.append(p)
    return path


def repaint_calls(num_steps: int, *, jump_length: int, resample: int) -> int:
    """Network calls of `sample_repaint` per image: the down moves of its schedule."""
    path = repaint_schedule(num_steps, jump_length=jump_length, resample=resample)
    return sum(b > a for a, b in zip(path, path[1:], strict=False))


def _inputs(x: Tensor, known: Tensor | None, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """known and mask on x's device, checked to broadcast to x ((1 or B, C, H, W) and (1 or B, 1, H, W) for
    images): known in x's dtype, mask as bool (True = keep)."""
    if known is None or mask is None:
        raise ModelInputError("inpainting samplers need the known image and its mask (genlab inpaint, or "
                              "run.sample(known=..., mask=...))")
    try:
        fits = torch.broadcast_shapes(known.shape, mask.shape, x.shape) == x.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ModelInputError(f"known {tuple(known.shape)} and mask {tuple(mask.shape)} do not fit samples "
                              f"{tuple(x.shape)}")
    return known.to(x.device, x.dtype), mask.to(x.device) > 0.5


@torch.no_grad()
def sample_repaint(denoiser: Denoiser, x: Tensor, timesteps: Sequence[int] | Tensor, *,
                   generator: torch.Generator | None = None, callback: Callback | None = None,
                   known: Tensor | None = None, mask: Tensor | None = None, jump_length: int = 5, resample: int = 5,
                   variance: Variance = "beta_tilde", clip_x0: bool = True) -> Tensor:
    """RePaint (Lugmayr et al. 2022, Algorithm 1, jump schedule of sec. 4.2); x: (B, C, H, W) at timesteps[0]."""
    check_batch(x)
    known_, keep = _inputs(x, known, mask)
    steps = visited_steps(timesteps, denoiser.schedule.T)
    abar = [float(a) for a in denoiser.schedule.alphas_cumprod[steps]] + [1.0]
    path = repaint_schedule(len(steps), jump_length=jump_length, resample=resample)
    calls = 0
    for a, b in zip(path, path[1:], strict=False):
        if b < a:                                   # back up: x_b ~ q(x_b | x_a), abar_b / abar_a = prod(1 - beta)
            ratio = abar[b] / abar[a]
            x = math.sqrt(ratio) * x + math.sqrt(1.0 - ratio) * gaussian_noise(x, generator)
            continue
        t, last = steps[a], b == len(steps)
        x0, _ = denoiser.x0_eps(x, t)
        x0 = x0.clamp(-1.0, 1.0) if clip_x0 else x0
        unknown = ddpm_update(x0, x, alpha_bar_t=abar[a], alpha_bar_prev=abar[b], variance=variance,
                              noise=None if last else gaussian_noise(x, generator))
        known_t = known_ if last else (math.sqrt(abar[b]) * known_
                                       + math.sqrt(1.0 - abar[b]) * gaussian_noise(x, generator))
        if callback is not None:
            callback(calls, t, x, x0)
        calls += 1
        x = torch.where(keep, known_t, unknown)      # eq. 8: m * x_known + (1 - m) * x_unknown
    return x


@torch.no_grad()
def sample_replace(denoiser: Denoiser, x: Tensor, timesteps: Sequence[int] | Tensor, *,
                   generator: torch.Generator | None = None, callback: Callback | None = None,
                   known: Tensor | None = None, mask: Tensor | None = None, variance: Variance = "beta_tilde",
                   clip_x0: bool = True) -> Tensor:
    """The replacement method (Song et al. 2021, app. I): RePaint without resampling, one call per visited step."""
    return sample_repaint(denoiser, x, timesteps, generator=generator, callback=callback, known=known, mask=mask,
                          jump_length=1, resample=1, variance=variance, clip_x0=clip_x0)
