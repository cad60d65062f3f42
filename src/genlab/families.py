"""The model families genlab trains, by the name used on the command line and in configs."""
from __future__ import annotations

import importlib
from typing import Any, Protocol

from genlab.errors import ConfigError

# name -> "module:Class"; imported on first use so `genlab --help` stays fast.
_FAMILIES: dict[str, str] = {
    "ddpm": "genlab.diffusion.family:DiffusionFamily",
    "gan": "genlab.gan.family:GANFamily",
    "ddgan": "genlab.ddgan.family:DDGANFamily",
    "vae": "genlab.vae.family:VAEFamily",
    "ae": "genlab.vae.family:AEFamily",
    "classifier": "genlab.classifier.family:ClassifierFamily",
    "ldm": "genlab.latent.family:LatentDiffusionFamily",
    "distill": "genlab.distill.family:DistillFamily",
    "distill_ldm": "genlab.distill.latent:LatentDistillFamily",
    "pix2pix": "genlab.translate.pix2pix:Pix2PixFamily",
    "cyclegan": "genlab.translate.cyclegan:CycleGANFamily",
    "vdm": "genlab.video.family:VideoDiffusionFamily",
}

# Families trained on two image sides (a -> b): the runs `genlab translate` takes (genlab.translate.inference).
TRANSLATION_FAMILIES = ("pix2pix", "cyclegan")
TRANSLATION_TASK_EXAMPLE = "mnist-edges"


class FamilyClass(Protocol):
    """A registered family class: the dataclass of its own config sections, and its constructor from those
    sections, the data's shape and [train]. Its instances are `genlab.training.objective.Family`, not named
    here because genlab.training imports this registry."""

    Config: type

    def __call__(self, config: Any, *, data: Any, train: Any) -> Any: ...


def family_names() -> list[str]:
    """Names accepted by `genlab train`."""
    return sorted(_FAMILIES)


def get_family(name: str) -> FamilyClass:
    """The family class registered under `name`."""
    if name not in _FAMILIES:
        raise ConfigError(f"unknown family '{name}'; expected one of: {', '.join(family_names())}")
    module, cls = _FAMILIES[name].split(":")
    return getattr(importlib.import_module(module), cls)
