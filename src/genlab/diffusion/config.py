"""The config sections of a diffusion run: [model] (the network), [diffusion] (process and sampler), [condition]."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from genlab.diffusion.conditioning import ConditionConfig


@dataclass
class DenoiserConfig:
    """The network: a U-Net for images, an MLP for vectors. Sizes for the U-Net follow genlab.nn.UNet."""

    arch: Literal["auto", "unet", "mlp"] = "auto"      # auto: unet for images, mlp for vectors
    channels: tuple[int, ...] = field(default=(32, 64, 64), metadata={"ge": 1})
    blocks_per_level: int = field(default=1, metadata={"ge": 1})
    attention_levels: tuple[int, ...] = field(default=(), metadata={"ge": 0})
    mid_attention: bool = True
    heads: int = field(default=4, metadata={"ge": 1})
    groups: int = field(default=32, metadata={"ge": 1})
    time_embedding: Literal["scale_shift", "add"] = "scale_shift"
    dropout: float = field(default=0.0, metadata={"ge": 0, "lt": 1})
    upsample: Literal["resize_conv", "conv_resize"] = "resize_conv"   # conv_resize: Saharia et al. 2022, app. B.1
    hidden: int = field(default=256, metadata={"ge": 1})   # MLP width
    layers: int = field(default=4, metadata={"ge": 1})     # MLP depth


@dataclass
class DiffusionConfig:
    """The noise process, the training target and the default sampler (a name of genlab.diffusion.samplers)."""

    schedule: Literal["linear", "cosine", "sigmoid", "scaled_linear", "geodiff_sigmoid"] = "linear"
    T: int = field(default=1000, metadata={"ge": 2})
    prediction: Literal["eps", "x0", "v"] = "eps"        # Algorithm 1; prefer "v" under bf16 (demo.py)
    weighting: Literal["none", "min_snr"] = "none"
    sampler: str = "ddim"                                # see `genlab sample --help` for the registry's names
    sample_steps: int = field(default=50, metadata={"ge": 1, "le": "T"})
    eta: float = field(default=0.0, metadata={"ge": 0})
    spacing: Literal["leading", "trailing", "linspace", "karras", "logsnr", "quadratic"] = "leading"   # ddim and
    # ancestral; euler, heun, dpmpp_2m and unipc use their own (Sampler.spacing_for) unless a spacing is passed to
    # `genlab sample --spacing` / run.sample(spacing=...)
    variance: Literal["beta", "beta_tilde"] = "beta_tilde"
    clip_x0: bool = True


@dataclass
class DDPMConfig:
    """The sections a DDPM run adds to [data] and [train]."""

    model: DenoiserConfig = field(default_factory=DenoiserConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    condition: ConditionConfig = field(default_factory=ConditionConfig)
