"""Clips given some frames: frame-mask conditioning (Harvey et al. 2022), reconstruction guidance (Ho et al.
2022, eq. 7), and clips longer than the model's window by autoregressive sliding-window extension.

Both conditionings are networks of the same call signature as the run's, `net(x_t, t)`, so every sampler of
the registry (genlab.diffusion.samplers) runs them through genlab.diffusion.pipeline unchanged. The given
frames of the result are the given frames themselves, bit for bit.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn

from genlab.diffusion import pipeline
from genlab.diffusion.guidance import classifier_free_guidance_batched
from genlab.diffusion.parametrization import coefficients, prediction_target
from genlab.errors import ModelInputError
from genlab.video.motion import aligned_reference

if TYPE_CHECKING:
    from genlab.video.family import VideoDiffusionFamily

Method = Literal["mask", "reconstruction"]
METHODS = ("mask", "reconstruction")


class MaskConditioned(nn.Module):
    """The run's network with clean given frames fed in (Harvey et al. 2022, sec. 3): net(x_t, t). `moved`: a
    video.motion run's reference frames (n, T, C, H, W), which SelfAligned renews between calls."""

    def __init__(self, net: nn.Module, known: Tensor, given: Tensor, moved: Tensor | None = None) -> None:
        super().__init__()
        self.net, self.known, self.given, self.moved = net, known, given, moved

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        """x_t: (B, T, C, H, W) -> the run's raw output (B, T, C, H, W)."""
        return self.net(x_t, t, self.known, self.given, **({} if self.moved is None else {"moved": self.moved}))


class ContextGuided(MaskConditioned):
    """Classifier-free guidance towards the given frames (Ho & Salimans 2022, eq. 6, with the frame mask as the
    condition): out_u + w (out_c - out_u), out_u the output given no frames, which the rows trained without
    given frames (1 - video.mask_prob of them) taught; one network call on a doubled batch. net(x_t, t)."""

    def __init__(self, net: nn.Module, known: Tensor, given: Tensor, scale: float,
                 moved: Tensor | None = None) -> None:
        super().__init__(net, known, given, moved)
        self.scale, self.doubled = scale, torch.cat([known, known])

    @property
    def guidance_scale(self) -> float:
        """The scale w, which genlab.diffusion.pipeline reads to leave a guided pixel run's x0 unclipped."""
        return self.scale

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        """x_t: (B, T, C, H, W), t: (B,) -> the guided output (B, T, C, H, W), in the run's parameterisation."""
        known = self.doubled
        extra = {} if self.moved is None else {"moved": torch.cat([self.moved, self.moved])}
        guided = classifier_free_guidance_batched(lambda x, s, mask: self.net(x, s, known, mask, **extra),
                                                  self.given, torch.zeros_like(self.given), self.scale)
        return guided(x_t, t)


class SelfAligned(nn.Module):
    """A video.motion run's mask conditioning whose reference is re-aligned after every call: the given frame moved
    onto where the network's x0 estimate puts each unknown frame (genlab.video.motion.aligned_reference), so the
    next step sees the given shape where the sampler is drawing the digit, bounces included. net(x_t, t)."""

    def __init__(self, family: VideoDiffusionFamily, models: Mapping[str, nn.Module], inner: MaskConditioned,
                 pixels: Tensor) -> None:
        super().__init__()
        self.family, self.models, self.inner, self.pixels = family, models, inner, pixels
        self.denoiser = family.denoiser(inner.net)

    @property
    def guidance_scale(self) -> float | None:
        """The inner conditioning's guidance scale, if it guides."""
        return getattr(self.inner, "guidance_scale", None)

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        """x_t: (B, T, C, H, W), t: (B,) -> the inner output (B, T, C, H, W); renews the inner reference."""
        out = self.inner(x_t, t)
        alpha, sigma = coefficients(self.denoiser.schedule, t, x_t)
        x0, _ = self.denoiser.split(out.float(), x_t.float(), alpha=alpha.float(), sigma=sigma.float())
        estimate = self.family.decode(self.models, x0).float().to(self.pixels.device)
        reference = aligned_reference(self.pixels, self.inner.given.to(self.pixels.device), estimate)
        self.inner.moved = self.family.encode_frames(self.models, reference).to(out.device)
        return out


