"""The registry of diffusion samplers by name: what `genlab sample --sampler NAME` and `diffusion.sampler` accept.

Every entry is a function with the one signature of genlab.diffusion.sampling,
`sample_NAME(denoiser, x_T, timesteps, *, generator=None, callback=None, **options) -> x_0`, plus what the
sampling pipeline needs to know about it: which of the run's sampling options it takes, whether it walks
the whole chain of T steps by default, whether it chooses its own timestep spacing (the ODE samplers of
genlab.diffusion.ode_samplers and genlab.diffusion.unipc default to Karras et al.'s "karras" spacing, the
multistep dpmpp_2m and unipc to DPM-Solver's "quadratic" one at few steps, `FEW_STEPS`; an explicit spacing
overrides it), and which per-call inputs it needs (the inpainting samplers of genlab.diffusion.repaint:
the known image and its mask). An option the run's [diffusion] section has no key for (RePaint's jump_length)
takes the function's default unless it is passed. Adding a sampler is one function and one entry here.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from genlab.diffusion.denoiser import Denoiser
from genlab.diffusion.ode_samplers import sample_dpmpp_2m, sample_euler, sample_heun
from genlab.diffusion.repaint import sample_repaint, sample_replace
from genlab.diffusion.sampling import Callback, sample_ancestral, sample_ddim
from genlab.diffusion.timesteps import ScheduleSpacing
from genlab.diffusion.unipc import sample_unipc
from genlab.errors import ConfigError


class SamplerFn(Protocol):
    """sample_NAME(denoiser, x_T: (B, ...), timesteps, *, generator, callback, **options) -> x_0: (B, ...).

    The options are each sampler's own keyword parameters (with defaults), so the protocol lists only the
    shared ones: a function with more keyword parameters still matches it.
    """

    def __call__(self, denoiser: Denoiser, x: Tensor, timesteps: Sequence[int] | Tensor, *,
                 generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor: ...


@dataclass(frozen=True)
class Sampler:
    """A registered sampler: its function, the run options and inputs it takes, its default steps and spacing."""

    fn: SamplerFn
    options: tuple[str, ...]            # keys of [diffusion] / `genlab sample` flags passed through
    inputs: tuple[str, ...] = ()        # per-call tensors it needs (inpainting: "known", "mask")
    full_chain: bool = False            # default steps: T (ancestral) rather than diffusion.sample_steps
    spacing: ScheduleSpacing | None = None   # default spacing (unless one is asked for); None: diffusion.spacing
    summary: str = ""
    calls_per_step: int = 1             # network calls per step but the last, which takes one (heun: 2)
    few_steps: tuple[int, ScheduleSpacing] | None = None   # (n, s): spacing s instead for at most n steps

    def spacing_for(self, steps: int) -> ScheduleSpacing | None:
        """The default spacing for `steps` visited steps (None: the run's diffusion.spacing)."""
        if self.few_steps is not None and steps <= self.few_steps[0]:
            return self.few_steps[1]
        return self.spacing

    def spacing_rule(self) -> str:
        """The default spacing in words, for help texts: e.g. "quadratic up to 8 steps, else karras"."""
        if self.few_steps is None:
            return str(self.spacing)
        return f"{self.few_steps[1]} up to {self.few_steps[0]} steps, else {self.spacing}"

    def network_calls(self, steps: int) -> int:
        """Network evaluations per sample over `steps` visited steps (not counting guidance's doubled batch)."""
        return self.calls_per_step * steps - (self.calls_per_step - 1)

    def __call__(self, denoiser: Denoiser, x: Tensor, timesteps: Sequence[int] | Tensor, **kwargs: Any) -> Tensor:
        return self.fn(denoiser, x, timesteps, **kwargs)


FEW_STEPS = 8
"""dpmpp_2m and unipc with at most this many steps default to the "quadratic" spacing: on the demo recipe's MNIST
runs it scores a far better Frechet distance than "karras" at 5 steps, "karras" as good or better at 10
(docs/sampling.md, "Timestep spacing at few steps")."""

SAMPLERS: dict[str, Sampler] = {
    "ddim": Sampler(sample_ddim, options=("eta", "clip_x0"),
                    summary="DDIM (Song et al. 2021), deterministic at eta = 0"),
    "ancestral": Sampler(sample_ancestral, options=("variance", "clip_x0"), full_chain=True,
                         summary="DDPM ancestral sampling, Algorithm 2 of Ho et al. 2020"),
    "euler": Sampler(sample_euler, options=(), spacing="karras",
                     summary="Euler on the probability-flow ODE, Karras et al. 2022 sigma spacing (first order)"),
    "heun": Sampler(sample_heun, options=(), spacing="karras", calls_per_step=2,
                    summary="Heun on the probability-flow ODE, Algorithm 1 of Karras et al. 2022 (2 calls/step)"),
    "dpmpp_2m": Sampler(sample_dpmpp_2m, options=(), spacing="karras", few_steps=(FEW_STEPS, "quadratic"),
                        summary="DPM-Solver++(2M), Lu et al. 2022, second-order multistep, Karras spacing "
                                f"(quadratic up to {FEW_STEPS} steps)"),
    "unipc": Sampler(sample_unipc, options=(), spacing="karras", few_steps=(FEW_STEPS, "quadratic"),
                     summary="UniPC-2 (bh2), Zhao et al. 2023, predictor-corrector multistep, Karras spacing "
                             f"(quadratic up to {FEW_STEPS} steps)"),
    "replace": Sampler(sample_replace, options=("variance", "clip_x0"), inputs=("known", "mask"),
                       summary="inpainting: ancestral steps, known pixels replaced by q(x_t|x_0) at each step"),
    "repaint": Sampler(sample_repaint, options=("jump_length", "resample", "variance", "clip_x0"),
                       inputs=("known", "mask"),
                       summary="inpainting: RePaint (Lugmayr et al. 2022), replacement plus jumps back by "
                               "jump_length steps, resample times"),
}


def sampler_names() -> tuple[str, ...]:
    """The registered sampler names, in registry order."""
    return tuple(SAMPLERS)


def get_sampler(name: str) -> Sampler:
    """The sampler registered as `name`; a one-line ConfigError listing the names otherwise."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ConfigError(f"unknown sampler {name!r}; expected one of: {', '.join(SAMPLERS)}") from None
