"""Denoising diffusion GANs as a family of the training loop: a discriminator phase, then a generator phase.

Xiao, Kreis & Vahdat (2022): the reverse chain has only T (2 to 8) steps, too large for a Gaussian denoiser,
so each step is a conditional GAN. G(x_t, t, z) predicts x0 and x_{t-1} is drawn from the posterior
q(x_{t-1} | x_t, x0) (eq. 8); a time-conditional D(x_{t-1}, x_t, t) tells those pairs from the forward chain's
(eq. 6-7), with the non-saturating loss and R1 on real x_{t-1} (sec. 3.4, app. B). Training pairs, posterior
draws and the schedule are genlab.ddgan.process; the losses and R1 are genlab.gan's; EMA of G and checkpoints
are the loop's.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.ddgan.config import DDGANConfig
from genlab.ddgan.networks import ConvDiscriminator, ConvGenerator, MLPDiscriminator, MLPGenerator
from genlab.ddgan.process import ddgan_schedule, q_sample_pairs, sample_posterior, x0_preconditioning
from genlab.diffusion.schedules import extract
from genlab.errors import ConfigError, ModelInputError
from genlab.gan.losses import d_loss_bce, g_loss_nonsaturating, r1_penalty
from genlab.gan.monitor import CollapseMonitor
from genlab.nn.hardware import resolve_precision
from genlab.training.objective import Batch, DataInfo, Phase

StepCallback = Callable[[int, int, Tensor, Tensor], None]


class DDGANFamily:
    """Denoising diffusion GANs (Xiao et al. 2022) on images or vectors: T generator calls per sample."""

    name: ClassVar[str] = "ddgan"
    Config: ClassVar[type] = DDGANConfig
    ema_modules: tuple[str, ...] = ("G",)
    sample_options: ClassVar[frozenset[str]] = frozenset({"precision", "callback"})
    sampler_note: ClassVar[str] = "it samples with its own T-step chain"
    has_likelihood: ClassVar[bool] = False
    can_sample: ClassVar[bool] = True

    def __init__(self, config: DDGANConfig, *, data: DataInfo, train: TrainConfig) -> None:
        self.config, self.data, self.train = config, data, train
        m, d = config.model, config.ddgan
        if train.lr != TrainConfig.lr:
            raise ConfigError(f"train.lr = {train.lr} is not used by ddgan: set ddgan.g_lr and ddgan.d_lr "
                              "(one per phase)")
        self.schedule = ddgan_schedule(d.T, beta_min=d.beta_min, beta_max=d.beta_max)
        self.arch = m.arch if m.arch != "auto" else ("conv" if data.kind == "image" else "mlp")
        if self.arch == "conv" and (data.kind != "image" or len(data.shape) != 3):
            raise ConfigError(f"model.arch = 'conv' needs images, the data are {data.kind}s of shape {data.shape}")
        if self.arch == "conv" and d.data_scale > 1:
            raise ConfigError(f"ddgan.data_scale = {d.data_scale} puts images beyond the conv generator's tanh "
                              "range [-1, 1]; use a scale in (0, 1]")
        if self.arch == "conv" and d.sigma_data > 0:
            raise ConfigError(f"ddgan.sigma_data = {d.sigma_data} preconditions the MLP generator only; the conv "
                              "generator predicts x0 through its tanh: use ddgan.sigma_data = 0")
        self.precond = x0_preconditioning(self.schedule, d.sigma_data) if d.sigma_data > 0 else None
        for key, p in (("patch", m.patch), ("d_patch", m.d_patch)):
            if self.arch == "conv" and (data.shape[1] % p or data.shape[2] % p):
                raise ConfigError(f"model.{key} = {p} must divide the image size {data.shape[1]}x{data.shape[2]}")
        self.monitor = CollapseMonitor(loss="nonsaturating", patience=d.collapse_patience)

    def build_models(self) -> dict[str, nn.Module]:
        m, info = self.config.model, self.data
        if self.arch == "conv":
            shape = (info.shape[0], info.shape[1], info.shape[2])
            G: nn.Module = ConvGenerator(shape=shape, latent_dim=m.latent_dim, channels=m.channels, groups=m.groups,
                                         patch=m.patch)
            D: nn.Module = ConvDiscriminator(shape=shape, channels=m.d_channels, slope=m.d_slope, patch=m.d_patch)
        else:
            dim = int(torch.tensor(info.shape).prod())
            G = MLPGenerator(dim=dim, latent_dim=m.latent_dim, hidden=m.hidden, layers=m.layers, fourier=m.fourier)
            D = MLPDiscriminator(dim=dim, hidden=m.hidden, layers=m.layers, slope=m.d_slope, fourier=m.fourier)
        return {"G": G, "D": D}

    def warm_start(self, models: Mapping[str, nn.Module]) -> None:
        """Nothing: G and D start from the seeded initialisation."""

    def phases(self) -> list[Phase]:
        d, tc = self.config.ddgan, self.train
        clip = tc.grad_clip or None
        return [Phase("D", ("D",), lr=d.d_lr, betas=d.betas, weight_decay=tc.weight_decay, repeats=d.d_steps,
                      grad_clip=clip),
                Phase("G", ("G",), lr=d.g_lr, betas=d.betas, weight_decay=tc.weight_decay, grad_clip=clip)]

    def predict_x0(self, G: nn.Module, x_t: Tensor, t: Tensor, z: Tensor) -> Tensor:
        """G's x0 for x_t: (B, ...) at t: (B,), z: (B, latent_dim); preconditioned when ddgan.sigma_data > 0
        (x0 = c_skip x_t + c_out G(c_in x_t, t, z), Karras et al. 2022, eq. 7), else G's output itself."""
        if self.precond is None:
            return G(x_t, t, z)
        c_skip, c_out, c_in = (extract(c, t, x_t) for c in self.precond)
        return c_skip * x_t + c_out * G(c_in * x_t, t, z)

    def _pairs_and_fake(self, G: nn.Module, batch: Batch) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """t ~ U{0..T-1}, a forward pair (x_{t-1}, x_t) of the batch, and G's x_{t-1} drawn from the posterior."""
        x0, rng = batch.x * self.config.ddgan.data_scale, batch.rng
        t = rng.randint(self.schedule.T)
        x_prev, x_t = q_sample_pairs(self.schedule, x0, t, rng.randn(*x0.shape[1:]).to(x0.dtype),
                                     rng.randn(*x0.shape[1:]).to(x0.dtype))
        z = rng.randn(self.config.model.latent_dim).to(x0.dtype)
        x0_pred = self.predict_x0(G, x_t, t, z).to(x0.dtype)
        fake_prev = sample_posterior(self.schedule, x0_pred, x_t, t, rng.randn(*x0.shape[1:]).to(x0.dtype))
        return t, x_prev, x_t, fake_prev

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """D: -log D(real pair) - log(1 - D(fake pair)) + gamma/2 R1; G: -log D(fake pair) (Xiao et al. 2022, eq. 9)."""
        G, D = models["G"], models["D"]
        if phase == "G":
            t, _, x_t, fake_prev = self._pairs_and_fake(G, batch)
            loss = g_loss_nonsaturating(D(fake_prev, x_t, t))
            self.monitor.observe_g(loss.item())
            return loss, {}
        if phase != "D":
            raise ConfigError(f"the ddgan family has phases 'D' and 'G', not {phase!r}")
        with torch.no_grad():
            t, x_prev, x_t, fake_prev = self._pairs_and_fake(G, batch)
        real_score, fake_score = D(x_prev, x_t, t), D(fake_prev, x_t, t)
        loss = d_loss_bce(real_score, fake_score)
        logs = {"D(x)": torch.sigmoid(real_score.detach().float()).mean().item(),
                "D(G(z))": torch.sigmoid(fake_score.detach().float()).mean().item()}
        d = self.config.ddgan
        if d.r1 > 0 and batch.step % d.r1_every == 0:        # lazy R1 weighted by its interval (Karras et al. 2020)
            r1 = r1_penalty(lambda v: D(v, x_t, t), x_prev)
            loss = loss + 0.5 * d.r1 * d.r1_every * r1
            logs["r1"] = r1.item()
        self.monitor.observe_d(real_score, fake_score)
        return loss, logs

    @torch.no_grad()
    def likelihood(self, models: Mapping[str, nn.Module], x: Tensor, **options: Any) -> dict[str, Any]:
        """Not defined for this family (has_likelihood is False)."""
        raise ModelInputError("a denoising diffusion GAN defines no likelihood (bpd/nll); judge it by sample "
                              "metrics (fid, pr, modes)")

    @torch.no_grad()
    def sample(self, models: Mapping[str, nn.Module], n: int, *, generator: torch.Generator,
               precision: str | None = None, callback: StepCallback | None = None) -> Tensor:
        """n samples by the T-step chain x_T ~ N(0, I), x_{t-1} ~ q(x_{t-1} | x_t, G(x_t, t, z)) (Xiao et al. 2022,
        sec. 3.3), the last step without noise; (n, *data shape), images in [-1, 1]. callback(i, t, x_t, x0_pred)."""
        G = models["G"]
        device = next(G.parameters()).device
        bf16 = resolve_precision(precision or self.train.precision, device, kind=self.data.kind)[0] == "bf16"
        x = torch.randn((n, *self.data.shape), generator=generator).to(device)
        for i, step in enumerate(reversed(range(self.schedule.T))):
            t = torch.full((n,), step, dtype=torch.long, device=device)
            z = torch.randn((n, self.config.model.latent_dim), generator=generator).to(device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                x0 = self.predict_x0(G, x, t, z).float()
            x_prev = sample_posterior(self.schedule, x0, x, t, torch.randn(x.shape, generator=generator).to(device))
            if callback is not None:
                callback(i, step, x, x0)
            x = x_prev
        return x / self.config.ddgan.data_scale
