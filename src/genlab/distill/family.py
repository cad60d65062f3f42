"""A distilled student as a family of the one training loop (Salimans & Ho 2022, Algorithm 2).

The student is a diffusion run: the teacher's network, schedule and condition, sampled by DDIM (eta 0) on the
trailing grid of `diffusion.sample_steps` = n steps, so `genlab sample` and `genlab eval` treat it as any ddpm
run. Its loss draws x from the data, a step t of its n-grid and eps from the loop's batch randomness, asks the
teacher (EMA weights, no gradients, loaded on the first loss call, never when the student is loaded) for two
DDIM steps over the 2n-grid, and regresses the student's x^ on the target x~ with the truncated-SNR weight
max(SNR_t, 1) (genlab.distill.target). A fresh student starts from the teacher's weights (`warm_start`).

The teacher's x0 is not clipped inside the target, as in the paper's implementation: the target stays a smooth
function of z_t, and the student's own sampler clips its x0 (diffusion.clip_x0) as the teacher's does.
A conditional student always sees its condition (no label dropout); the teacher is guided at distill.guidance,
so the student samples with the guidance baked in and one network call per step (Meng et al. 2023).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.diffusion.conditioning import training_condition
from genlab.diffusion.denoiser import Denoiser
from genlab.diffusion.family import DiffusionFamily
from genlab.diffusion.guidance import guided_model_fn
from genlab.distill.config import DistillConfig
from genlab.distill.grid import coefficients_to_clean, pair_steps
from genlab.distill.target import truncated_snr_weight, two_step_target, weighted_x_loss
from genlab.errors import CheckpointError, ConfigError
from genlab.training.checkpoint import load_module_state
from genlab.training.objective import Batch, DataInfo

if TYPE_CHECKING:
    from genlab.training.run import Run

STUDENT_OF = {"ddpm": "distill", "distill": "distill", "ldm": "distill_ldm", "distill_ldm": "distill_ldm"}
"""The student family of each family that can teach: pixel-space and latent diffusion, and earlier students."""


class DistillFamily(DiffusionFamily):
    """A student of progressive distillation: n DDIM steps that learn 2n steps of its teacher."""

    name: ClassVar[str] = "distill"
    Config: ClassVar[type] = DistillConfig
    has_likelihood: ClassVar[bool] = False       # trained at its n steps only: a bound over all T means nothing
    teacher_families: ClassVar[tuple[str, ...]] = ("ddpm", "distill")
    config: DistillConfig

    def __init__(self, config: DistillConfig, *, data: DataInfo, train: TrainConfig) -> None:
        super().__init__(config, data=data, train=train)
        s, d = config.distill, config.diffusion
        if not s.teacher:
            raise ConfigError("distill.teacher is empty; expected the teacher's run folder (see `genlab distill`)")
        if s.teacher_steps != 2 * d.sample_steps or 2 * d.sample_steps > d.T:
            raise ConfigError(f"distill.teacher_steps = {s.teacher_steps} must be twice diffusion.sample_steps = "
                              f"{d.sample_steps} and at most diffusion.T = {d.T}")
        if d.spacing != "trailing":
            raise ConfigError(f"a distilled student samples on the 'trailing' grid; diffusion.spacing = {d.spacing!r}")
        if s.guidance != 1.0 and config.condition.kind == "none":
            raise ConfigError(f"distill.guidance = {s.guidance} needs a conditional teacher; this one is unconditional")
        self._teacher: Run | None = None

    def teacher(self) -> Run:
        """The teacher run (EMA weights, eval mode, frozen), loaded once on first use."""
        if self._teacher is None:
            self._teacher = load_teacher(self.config.distill.teacher, student=self, families=self.teacher_families)
        return self._teacher

    def warm_start(self, models: Mapping[str, nn.Module]) -> None:
        """A fresh student starts as its teacher: the teacher's EMA weights (Salimans & Ho 2022, Algorithm 2)."""
        load_module_state(models["model"], self.teacher().models["model"].state_dict(),
                          what=f"the student of {self.config.distill.teacher}")

    def _networks(self, models: Mapping[str, nn.Module], batch: Batch, size: int) -> tuple[Denoiser, Denoiser]:
        """(student, teacher) as denoisers of this batch: conditioned on its condition, the teacher guided."""
        teacher = self.teacher()
        teacher_net = teacher.models["model"].to(batch.x.device)
        student: Any = models["model"]
        teacher_fn: Any = teacher_net
        c = self.config.condition
        if c.kind != "none":
            cond = training_condition(c, batch)
            student_net = student
            student = lambda x_t, t_: student_net(x_t, t_, cond)  # noqa: E731
            teacher_fn = guided_model_fn(teacher_net, cond, self.config.distill.guidance, batch=size)
        assert isinstance(teacher.family, DiffusionFamily)
        return self.denoiser(student), teacher.family.denoiser(teacher_fn)

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """w(t) ||x~ - x^||^2 with t among the student's n steps and eps from the batch randomness (Algorithm 2)."""
        x = self.encode_batch(models, batch)
        n = self.config.diffusion.sample_steps
        index = batch.rng.randint(n)
        eps = batch.rng.randn(*x.shape[1:])
        t, t_mid, t_next = (s.to(x.device) for s in pair_steps(self.schedule.T, n, index.cpu()))
        alpha, sigma = coefficients_to_clean(self.schedule, t, x)
        z_t = alpha * x + sigma * eps
        student, teacher = self._networks(models, batch, x.shape[0])
        with torch.no_grad():
            x_target = two_step_target(teacher.x0_eps, z_t, t=t, t_mid=t_mid, coef_t=(alpha, sigma),
                                       coef_mid=coefficients_to_clean(self.schedule, t_mid, x),
                                       coef_next=coefficients_to_clean(self.schedule, t_next, x))
        x_pred = student.x0(z_t, t)
        return weighted_x_loss(x_pred, x_target, truncated_snr_weight(alpha, sigma)).mean(), {}


def load_teacher(path: str, *, student: DiffusionFamily, families: tuple[str, ...]) -> Run:
    """A teacher run of one of `families` for this student, diffusing the same shape with the same schedule and T."""
    from genlab.training.run import load_run

    try:
        run = load_run(path)
    except CheckpointError as err:
        raise CheckpointError(f"distill.teacher: {err} (the teacher is needed to train the student, "
                              f"not to sample it)") from None
    teacher = check_teacher(run, families=families)
    d, td = student.config.diffusion, teacher.config.diffusion
    if (td.schedule, td.T) != (d.schedule, d.T) or tuple(teacher.shape) != tuple(student.shape):
        raise ConfigError(f"the teacher {path} has schedule {td.schedule!r}, T = {td.T} and diffuses shape "
                          f"{tuple(teacher.shape)}; the student has {d.schedule!r}, T = {d.T} and "
                          f"{tuple(student.shape)}")
    run.models["model"].eval().requires_grad_(False)
    return run


def check_teacher(run: Run, *, families: tuple[str, ...]) -> DiffusionFamily:
    """The run's family, or a one-line error unless it is one of `families` (a diffusion family)."""
    if run.config.family not in families or not isinstance(run.family, DiffusionFamily):
        raise ConfigError(f"{run.path} is a '{run.config.family}' run; this student needs a teacher of family "
                          f"{' or '.join(repr(f) for f in families)}")
    return run.family