class ReconstructionGuided(nn.Module):
    """x~0 = x^0 - (w_r alpha_t / 2) grad_{x_t} ||x^a - x^0_a||^2 on the frames not given, x^a on the given ones,
    returned in the run's parameterisation (Ho et al. 2022, eq. 7, with the replacement of sec. 3.1)."""

    def __init__(self, family: VideoDiffusionFamily, net: nn.Module, known: Tensor, given: Tensor,
                 weight: float) -> None:
        super().__init__()
        self.net, self.known, self.given, self.weight = net, known, given, weight
        self.denoiser = family.denoiser(net)

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        """x_t: (B, T, C, H, W), t: (B,) long -> the guided output (B, T, C, H, W)."""
        given = self.given[:, :, None, None, None]
        with torch.inference_mode(False), torch.enable_grad():      # samplers run under inference mode
            z = x_t.detach().clone().requires_grad_(True)
            known, steps, keep = self.known.clone(), t.clone(), given.clone().to(x_t.dtype)
            x0 = self.denoiser.x0(z, steps)
            (grad,) = torch.autograd.grad(((known - x0) ** 2 * keep).sum(), z)
        alpha, sigma = coefficients(self.denoiser.schedule, t, x_t)
        alpha, sigma = alpha.to(x_t.dtype), sigma.to(x_t.dtype)
        x0_tilde = torch.where(given, self.known, x0.detach() - self.weight * alpha / 2 * grad)
        eps = (x_t - alpha * x0_tilde) / sigma
        return prediction_target(x0_tilde, eps, alpha=alpha, sigma=sigma, prediction=self.denoiser.prediction)


def check_context(context: Tensor, *, shape: tuple[int, ...], n: int) -> Tensor:
    """Given first frames (1 or n, k, C, H, W) in [-1, 1] with 1 <= k < T, as (n, k, C, H, W); one-line errors."""
    window, frame = shape[0], tuple(shape[1:])
    if not isinstance(context, Tensor) or not context.is_floating_point() or context.ndim != 5:
        raise ModelInputError(f"the context must be float clips (N, k, C, H, W) in [-1, 1], got "
                              f"{getattr(context, 'dtype', type(context).__name__)} "
                              f"{tuple(getattr(context, 'shape', ()))}")
    if tuple(context.shape[2:]) != frame:
        raise ModelInputError(f"context frames of shape {tuple(context.shape[2:])}; the model's frames are {frame} "
                              "(C, H, W)")
    if context.shape[0] not in (1, n):
        raise ModelInputError(f"the context holds {context.shape[0]} clips; expected 1 or one per sample ({n})")
    if not 1 <= context.shape[1] < window:
        raise ModelInputError(f"a context of {context.shape[1]} frames does not fit the model's window of {window} "
                              f"frames: give 1 to {window - 1} frames")
    return context.expand(n, *context.shape[1:])


