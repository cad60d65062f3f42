"""Video diffusion as a family of the training loop (Ho et al. 2022): the DDPM family on clips (B, T, C, H, W).

The noise schedule, parameterisation, samplers and sampling pipeline are the `ddpm` family's
(genlab.diffusion.family): a clip is a tensor with one more axis. What differs is the network (the space-time
U-Net of genlab.nn.video_unet), the batch (still-image rows for joint image-video training; frame masks so that
one network also learns p(unknown frames | given frames), Harvey et al. 2022) and sampling given frames
(genlab.video.continuation).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.diffusion import pipeline
from genlab.diffusion.family import DiffusionFamily
from genlab.diffusion.losses import example_weight
from genlab.diffusion.parametrization import coefficients
from genlab.errors import ConfigError, ModelInputError
from genlab.training.objective import Batch, DataInfo
from genlab.video.config import VDMConfig
from genlab.video.network import FrameMaskedNet
from genlab.video.training_masks import frame_masks, still_rows

CONTEXT_OPTIONS = frozenset({"context", "frames", "method", "reconstruction_weight"})


class VideoDiffusionFamily(DiffusionFamily):
    """Video diffusion (Ho et al. 2022) with frame-mask conditioning (Harvey et al. 2022) on clips."""

    name: ClassVar[str] = "vdm"
    Config: ClassVar[type] = VDMConfig
    sample_options: ClassVar[frozenset[str]] = pipeline.SAMPLE_OPTIONS - {"label", "prompt", "low_res", "known",
                                                                           "mask"} | CONTEXT_OPTIONS
    has_likelihood: ClassVar[bool] = False

    def __init__(self, config: VDMConfig, *, data: DataInfo, train: TrainConfig) -> None:
        if data.kind != "video":
            raise ConfigError(f"'vdm' trains on videos (N, T, C, H, W), e.g. --data moving-mnist; the data are "
                              f"{data.kind}s of shape {tuple(data.shape)}")
        if config.condition.kind != "none":
            raise ConfigError(f"condition.kind = '{config.condition.kind}' is not available for 'vdm' runs; they "
                              "are conditioned on given frames (genlab sample --context)")
        super().__init__(config, data=data, train=train)  # type: ignore[arg-type]
        self.config: VDMConfig = config  # type: ignore[assignment]
        self.bounded = True

    @property
    def frames(self) -> int:
        """The model's window: the number of frames it denoises together."""
        return int(self.shape[0])

    def build_models(self) -> dict[str, nn.Module]:
        return {"model": FrameMaskedNet(self.config.model, shape=self.shape,
                                        mask_channel=self.config.video.mask_prob > 0,
                                        given_at_zero=self.config.video.given_at_zero)}

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """L_simple (Ho et al. 2020, Algorithm 1) over the frames not given, on clips with still-image rows
        (Ho et al. 2022, sec. 3) and given frames held clean (Harvey et al. 2022, sec. 3)."""
        v = self.config.video
        x0, still = still_rows(batch.x, batch.rng, v.image_fraction)
        t = batch.rng.randint(self.schedule.T)
        noise = batch.rng.randn(*x0.shape[1:])
        given = frame_masks(batch.rng, self.frames, v.mask_prob, still=still)
        alpha, sigma = coefficients(self.schedule, t, x0)
        net = models["model"]
        output = net(alpha * x0 + sigma * noise, t, x0, given if v.mask_prob > 0 else None, still)
        denoiser = self.denoiser(net)
        error = (output.float() - denoiser.target(x0, noise, t).float()).pow(2).flatten(2).mean(dim=2)  # (B, T)
        weight = (~given).float() * self.loss_weight(t)[:, None]
        loss = (error * weight).sum() / (~given).sum().clamp(min=1)
        return loss, {"given_frames": given.float().mean().item()}

    def loss_weight(self, t: Tensor) -> Tensor:
        """The weight (B,) of each row's squared error at steps t (B,): 1, or min-SNR-5 (Hang et al. 2023, eq. 9).

        With v-prediction, min-SNR scales the error at SNR << 1 by about the SNR, so the high-noise half of a
        linear schedule gets 3.5% of the weight: the steps where a continuation decides which digit it draws
        and where, from the given frames (docs/video.md).
        """
        d = self.config.diffusion
        return example_weight(self.schedule, t, weighting=d.weighting, prediction=d.prediction)

    def sample(self, models: Mapping[str, nn.Module], n: int, *, generator: torch.Generator,
               **options: Any) -> Tensor:
        """n clips (n, T', C, H, W) in [-1, 1]; `context` (1 or n, k, C, H, W) given first frames and `frames` = T'
        the clip length (genlab.video.continuation); the other options are genlab.diffusion.pipeline's."""
        unknown = sorted(set(options) - self.sample_options)
        if unknown:
            raise ModelInputError(f"sampling option {unknown[0]!r} does not apply to a '{self.name}' run; "
                                  f"expected some of: {', '.join(sorted(self.sample_options))}")
        from genlab.video.continuation import sample_clips
        return sample_clips(self, models, n, generator=generator, **options)
