"""The contract between the one training loop and a model family (diffusion, VAE, GAN, classifier).

A family says which modules it has, which *phases* update them (one for diffusion and VAEs; discriminator
then generator for GANs, as in stylegan3's training loop), and how to compute each phase's loss on a batch.
The loop owns everything else: optimisers, mixed precision, gradient accumulation, EMA, data order,
randomness, checkpoints, logging and distribution.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Phase:
    """One optimiser and the modules it updates, run `repeats` times per training step (Goodfellow's k)."""

    name: str
    modules: tuple[str, ...]
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    repeats: int = 1
    grad_clip: float | None = 1.0


class BatchRandom:
    """Randomness drawn for the *global* batch, then sliced to this process's rows.

    Drawing all rows on every rank and keeping one slice makes N data-parallel processes see exactly the
    noise a single process would see for the same global batch, so their results agree to float tolerance.
    """

    def __init__(self, generator: torch.Generator, *, global_size: int, start: int, size: int,
                 device: torch.device | str = "cpu") -> None:
        self.generator = generator
        self.global_size = global_size
        self.start = start
        self.size = size
        self.device = torch.device(device)

    def _slice(self, full: Tensor) -> Tensor:
        return full[self.start:self.start + self.size].to(self.device)

    def randn(self, *shape: int) -> Tensor:
        """Standard normal of shape (b, *shape) for this rank's rows."""
        return self._slice(torch.randn((self.global_size, *shape), generator=self.generator))

    def rand(self, *shape: int) -> Tensor:
        """Uniform [0, 1) of shape (b, *shape) for this rank's rows."""
        return self._slice(torch.rand((self.global_size, *shape), generator=self.generator))

    def randint(self, high: int, *shape: int) -> Tensor:
        """Integers in [0, high) of shape (b, *shape) for this rank's rows."""
        return self._slice(torch.randint(0, high, (self.global_size, *shape), generator=self.generator))


@dataclass
class Batch:
    """A micro-batch on this process: `x` images in [-1, 1] (b, C, H, W) or vectors (b, D); `y` labels (b,).

    Image-to-image data add `b`, the b side (b, C', H', W') in [-1, 1]: row i is x's partner when the data are
    paired, else an independent draw from the b source (its own seeded order, see genlab.training.loop).

    `step` is the optimiser step the batch belongs to (0-based), the same on every micro-batch, phase and
    process of that step: what schedules inside a loss (the VAE's KL warm-up) read.
    """

    x: Tensor
    y: Tensor | None
    rng: BatchRandom
    step: int = 0
    b: Tensor | None = None


@dataclass(frozen=True)
class DataInfo:
    """What a family needs to know about its data to size its networks."""

    kind: str                      # "image", "video" or "vector"
    shape: tuple[int, ...]         # (C, H, W), (T, C, H, W) or (D,)
    num_classes: int | None = None
    b_shape: tuple[int, ...] | None = None   # image-to-image: the shape (C', H', W') of the b side
    paired: bool = False                      # whether b's rows are x's partners (pix2pix) or not (CycleGAN)


class Family(Protocol):
    """A model family as the loop, `Run` and the CLI see it. Implementations live in genlab.<family>.family.

    A family declares what it offers instead of being probed: `sample_options` are the keyword options its
    `sample` takes (what `genlab sample` may pass), `has_likelihood` whether `likelihood` gives bits/dim or
    nats, `can_sample` whether it generates at all (a classifier does not).
    """

    name: ClassVar[str]
    Config: ClassVar[type]                      # the dataclass of the family's own config sections
    ema_modules: tuple[str, ...]                # modules whose EMA copy is kept and used for sampling
    sample_options: ClassVar[frozenset[str]]
    has_likelihood: ClassVar[bool]
    can_sample: ClassVar[bool]

    def build_models(self) -> dict[str, nn.Module]:
        """Fresh, seeded networks by name, e.g. {"model": unet} or {"G": ..., "D": ...}."""
        ...

    def phases(self) -> list[Phase]:
        """The phases of one training step, in order."""
        ...

    def warm_start(self, models: Mapping[str, nn.Module]) -> None:
        """Initialise fresh networks before step 0 from elsewhere (a distilled student from its teacher);
        called on a fresh start only, never on resume. Most families do nothing."""
        ...

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """Scalar loss of `phase` on `batch` (to be minimised) and floats to log."""
        ...

    def sample(self, models: Mapping[str, nn.Module], n: int, *, generator: torch.Generator,
               **options: Any) -> Tensor:
        """n samples in data space: images in [-1, 1] (n, C, H, W) or vectors (n, D)."""
        ...

    def likelihood(self, models: Mapping[str, nn.Module], x: Tensor, *, batch_size: int = 100, seed: int = 0,
                   progress: bool = True) -> dict[str, Any]:
        """Likelihood bounds of items x (N, ...) as named numbers; raises ModelInputError where has_likelihood
        is False."""
        ...