def conditioned_models(family: VideoDiffusionFamily, models: Mapping[str, nn.Module], known: Tensor,
                       given: Tensor, *, method: Method, weight: float,
                       guidance: float | None = None, moved: Tensor | None = None,
                       realign: Tensor | None = None) -> dict[str, nn.Module]:
    """The run's networks with `model` conditioned on known (n, T, C, H, W) where given (n, T) by `method`;
    `guidance` w != 1: classifier-free guidance towards the given frames (mask method only); `moved`: the
    motion-compensated reference frames of a video.motion run (n, T, C, H, W); `realign`: the window's given
    frames in pixels (n, T, C, H, W), to re-align that reference at every step (SelfAligned)."""
    if method not in METHODS:
        raise ModelInputError(f"unknown context method {method!r}; expected one of: {', '.join(METHODS)}")
    if guidance is not None and method != "mask":
        raise ModelInputError("--guidance guides towards the given frames of the method 'mask'; reconstruction "
                              "guidance has its own weight (video.reconstruction_weight)")
    if realign is not None and (method != "mask" or moved is None):
        raise ModelInputError("--realign re-aligns the moved reference of a run trained with video.motion, sampled "
                              "by the method 'mask'")
    net = models["model"]
    device = next(net.parameters()).device
    known, given = known.to(device), given.to(device)
    moved = None if moved is None else moved.to(device)
    if method == "mask":
        if not getattr(net, "mask_channel", False):
            raise ModelInputError("this run was trained without frame masks (video.mask_prob = 0); use the "
                                  "method 'reconstruction'")
        inner = (ContextGuided(net, known, given, guidance, moved) if guidance is not None and guidance != 1.0
                 else MaskConditioned(net, known, given, moved))
        return {**models, "model": inner if realign is None else SelfAligned(family, models, inner, realign)}
    return {**models, "model": ReconstructionGuided(family, net, known, given, weight)}


def sample_clips(family: VideoDiffusionFamily, models: Mapping[str, nn.Module], n: int, *,
                 generator: torch.Generator, context: Tensor | None = None, frames: int | None = None,
                 method: Method | None = None, reconstruction_weight: float | None = None,
                 guidance: float | None = None, realign: bool | None = None, **options: Any) -> Tensor:
    """n clips (n, frames, C, H, W) in [-1, 1], continuing `context` (1 or n, k, C, H, W) when given.

    Each window of T frames is conditioned on the last k frames so far (k: the context's length, or T // 2
    without a context) and adds T - k new ones (autoregressive sliding window, Harvey et al. 2022, sec. 4);
    `method`: "mask" (default for runs trained with frame masks) or "reconstruction" (Ho et al. 2022, eq. 7);
    `guidance` w: classifier-free guidance towards the given frames of the mask method (default video.guidance;
    1: none, 3: three times the pull); `realign`: re-align a video.motion run's reference to the sampler's x0 at
    every step (default video.realign).
    """
    window = family.frames
    frames = window if frames is None else frames
    v = family.config.video
    method = method or ("mask" if v.mask_prob > 0 else "reconstruction")
    weight = v.reconstruction_weight if reconstruction_weight is None else reconstruction_weight
    if context is None:
        clip = pipeline.sample(family, models, n, generator=generator, **options)
        keep = max(window // 2, 1)
    else:
        clip = check_context(context, shape=tuple(family.data.shape), n=n).float()
        keep = clip.shape[1]
    if frames < clip.shape[1] and context is not None:
        raise ModelInputError(f"--frames {frames} is shorter than the context of {clip.shape[1]} frames")
    if frames < 1:
        raise ModelInputError(f"--frames must be at least 1, got {frames}")
    for flag, asked in (("--guidance", guidance is not None), ("--realign", bool(realign))):
        if asked and context is None and frames <= window:
            raise ModelInputError(f"{flag} acts on the given frames of a video run: give --context, or --frames "
                                  f"beyond the model's window of {window}")
    if guidance is None and method == "mask" and v.guidance != 1.0:
        guidance = v.guidance                                               # the run's default, mask method only
    if realign is None:
        realign = v.realign and method == "mask"
    while clip.shape[1] < frames:
        known = torch.zeros((n, *family.shape))
        known[:, :keep] = family.encode_frames(models, clip[:, -keep:]).cpu()     # latents for latent runs
        given = torch.zeros((n, window), dtype=torch.bool)
        given[:, :keep] = True
        pixels = torch.zeros((n, window, *clip.shape[2:]))
        pixels[:, :keep] = clip[:, -keep:].cpu()
        moved = family.moved_reference(models, pixels, given)
        guided = conditioned_models(family, models, known, given, method=method, weight=weight, guidance=guidance,
                                    moved=None if moved is None else moved.cpu(), realign=pixels if realign else None)
        new = pipeline.sample(family, guided, n, generator=generator, **options)[:, keep:]
        clip = torch.cat([clip, new.to(clip.device)], dim=1)
    return clip[:, :frames]
