"""What `genlab compare` trains and how it samples each trained run: recipes, entries and rows.

An *entry* is one trained model (a family with its CPU recipe, trained for the budget); a *row* is one way
of sampling an entry, one point on the trilemma chart (Xiao et al. 2022, Fig. 1): diffusion is trained once
and sampled with several samplers and step counts, the distilled students come from the diffusion run
(Salimans & Ho 2022), and the GAN, the VAE and the denoising diffusion GANs are one row each.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from genlab.demo import DEMO_CONFIG
from genlab.errors import ConfigError

# Per-family recipes for images and for vectors; [data] and the budget are filled in by `recipe`.
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "ddpm": {
        "image": {"train": {k: v for k, v in DEMO_CONFIG["train"].items() if k not in ("steps", "time_budget")},
                  "model": DEMO_CONFIG["model"], "diffusion": DEMO_CONFIG["diffusion"]},     # the demo's recipe
        "vector": {"train": {"batch_size": 256, "lr": 1e-3, "warmup_steps": 100, "lr_schedule": "cosine"},
                   "model": {"arch": "mlp"},    # v: few-step samplers and students need x0 near t = T
                   "diffusion": {"schedule": "cosine", "prediction": "v", "sample_steps": 50}},
    },
    "vae": {
        "image": {"train": {"batch_size": 128, "lr": 1e-3, "warmup_steps": 50, "ema_decay": 0.999},
                  "model": {"arch": "conv", "latent_dim": 16}},
        "vector": {"train": {"batch_size": 256, "lr": 1e-3, "warmup_steps": 50},
                   "model": {"arch": "mlp", "latent_dim": 2, "hidden": [128, 128]}},
    },
    "gan": {
        "image": {"train": {"batch_size": 64, "warmup_steps": 0, "grad_clip": 0.0, "ema_decay": 0.999},
                  "model": {"arch": "dcgan"}, "gan": {"loss": "nonsaturating"}},
        "vector": {"train": {"batch_size": 256, "warmup_steps": 0, "grad_clip": 0.0},
                   "model": {"arch": "mlp"}, "gan": {"loss": "nonsaturating", "g_lr": 1e-3, "d_lr": 1e-3}},
    },
    "ddgan": {     # Xiao et al. 2022, sized for CPU minutes and >= 100x DDIM-50's sampling speed (docs/ddgan.md)
        "image": {"train": {"batch_size": 64, "warmup_steps": 0, "grad_clip": 0.0, "ema_decay": 0.999},
                  "model": {"arch": "conv", "channels": [32, 64], "patch": 4, "d_channels": [32, 64], "d_patch": 2},
                  "ddgan": {"T": 4, "g_lr": 5e-4, "d_lr": 5e-4, "r1": 0.02, "r1_every": 4}},
        "vector": {"train": {"batch_size": 256, "warmup_steps": 0, "grad_clip": 0.0, "precision": "fp32"},
                   "model": {"arch": "mlp", "latent_dim": 2},
                   "ddgan": {"T": 4, "g_lr": 5e-4, "d_lr": 5e-4, "r1": 0.001}},
    },
}


@dataclass(frozen=True)
class Row:
    """One point of the chart: an entry's run sampled with `options`; `stage` picks a distilled student."""

    label: str
    options: dict[str, Any] = field(default_factory=dict)
    stage: int | None = None


@dataclass(frozen=True)
class Entry:
    """One trained model of the comparison: a family's recipe with `overrides`, or (`distilled`) the students
    distilled from the 'ddpm' entry's run, sampled as `rows`."""

    family: str
    rows: tuple[Row, ...]
    overrides: dict[str, Any] = field(default_factory=dict)
    distilled: bool = False


STUDENT_STEPS = (8, 4, 2, 1)
"""The distilled students shown (Salimans & Ho 2022, Table 1 reports 8, 4, 2 and 1 steps)."""

ENTRIES: dict[str, Entry] = {
    "ddpm": Entry("ddpm", rows=(
        Row("ddpm ancestral", {"sampler": "ancestral"}),
        Row("ddim 50", {"sampler": "ddim", "steps": 50}),
        Row("ddim 10", {"sampler": "ddim", "steps": 10}),
        Row("ddim 4", {"sampler": "ddim", "steps": 4, "spacing": "trailing"}),
        Row("ddim 1", {"sampler": "ddim", "steps": 1, "spacing": "trailing"}),
        Row("dpm-solver++ 10", {"sampler": "dpmpp_2m", "steps": 10}),
        Row("dpm-solver++ 5", {"sampler": "dpmpp_2m", "steps": 5}))),
    "distill": Entry("ddpm", distilled=True,
                     rows=tuple(Row(f"distilled {n}", stage=n) for n in STUDENT_STEPS)),
    "ddgan": Entry("ddgan", rows=(Row("ddgan T=4"),)),
    "ddgan2": Entry("ddgan", overrides={"ddgan": {"T": 2}}, rows=(Row("ddgan T=2"),)),
    "vae": Entry("vae", rows=(Row("vae"),)),
    "gan": Entry("gan", rows=(Row("gan"),)),
}
"""What `genlab compare --families` accepts, in the order rows are reported."""

DEFAULT_FAMILIES = ("ddpm", "vae", "gan")


def entry_names() -> list[str]:
    """The names `--families` takes."""
    return list(ENTRIES)


def check_entries(names: tuple[str, ...]) -> None:
    """A one-line ConfigError for an unknown, repeated or orphaned entry name."""
    for name in names:
        if name not in ENTRIES:
            raise ConfigError(f"compare knows {', '.join(ENTRIES)}; got {name!r}")
    if len(set(names)) != len(names):
        raise ConfigError(f"--families lists an entry twice: {','.join(names)}")
    if any(ENTRIES[n].distilled for n in names) and "ddpm" not in names:
        raise ConfigError("'distill' distils the 'ddpm' entry's run: list ddpm too (e.g. --families ddpm,distill)")


def recipe(family: str, kind: str, *, data: str, seconds: float, seed: int,
           overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config values of one family's comparison run (its recipe, `overrides` merged section by section)."""
    if family not in RECIPES:
        raise ConfigError(f"compare has recipes for {', '.join(RECIPES)}; got {family!r}")
    values: dict[str, Any] = json.loads(json.dumps(RECIPES[family][kind]))
    for section, table in (overrides or {}).items():
        values.setdefault(section, {}).update(table)
    values["family"] = family
    values["data"] = {"name": data}
    values.setdefault("train", {}).update(time_budget=seconds, seed=seed, checkpoint_every=10**9, log_every=50)
    return values
