"""The model families genlab trains, by the name used on the command line and in configs."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from genlab.errors import ConfigError

if TYPE_CHECKING:
    from genlab.training.objective import Family

# name -> "module:Class"; imported on first use so `genlab --help` stays fast.
_FAMILIES: dict[str, str] = {
    "ddpm": "genlab.diffusion.family:DiffusionFamily",
    "gan": "genlab.gan.family:GANFamily",
    "vae": "genlab.vae.family:VAEFamily",
    "ae": "genlab.vae.family:AEFamily",
    "classifier": "genlab.classifier.family:ClassifierFamily",
    "ldm": "genlab.latent.family:LatentDiffusionFamily",
}


def family_names() -> list[str]:
    """Names accepted by `genlab train`."""
    return sorted(_FAMILIES)


def get_family(name: str) -> type[Family]:
    """The family class registered under `name`."""
    if name not in _FAMILIES:
        raise ConfigError(f"unknown family '{name}'; expected one of: {', '.join(family_names())}")
    module, cls = _FAMILIES[name].split(":")
    return getattr(importlib.import_module(module), cls)
