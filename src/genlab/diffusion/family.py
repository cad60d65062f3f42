"""DDPM as a family of the training loop: a denoiser network + a noise schedule (Ho et al. 2020).

Training is Algorithm 1 (L_simple on the chosen parameterisation); sampling is Algorithm 2 (ancestral) or
DDIM (Song et al. 2021) on a sub-sequence of steps, from the EMA network. With a [condition] section the
denoiser also sees a class, a prompt or a low-resolution image, dropped with probability label_dropout in
training so that sampling can apply classifier-free guidance (genlab.latent.conditioning).

The hooks `encode_batch` and `decode` are identities here; latent diffusion (genlab.latent.family) overrides
them with an autoencoder, so the same loss and samplers run on its latents.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal, Mapping

import torch
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.diffusion.losses import l_simple
from genlab.diffusion.schedules import NoiseSchedule
from genlab.errors import ConfigError, ModelInputError
from genlab.latent.conditioning import ConditionConfig, check_condition_config
from genlab.training.objective import Batch, DataInfo, Phase


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
    """The noise process, the training target and the default sampler."""

    schedule: Literal["linear", "cosine", "sigmoid", "scaled_linear", "geodiff_sigmoid"] = "linear"
    T: int = field(default=1000, metadata={"ge": 2})
    prediction: Literal["eps", "x0", "v"] = "eps"        # Algorithm 1; prefer "v" under bf16 (demo.py)
    weighting: Literal["none", "min_snr"] = "none"
    sampler: Literal["ddim", "ancestral"] = "ddim"
    sample_steps: int = field(default=50, metadata={"ge": 1, "le": "T"})
    eta: float = field(default=0.0, metadata={"ge": 0})
    spacing: Literal["leading", "trailing", "linspace"] = "leading"
    variance: Literal["beta", "beta_tilde"] = "beta_tilde"
    clip_x0: bool = True


@dataclass
class DDPMConfig:
    """The sections a DDPM run adds to [data] and [train]."""

    model: DenoiserConfig = field(default_factory=DenoiserConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    condition: ConditionConfig = field(default_factory=ConditionConfig)


class DiffusionFamily:
    """Denoising diffusion (Ho et al. 2020) on images or vectors."""

    name: ClassVar[str] = "ddpm"
    Config: ClassVar[type] = DDPMConfig
    ema_modules = ("model",)

    def __init__(self, config: DDPMConfig, *, data: DataInfo, train: TrainConfig) -> None:
        self.config = config
        self.data = data
        self.train = train
        d = config.diffusion
        self.schedule = NoiseSchedule.from_name(d.schedule, T=d.T)
        self.shape: tuple[int, ...] = tuple(data.shape)     # what the diffusion runs on (latents for ldm)
        self.bounded = data.kind == "image"                  # x0 may be clipped to [-1, 1] while sampling
        check_condition_config(config.condition, num_classes=data.num_classes, kind=data.kind)
        self._captions: tuple[Tensor, Tensor] | None = None

    def build_models(self) -> dict[str, nn.Module]:
        m, info, c = self.config.model, self.data, self.config.condition
        arch = m.arch if m.arch != "auto" else ("unet" if info.kind == "image" else "mlp")
        if arch == "unet":
            if info.kind != "image":
                raise ConfigError(f"model.arch = 'unet' needs images, the data are vectors of shape {info.shape}")
            from genlab.latent.text import TEXT_DIM
            from genlab.nn.unet import UNet
            channels = self.shape[0]
            context_dim = {"text": TEXT_DIM, "class": c.context_dim if c.via == "cross_attention" else None}
            extra = info.shape[0] if c.kind == "image" else 0          # the low-res image's channels, concatenated
            net: nn.Module = UNet(in_channels=channels + extra, out_channels=channels,
                                  channels=m.channels, blocks_per_level=m.blocks_per_level,
                                  attention_levels=m.attention_levels, mid_attention=m.mid_attention, heads=m.heads,
                                  groups=m.groups, time_embedding=m.time_embedding, dropout=m.dropout,
                                  upsample=m.upsample,
                                  num_classes=info.num_classes if c.kind == "class" and c.via == "embedding" else None,
                                  context_dim=context_dim.get(c.kind))
            if c.kind != "none":
                from genlab.latent.conditioning import ConditionalUNet
                net = ConditionalUNet(net, kind=c.kind, num_classes=info.num_classes, via=c.via,
                                      context_dim=context_dim.get(c.kind))
        else:
            if info.kind != "vector":
                raise ConfigError(f"model.arch = 'mlp' needs vectors, the data are images of shape {info.shape}")
            from genlab.nn.mlp import MLPDenoiser
            net = MLPDenoiser(dim=info.shape[0], hidden=m.hidden, layers=m.layers)
        return {"model": net}

    def phases(self) -> list[Phase]:
        tc = self.train
        return [Phase("denoise", ("model",), lr=tc.lr, weight_decay=tc.weight_decay, grad_clip=tc.grad_clip or None)]

    def encode_batch(self, models: Mapping[str, nn.Module], batch: Batch) -> Tensor:
        """The x0 the diffusion runs on for a training batch: the items themselves here (latents for ldm)."""
        return batch.x

    def decode(self, models: Mapping[str, nn.Module], x0: Tensor) -> Tensor:
        """Samples of the diffusion (n, *self.shape) -> data space; the identity here."""
        return x0

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """L_simple of Algorithm 1 with t ~ U{0..T-1} and eps ~ N(0, I) drawn by the loop's batch randomness.

        A conditional model sees the batch's condition, replaced by the null one where u ~ U[0, 1) < label_dropout
        (classifier-free guidance training, Ho & Salimans 2022, Algorithm 1).
        """
        x0 = self.encode_batch(models, batch)
        t = batch.rng.randint(self.schedule.T)
        noise = batch.rng.randn(*x0.shape[1:])
        d, c = self.config.diffusion, self.config.condition
        model_fn = models["model"]
        if c.kind != "none":
            from genlab.latent.conditioning import drop_mask
            cond = self.training_condition(batch)
            drop = drop_mask(batch.rng.rand(), c.label_dropout)
            net = models["model"]
            model_fn = lambda x_t, t_: net(x_t, t_, cond, drop=drop)  # noqa: E731
        loss = l_simple(model_fn, self.schedule, x0, t=t, noise=noise, prediction=d.prediction,
                        weighting=d.weighting)
        return loss, {}

    def training_condition(self, batch: Batch) -> Any:
        """The condition of a training batch: its labels, a caption of each label, or its images made small."""
        from genlab.latent.conditioning import downsample_images
        c = self.config.condition
        if c.kind == "image":
            return downsample_images(batch.x, c.low_res)
        if batch.y is None:
            raise ModelInputError(f"condition.kind = '{c.kind}' needs labels in every batch; this dataset has none")
        if c.kind == "class":
            return batch.y
        from genlab.latent.captions import TRAIN_TEMPLATES
        context, mask = self.caption_bank()
        k = len(TRAIN_TEMPLATES)
        index = (batch.y * k + batch.rng.randint(k).to(batch.y.device)).cpu()
        return context[index].to(batch.x.device), mask[index].to(batch.x.device)

    def caption_bank(self) -> tuple[Tensor, Tensor]:
        """Encoded training captions, digit-major (10 * templates, L, 384) with masks; encoded once per process."""
        if self._captions is None:
            from genlab.latent.captions import caption_bank
            from genlab.latent.text import encode_prompts
            self._captions = encode_prompts(caption_bank())
        return self._captions

    def sampling_condition(self, n: int, *, label: Any = None, prompt: str | None = None,
                           low_res: Tensor | None = None) -> tuple[Any, bool]:
        """The condition of n samples from the sampling options, and whether it is the null one (no condition)."""
        c = self.config.condition
        kind = c.kind
        given = {"label": label is not None, "prompt": prompt is not None, "low_res": low_res is not None}
        allowed = {"class": "label", "text": "prompt", "image": "low_res"}.get(kind)
        for option, present in given.items():
            if present and option != allowed:
                what = {"none": "unconditional", "class": "class-conditional", "text": "text-conditional",
                        "image": "image-conditional (super-resolution)"}[kind]
                need = {"label": "class", "prompt": "text", "low_res": "image"}[option]
                raise ModelInputError(f"this run is {what}: --{option.replace('_', '-')} needs a run trained with "
                                      f"condition.kind = '{need}'")
        if kind == "none":
            return None, False
        if kind == "class":
            k = self.data.num_classes
            if label is None:
                return torch.arange(n) % k, False           # a grid row of every class
            labels = torch.as_tensor(label, dtype=torch.long).reshape(-1)
            if bool(((labels < 0) | (labels >= k)).any()):
                raise ModelInputError(f"--label must be a class in 0..{k - 1}, got {labels.tolist()}")
            return (labels.repeat(n // len(labels) + 1)[:n] if len(labels) != n else labels), False
        if kind == "text":
            from genlab.latent.captions import TRAIN_TEMPLATES, caption
            from genlab.latent.text import encode_prompts
            prompts = [prompt] * n if prompt is not None else [caption(i % 10, TRAIN_TEMPLATES[0]) for i in range(n)]
            return encode_prompts(prompts), False
        if low_res is None:
            return torch.zeros(n, self.data.shape[0], c.low_res, c.low_res), True
        if low_res.ndim != 4 or low_res.shape[0] not in (1, n) or low_res.shape[1] != self.data.shape[0]:
            raise ModelInputError(f"low-resolution images must be (1 or {n}, {self.data.shape[0]}, h, w) in [-1, 1], "
                                  f"got {tuple(low_res.shape)}")
        return low_res.float().expand(n, -1, -1, -1), False

    def model_fn(self, model: Callable[[Tensor, Tensor], Tensor], *, precision: str = "fp32",
                 device: torch.device | None = None) -> Callable[[Tensor, Tensor], Tensor]:
        """The network (or a guided function of it on `device`) as a sampler's model_fn(x_t, t), under bf16 autocast when asked."""
        if precision == "fp32":
            return model
        device = device or next(model.parameters()).device  # type: ignore[union-attr]

        def fn(x: Tensor, t: Tensor) -> Tensor:
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                return model(x, t).float()
        return fn

    @torch.no_grad()
    def sample(self, models: Mapping[str, nn.Module], n: int, *, generator: torch.Generator,
               sampler: str | None = None, steps: int | None = None, eta: float | None = None,
               spacing: str | None = None, variance: str | None = None, clip_x0: bool | None = None,
               precision: str | None = None, callback: Callable[..., None] | None = None,
               noise: Tensor | None = None, label: Any = None, prompt: str | None = None,
               guidance: float | None = None, low_res: Tensor | None = None) -> Tensor:
        """n samples (n, *shape) by DDIM or ancestral sampling; unset options take the run's [diffusion] values.

        Conditional runs take `label` (an int or n ints), `prompt` or `low_res` images (n, C, h, w) in [-1, 1],
        and the guidance scale w (default condition.guidance): eps_u + w (eps_c - eps_u) at every step.
        """
        from genlab.diffusion.sampling import sample_ancestral, sample_ddim
        from genlab.diffusion.timesteps import timesteps as make_timesteps

        d = self.config.diffusion
        sampler = sampler or d.sampler
        steps = steps or (d.sample_steps if sampler == "ddim" else d.T)
        if not 1 <= steps <= d.T:
            raise ModelInputError(f"sampling steps must be between 1 and T={d.T}, got {steps}")
        model = models["model"]
        device = next(model.parameters()).device
        cond, null = self.sampling_condition(n, label=label, prompt=prompt, low_res=low_res)
        if guidance is not None and self.config.condition.kind == "none":
            raise ModelInputError("--guidance needs a conditional run (trained with condition.kind = class, text "
                                  "or image)")
        x = noise if noise is not None else torch.randn((n, *self.shape), generator=generator)
        x = x.to(device)
        ts = make_timesteps(d.T, steps, spacing=spacing or d.spacing)
        if cond is not None:
            from genlab.latent.conditioning import condition_rows, guided_denoiser
            scale = 0.0 if null else (self.config.condition.guidance if guidance is None else float(guidance))
            cond = condition_rows(cond, slice(0, n))
            cond = tuple(c_.to(device) for c_ in cond) if isinstance(cond, tuple) else cond.to(device)
            model = guided_denoiser(model, cond, scale, batch=n)
        fn = self.model_fn(model, precision=precision or self.train.precision, device=device)
        # Vectors and latents are unbounded. Guided pixel sampling does not clip x0 either: DDIM's direction keeps
        # the network's (extrapolated) eps, and pairing it with a clipped x0 pulls samples off the data (docs/latent.md).
        guided = cond is not None and scale not in (0.0, 1.0)
        clip = (d.clip_x0 and self.bounded and not guided) if clip_x0 is None else clip_x0
        if sampler == "ddim":
            x0 = sample_ddim(fn, x, self.schedule, ts, prediction=d.prediction, eta=d.eta if eta is None else eta,
                             clip_x0=clip, generator=generator, callback=callback)
        elif sampler == "ancestral":
            x0 = sample_ancestral(fn, x, self.schedule, ts, prediction=d.prediction,
                                  variance=variance or d.variance, clip_x0=clip, generator=generator,
                                  callback=callback)
        else:
            raise ConfigError(f"unknown sampler {sampler!r}; expected 'ddim' or 'ancestral'")
        return self.decode(models, x0.clamp(-1.0, 1.0) if self.bounded else x0)

    @torch.no_grad()
    def likelihood(self, models: Mapping[str, nn.Module], x: Tensor, *, batch_size: int = 100, seed: int = 0,
                   num_terms: int | None = 100, progress: bool = True) -> dict[str, float]:
        """Variational bound in bits/dim of uint8 images x: (N, C, H, W) (Ho et al. 2020, eq. 5 and sec. 4.2).

        With `num_terms`, each image's sum over the T-1 KL terms is estimated from that many random timesteps
        (unbiased; L_T and L_0 exact); None evaluates all T terms (T network calls per batch).
        """
        from tqdm.auto import tqdm

        from genlab.data import to_float
        from genlab.diffusion.likelihood import bits_per_dim

        if self.data.kind != "image":
            raise ModelInputError("bits/dim is defined here for 8-bit images; this run models vectors")
        if self.config.condition.kind != "none":
            raise ModelInputError("bits/dim is reported for unconditional runs; this run is conditional")
        if tuple(x.shape[1:]) != tuple(self.data.shape):
            raise ModelInputError(f"images of shape {tuple(x.shape[1:])} given to a model of {tuple(self.data.shape)}")
        model = models["model"]
        gen = torch.Generator().manual_seed(seed)
        d = self.config.diffusion
        if num_terms is not None and num_terms >= self.schedule.T - 1:
            num_terms = None                                   # as many terms as there are: the exact sum
        totals, priors, decoders = [], [], []
        for chunk in tqdm(x.split(batch_size), desc="bits/dim", unit="batch", disable=not progress, leave=False):
            bound = bits_per_dim(model, self.schedule, to_float(chunk), prediction=d.prediction,
                                 variance=d.variance, num_terms=num_terms, generator=gen)
            totals.append(bound.total)
            priors.append(bound.prior)
            decoders.append(bound.decoder)
        total = torch.cat(totals).double()
        return {"bpd": total.mean().item(), "bpd_stderr": (total.std() / len(total) ** 0.5).item(),
                "bpd_prior": torch.cat(priors).mean().item(), "bpd_decoder": torch.cat(decoders).mean().item(),
                "bpd_images": len(total), "bpd_terms": num_terms or self.schedule.T}

