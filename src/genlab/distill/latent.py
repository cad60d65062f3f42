"""A distilled student of a latent diffusion run: the `distill` family's loss over the `ldm` family's latents.

Python's method order does the wiring: LatentDistillFamily -> DistillFamily (the loss, the warm start, the
teacher) -> LatentDiffusionFamily (the codec: `build_models`, `encode_batch`, `decode`) -> DiffusionFamily.
The student keeps its teacher's [latent] section, so it encodes and decodes with the same autoencoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from genlab.distill.config import DistillConfig
from genlab.distill.family import DistillFamily
from genlab.latent.family import LatentDiffusionFamily, LDMConfig


@dataclass
class LatentDistillConfig(LDMConfig, DistillConfig):
    """LDM's sections ([model], [diffusion], [condition], [latent]) plus [distill]."""


class LatentDistillFamily(DistillFamily, LatentDiffusionFamily):
    """A student of progressive distillation in the latent space of its teacher's autoencoder."""

    name: ClassVar[str] = "distill_ldm"
    Config: ClassVar[type] = LatentDistillConfig
    teacher_families: ClassVar[tuple[str, ...]] = ("ldm", "distill_ldm")
    config: LatentDistillConfig
