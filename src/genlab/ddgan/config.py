"""The config sections of a denoising diffusion GAN run: [model] (the two networks) and [ddgan] (chain and game)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class DDGANModelConfig:
    """G(x_t, t, z) and D(x_{t-1}, x_t, t)."""

    arch: Literal["auto", "conv", "mlp"] = "auto"        # auto: conv for images, mlp for vectors
    latent_dim: int = field(default=100, metadata={"ge": 1})   # z's size (Xiao et al. 2022: 100)
    # conv G: U-Net widths per level, after a patch x patch pixel-unshuffle (cheap sampling: 28 -> 14 -> 7)
    channels: tuple[int, ...] = field(default=(32, 64), metadata={"ge": 1})
    patch: int = field(default=2, metadata={"ge": 1})
    groups: int = field(default=8, metadata={"ge": 1})    # group norm groups of conv G
    d_channels: tuple[int, ...] = field(default=(32, 64, 128), metadata={"ge": 1})   # conv D widths, one per halving
    d_patch: int = field(default=1, metadata={"ge": 1})    # conv D: pixel-unshuffle of the pair before the blocks
    hidden: int = field(default=256, metadata={"ge": 1})   # MLP G and D width (vectors)
    layers: int = field(default=3, metadata={"ge": 1})     # MLP G and D hidden layers
    fourier: float = field(default=0.0, metadata={"ge": 0})   # MLP inputs: Fourier features of this scale (0: off)
    d_slope: float = field(default=0.2, metadata={"ge": 0})   # D's LeakyReLU slope


@dataclass
class DDGANObjectiveConfig:
    """The T-step chain (VP SDE discretised, Xiao et al. 2022, app. B) and the conditional GAN played at each step."""

    T: int = field(default=4, metadata={"ge": 2, "le": 64})       # denoising steps (the paper: 2 to 8; 4 on CIFAR-10)
    # the chain runs on data_scale * x, samples are divided back: a VP process expects data of unit scale
    # (Xiao et al. 2022 use images in [-1, 1]); 1.0: the data as loaded
    data_scale: float = field(default=1.0, metadata={"gt": 0})
    # MLP G only: x0 = c_skip x_t + c_out G(c_in x_t, t, z) for chain data of this std per coordinate (Karras et
    # al. 2022, eq. 7, in VP form); 0: G predicts x0 itself (Xiao et al. 2022)
    sigma_data: float = field(default=0.0, metadata={"ge": 0})
    beta_min: float = field(default=0.1, metadata={"gt": 0})
    beta_max: float = field(default=20.0, metadata={"gt": "beta_min"})
    g_lr: float = field(default=1.5e-4, metadata={"gt": 0})       # the paper's CIFAR-10 rates
    d_lr: float = field(default=1e-4, metadata={"gt": 0})
    betas: tuple[float, float] = field(default=(0.5, 0.9), metadata={"ge": 0, "lt": 1})   # Adam, both phases
    r1: float = field(default=0.05, metadata={"ge": 0})          # gamma of R1 on real x_{t-1} (0: off)
    r1_every: int = field(default=1, metadata={"ge": 1})         # lazy R1: every k steps, weighted by k
    d_steps: int = field(default=1, metadata={"ge": 1})          # D steps per G step
    # consecutive D batches of D winning outright before stopping (0: off)
    collapse_patience: int = field(default=200, metadata={"ge": 0})


@dataclass
class DDGANConfig:
    """The sections a ddgan run adds to [data] and [train]."""

    model: DDGANModelConfig = field(default_factory=DDGANModelConfig)
    ddgan: DDGANObjectiveConfig = field(default_factory=DDGANObjectiveConfig)
