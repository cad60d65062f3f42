"""Sampling a diffusion run: condition, guidance, clipping policy and precision around a denoiser, then a sampler.

This is the whole path from `genlab sample` options to a registered sampler (genlab.diffusion.samplers): the
family only holds the networks and the config; `denoiser_for` wraps the network once (with its condition and
guidance scale), `sample` draws x_T, picks the sampler and its options, and decodes latents to data.
Inpainting (`known` images and a `mask`, 1 = keep) goes to a mask-conditional run's condition (Palette) and/or
to an inpainting sampler (replace, repaint), and the known pixels of the result are pasted back exactly.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from genlab.diffusion.conditioning import condition_to, sampling_condition
from genlab.diffusion.denoiser import Denoiser
from genlab.diffusion.guidance import guided_model_fn
from genlab.diffusion.masks import check_known, keep_known, masked_condition
from genlab.diffusion.samplers import Sampler, get_sampler
from genlab.diffusion.sampling import Callback
from genlab.diffusion.timesteps import ScheduleSpacing, schedule_timesteps
from genlab.errors import ModelInputError
from genlab.nn.hardware import resolve_precision

if TYPE_CHECKING:
    from genlab.diffusion.family import DiffusionFamily
    from genlab.training.run import Run

SAMPLE_OPTIONS = frozenset({"sampler", "steps", "eta", "spacing", "variance", "clip_x0", "precision", "callback",
                            "noise", "label", "prompt", "guidance", "low_res", "known", "mask", "jump_length",
                            "resample"})
"""What `DiffusionFamily.sample` takes besides n and the generator."""


def denoiser_for(family: DiffusionFamily, models: Mapping[str, nn.Module], n: int, *, precision: str | None = None,
                 label: Any = None, prompt: str | None = None, low_res: Tensor | str | None = None,
                 guidance: float | None = None, masked: Tensor | None = None) -> Denoiser:
    """The run's network as a denoiser for n samples, conditioned and guided as asked (Ho & Salimans 2022, eq. 6);
    `masked`: the known pixels and mask (n, C + 1, H, W) a mask-conditional run is conditioned on."""
    c = family.config.condition
    net = models["model"]
    device = next(net.parameters()).device
    cond, null = sampling_condition(c, family.data, n, label=label, prompt=prompt, low_res=low_res, masked=masked)
    if guidance is not None and c.kind == "none":
        raise ModelInputError("--guidance needs a conditional run (trained with condition.kind = class, text, image "
                              "or masked)")
    if guidance is not None and null:
        raise ModelInputError("--guidance needs a condition to guide towards: give "
                              f"{'--image and --mask (genlab inpaint)' if c.kind == 'masked' else '--low-res IMAGE'}"
                              " (without it the run samples unconditionally)")
    scale = getattr(net, "guidance_scale", None)        # a wrapper that guides on its own (genlab.video)
    model_fn: Any = net
    if cond is not None:
        scale = 0.0 if null else (c.guidance if guidance is None else float(guidance))
        model_fn = guided_model_fn(net, condition_to(cond, device), scale, batch=n)
    return Denoiser(model_fn, family.schedule, prediction=family.config.diffusion.prediction,
                    precision=resolve_precision(precision or family.train.precision, device,
                                                kind=family.data.kind)[0],  # type: ignore[arg-type]
                    device=device, guidance=scale)


def run_denoiser(run: Run, n: int = 1, *, precision: str | None = None, **condition: Any) -> Denoiser:
    """A loaded diffusion run's (EMA) network as a denoiser for batches of n; `condition`: label, prompt, low_res
    and guidance, as `genlab sample` takes them. Decode what a sampler returns with `run.family.decode`."""
    from genlab.diffusion.family import DiffusionFamily
    if not isinstance(run.family, DiffusionFamily):
        raise ModelInputError(f"{run.path} is a '{run.config.family}' run; a denoiser needs a diffusion run")
    return denoiser_for(run.family, run.models, n, precision=precision, **condition)


def inpainting_inputs(family: DiffusionFamily, chosen: Sampler, name: str, n: int, known: Tensor | None,
                      mask: Tensor | str | None) -> tuple[Tensor, Tensor] | None:
    """known (1 or n, C, H, W) and mask (1 or n, 1, H, W) checked against the run and the sampler; None: no inpainting.

    One-line errors: inpainting a vector or latent run, half of the pair, an inpainting sampler without the pair,
    or the pair given to a run and sampler that cannot use it (an unconditional run with ddim).
    """
    kind = family.config.condition.kind
    if known is None and mask is None:
        if chosen.inputs:
            raise ModelInputError(f"the '{name}' sampler inpaints: give known images and a mask (`genlab inpaint RUN "
                                  "--image X --mask M`, or run.sample(known=..., mask=...))")
        return None
    if known is None or mask is None:
        raise ModelInputError("inpainting needs both the known images and a mask (1 = keep, 0 = fill)")
    if family.data.kind != "image":
        raise ModelInputError("inpainting needs an image run; this run models vectors")
    if not family.bounded or tuple(family.shape) != tuple(family.data.shape):
        raise ModelInputError("inpainting works in pixel space; this is a latent diffusion ('ldm') run, whose "
                              "samples are latents (use a 'ddpm' run)")
    if not chosen.inputs and kind != "masked":
        raise ModelInputError(f"the '{name}' sampler cannot inpaint a run without condition.kind = 'masked': use "
                              "the sampler replace or repaint (genlab inpaint --method replace|repaint)")
    return check_known(known, mask, family.shape, n)


@torch.no_grad()
def sample(family: DiffusionFamily, models: Mapping[str, nn.Module], n: int, *, generator: torch.Generator,
           sampler: str | None = None, steps: int | None = None, spacing: ScheduleSpacing | None = None,
           precision: str | None = None, callback: Callback | None = None, noise: Tensor | None = None,
           label: Any = None, prompt: str | None = None, guidance: float | None = None,
           low_res: Tensor | str | None = None, known: Tensor | None = None, mask: Tensor | str | None = None,
           **options: Any) -> Tensor:
    """n samples in data space (n, *data shape); unset options take the run's [diffusion] values.

    `options` are the sampler's own (eta, variance, clip_x0, jump_length, resample: see
    genlab.diffusion.samplers); one the [diffusion] section has no key for takes the sampler's default. The
    timesteps are spaced by `spacing` if given, else by the sampler's own spacing (the ODE samplers: "karras"),
    else by diffusion.spacing. x0 is clipped to [-1, 1] at each step for pixel runs only, and not under guidance
    w not in {0, 1}: DDIM's direction keeps the network's (extrapolated) eps, and pairing it with a clipped x0
    pulls samples off the data (docs/latent.md). The ODE samplers take no clipping option. `known` images
    (1 or n, C, H, W) in [-1, 1] and a `mask` (1 or n, 1, H, W; 1 = keep), or a mask name / PNG path, inpaint.
    """
    d = family.config.diffusion
    name = sampler or d.sampler
    chosen = get_sampler(name)
    ignored = sorted(k for k, v in options.items() if v is not None and k not in chosen.options)
    if ignored:
        takes = ", ".join(chosen.options) or "no options"
        raise ModelInputError(f"--{ignored[0].replace('_', '-')} does not apply to the '{name}' sampler "
                              f"(it takes: {takes})")
    steps = steps if steps is not None else (d.T if chosen.full_chain else d.sample_steps)
    if not 1 <= steps <= d.T:
        raise ModelInputError(f"sampling steps must be between 1 and T={d.T}, got {steps}")
    pair = inpainting_inputs(family, chosen, name, n, known, mask)
    denoiser = denoiser_for(family, models, n, precision=precision, label=label, prompt=prompt, low_res=low_res,
                            guidance=guidance, masked=None if pair is None else masked_condition(*pair))
    x = noise if noise is not None else torch.randn((n, *family.shape), generator=generator)
    x = x.to(denoiser.device)
    kwargs = {key: options[key] if options.get(key) is not None else getattr(d, key) for key in chosen.options
              if options.get(key) is not None or hasattr(d, key)}
    if options.get("clip_x0") is None and "clip_x0" in kwargs:
        kwargs["clip_x0"] = d.clip_x0 and family.bounded and denoiser.guidance in (None, 0.0, 1.0)
    if chosen.inputs and pair is not None:
        kwargs.update(known=pair[0], mask=pair[1])
    visited = schedule_timesteps(family.schedule, steps, spacing=spacing or chosen.spacing_for(steps) or d.spacing)
    x0 = chosen(denoiser, x, visited, generator=generator, callback=callback, **kwargs)
    out = family.decode(models, x0.clamp(-1.0, 1.0) if family.bounded else x0)
    return out if pair is None else keep_known(out, *pair)
