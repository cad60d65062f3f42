"""The config sections of a video diffusion run: [model] (the space-time U-Net), [diffusion], [condition], [video]."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from genlab.diffusion.conditioning import ConditionConfig
from genlab.diffusion.config import DiffusionConfig
from genlab.latent.family import LatentConfig


@dataclass
class VideoNetConfig:
    """The space-time factorised U-Net (genlab.nn.video_unet.VideoUNet)."""

    channels: tuple[int, ...] = field(default=(16, 32, 64), metadata={"ge": 1})
    attention_levels: tuple[int, ...] = field(default=(2,), metadata={"ge": 0})   # spatial attention (and middle)
    # temporal attention (and the middle); None: the attention_levels, the layout of runs made before this key
    temporal_levels: tuple[int, ...] | None = field(default=None, metadata={"ge": 0})
    temporal_conv: bool = False     # a zero-initialised kernel-3 convolution over time after each residual block
    # "axial": attention across frames at each position (Ho et al. 2022); "full": over all frames and positions
    temporal_attention: Literal["axial", "full"] = "axial"
    heads: int = field(default=4, metadata={"ge": 1})
    groups: int = field(default=8, metadata={"ge": 1})


@dataclass
class VideoConfig:
    """Joint image-video training (Ho et al. 2022, sec. 3) and frame-mask conditioning (Harvey et al. 2022)."""

    # fraction of each batch's rows made of independent frames (still images, temporal attention masked)
    image_fraction: float = field(default=0.0, metadata={"ge": 0, "lt": 1})
    # fraction of video rows trained with some frames given (the rest unconditional); 0: no mask channel
    mask_prob: float = field(default=0.5, metadata={"ge": 0, "le": 1})
    # embed step 0 for the clean given frames instead of the clip's step t (a noise level per frame)
    given_at_zero: bool = False
    # feed every frame the nearest given frame and its time offset as extra input channels (as MCVD concatenates
    # its conditioning frames, Voleti et al. 2022): the shape of a given digit reaches each frame at every level
    reference: bool = False
    # move that reference by the given frames' global translation (phase correlation, genlab.video.motion), as
    # global motion compensation does in video coding: the given shape arrives near where the motion takes it
    motion: bool = False
    # with video.motion: the moved content reflects off the frame's edges instead of leaving the frame, as Moving
    # MNIST's digits bounce off the walls (genlab.video.motion.bounced)
    bounce: bool = False
    # with video.motion, training: the fraction of rows whose reference is the given frame aligned on the true
    # frames (genlab.video.motion.aligned_reference), the reference that re-aligning converges to when sampling
    align_prob: float = field(default=0.0, metadata={"ge": 0, "le": 1})
    # with video.motion, when sampling given frames: re-align that reference at every sampler step to where the
    # network's x0 estimate puts each unknown frame (genlab.video.continuation.SelfAligned); sampling only
    realign: bool = False
    # a code of what the given frames show, pooled over positions and frames (a content encoder, Villegas et al.
    # 2017), added to every frame's time embedding: the given digit's identity reaches every frame wherever it is
    content: bool = False
    # classifier-free guidance towards the given frames when sampling with them by the mask method (Ho & Salimans
    # 2022, eq. 6, the frame mask as the condition); 1: none; genlab sample --guidance overrides it
    guidance: float = field(default=1.0, metadata={"ge": 0})
    # reconstruction guidance weight w_r of Ho et al. 2022, eq. 7 (sampling with context by "reconstruction")
    reconstruction_weight: float = field(default=4.0, metadata={"ge": 0})


@dataclass
class VDMConfig:
    """The sections a `vdm` run adds to [data] and [train]; [condition] must stay kind = "none"."""

    model: VideoNetConfig = field(default_factory=VideoNetConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    condition: ConditionConfig = field(default_factory=ConditionConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    # frames of a trained autoencoder's latents (latent video diffusion, Blattmann et al. 2023); "": pixels
    latent: LatentConfig = field(default_factory=LatentConfig)
