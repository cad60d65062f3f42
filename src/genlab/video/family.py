"""Video diffusion as a family of the training loop (Ho et al. 2022): the DDPM family on clips (B, T, C, H, W).

The noise schedule, parameterisation, samplers and sampling pipeline are the `ddpm` family's
(genlab.diffusion.family): a clip is a tensor with one more axis. What differs is the network (the space-time
U-Net of genlab.nn.video_unet), the batch (still-image rows for joint image-video training; frame masks so that
one network also learns p(unknown frames | given frames), Harvey et al. 2022) and sampling given frames
(genlab.video.continuation).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.diffusion import pipeline
from genlab.diffusion.family import DiffusionFamily
from genlab.diffusion.losses import example_weight
from genlab.diffusion.parametrization import coefficients
from genlab.errors import ConfigError, ModelInputError
from genlab.latent.codec import LatentCodec, first_stage_codec, load_first_stage
from genlab.training.objective import Batch, DataInfo
from genlab.video.config import VDMConfig
from genlab.video.motion import aligned_reference, motion_reference
from genlab.video.network import FrameMaskedNet
from genlab.video.training_masks import frame_masks, still_rows

if TYPE_CHECKING:
    from genlab.training.run import Run

CONTEXT_OPTIONS = frozenset({"context", "frames", "method", "reconstruction_weight", "guidance", "realign"})


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
        self.autoencoder: Run | None = None
        self.latent_shape: tuple[int, int, int] | None = None
        if config.latent.autoencoder:     # latent video diffusion (Blattmann et al. 2023): diffuse frame latents
            self.autoencoder, self.latent_shape = load_first_stage(
                config.latent.autoencoder, image_shape=tuple(data.shape[1:]), what="latent video diffusion's frames")
            self.shape, self.bounded = (int(data.shape[0]), *self.latent_shape), False
        for key, on in (("bounce", config.video.bounce), ("align_prob", config.video.align_prob > 0)):
            if on and not config.video.motion:
                raise ConfigError(f"video.{key} acts on the moved reference: it needs video.motion = true")

    @property
    def frames(self) -> int:
        """The model's window: the number of frames it denoises together."""
        return int(self.shape[0])

    def build_models(self) -> dict[str, nn.Module]:
        models: dict[str, nn.Module] = {
            "model": FrameMaskedNet(self.config.model, shape=self.shape, mask_channel=self.config.video.mask_prob > 0,
                                    given_at_zero=self.config.video.given_at_zero,
                                    reference=self.config.video.reference, content=self.config.video.content,
                                    motion=self.config.video.motion)}
        if self.autoencoder is not None and self.latent_shape is not None:
            models["codec"] = first_stage_codec(self.autoencoder, self.config.latent, latent_shape=self.latent_shape)
        return models

    def encode_frames(self, models: Mapping[str, nn.Module], clips: Tensor, noise: Tensor | None = None) -> Tensor:
        """Clips (B, k, C, H, W) in [-1, 1] -> what the diffusion runs on (B, k, *self.shape[1:]): the clips
        themselves, or their frames' scaled latents (posterior means, or mu + sigma noise with noise (B, k * d))."""
        if self.autoencoder is None:
            return clips
        codec: LatentCodec = models["codec"]  # type: ignore[assignment]
        b, k = clips.shape[:2]
        flat_noise = None if noise is None else noise.reshape(b * k, -1)
        with torch.no_grad():
            z = codec.encode(clips.flatten(0, 1).to(codec.scale.device), noise=flat_noise).float()
        return z.view(b, k, *z.shape[1:])

    def encode_batch(self, models: Mapping[str, nn.Module], batch: Batch) -> Tensor:
        """The batch's clips as the diffusion sees them: (B, T, *self.shape[1:]); latents drawn from q(z|x) with
        the batch's randomness when latent.posterior = "sample" (Rombach et al. 2022)."""
        if self.autoencoder is None:
            return batch.x
        sample = self.config.latent.posterior == "sample"
        noise = batch.rng.randn(self.frames * models["codec"].vae.latent_dim) if sample else None  # type: ignore
        return self.encode_frames(models, batch.x, noise)

    def moved_reference(self, models: Mapping[str, nn.Module], clips: Tensor, given: Tensor,
                        aligned: Tensor | None = None) -> Tensor | None:
        """With video.motion, the motion-compensated reference of every frame (genlab.video.motion) of pixel clips
        (B, T, C, H, W) given `given` (B, T), as the diffusion sees frames (latents if latent), or None;
        `aligned` (B,) bool: rows whose reference is the given frame aligned on the clip's own frames instead."""
        if not self.config.video.motion:
            return None
        given = given.to(clips.device)
        reference = motion_reference(clips, given, bounce=self.config.video.bounce)
        if aligned is not None and bool(aligned.any()):
            on_truth = aligned_reference(clips, given, clips)
            reference = torch.where(aligned.to(clips.device)[:, None, None, None, None], on_truth, reference)
        return self.encode_frames(models, reference)

    def decode(self, models: Mapping[str, nn.Module], x0: Tensor) -> Tensor:
        """Samples (n, T, *self.shape[1:]) -> clips (n, T, C, H, W) in [-1, 1], through the frame decoder if latent."""
        if self.autoencoder is None:
            return x0
        frames = models["codec"].decode(x0.flatten(0, 1))  # type: ignore[operator]
        return frames.view(*x0.shape[:2], *frames.shape[1:])

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """L_simple (Ho et al. 2020, Algorithm 1) over the frames not given, on clips with still-image rows
        (Ho et al. 2022, sec. 3) and given frames held clean (Harvey et al. 2022, sec. 3)."""
        v = self.config.video
        x0, still = still_rows(self.encode_batch(models, batch), batch.rng, v.image_fraction)
        t = batch.rng.randint(self.schedule.T)
        noise = batch.rng.randn(*x0.shape[1:])
        given = frame_masks(batch.rng, self.frames, v.mask_prob, still=still)
        alpha, sigma = coefficients(self.schedule, t, x0)
        net = models["model"]
        aligned = batch.rng.rand() < v.align_prob if v.align_prob > 0 else None   # old runs keep their stream
        moved = self.moved_reference(models, batch.x, given, aligned)
        output = net(alpha * x0 + sigma * noise, t, x0, given if v.mask_prob > 0 else None, still,
                     **({} if moved is None else {"moved": moved}))
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
