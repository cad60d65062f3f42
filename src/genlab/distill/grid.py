"""The timestep grids of progressive distillation, nested stage by stage, and the halving plan.

A student of n steps is sampled by DDIM on the "trailing" grid t_k = round(T - k T / n) - 1, k = 0..n-1
(genlab.diffusion.timesteps; Lin et al. 2023, Table 2), followed by "step -1" where alpha-bar = 1. Since
k T / n = 2k T / 2n, the n-grid is exactly every other step of the 2n-grid: the teacher's two DDIM steps of a
distillation pair go t_k -> (2n-grid step 2k+1) -> t_(k+1), with no rounding between stages (Salimans & Ho
2022, Algorithm 2, in discrete time). The grid needs 2n <= T, so that all 2n steps are distinct.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from genlab.diffusion.schedules import NoiseSchedule
from genlab.diffusion.timesteps import timesteps
from genlab.errors import ConfigError


def grid(T: int, n: int) -> Tensor:
    """The n trailing steps followed by -1 (clean data): (n + 1,) long, descending."""
    return torch.cat([timesteps(T, n, spacing="trailing"), torch.tensor([-1])])


def pair_steps(T: int, n: int, index: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(t, t', t'') of a student step index (B,) long in [0, n): the student's step, the 2n-grid midpoint
    and the student's next step (-1 after the last), each (B,) long."""
    fine = grid(T, 2 * n)
    return fine[2 * index], fine[2 * index + 1], fine[2 * index + 2]


def coefficients_to_clean(schedule: NoiseSchedule, t: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """(alpha, sigma) at steps t (B,) long in [-1, T-1], with alpha = 1, sigma = 0 at -1: each (B, 1, ..., 1),
    from the schedule's float64 table in x's dtype."""
    abar = torch.cat([torch.ones(1, dtype=torch.float64), torch.from_numpy(schedule.alphas_cumprod.copy())])
    a = abar[t.long().cpu() + 1].reshape(-1, *([1] * (x.ndim - 1)))        # float64, as the schedule's tables
    return a.sqrt().to(x.device, x.dtype), (1.0 - a).sqrt().to(x.device, x.dtype)


def default_from_steps(sample_steps: int) -> int:
    """The smallest power of two >= a teacher's diffusion.sample_steps (50 -> 64)."""
    return 1 << max(0, math.ceil(math.log2(sample_steps)))


def halvings(from_steps: int) -> list[int]:
    """The student step counts a teacher at from_steps can be distilled to: from_steps / 2^k, k >= 1."""
    out, n = [], from_steps
    while n % 2 == 0 and n > 1:
        n //= 2
        out.append(n)
    return out


def stage_plan(T: int, from_steps: int, to_steps: int) -> list[int]:
    """The students' steps, stage by stage (64 -> 4: [32, 16, 8, 4]); a one-line error for a bad pair."""
    if not 2 <= from_steps <= T:
        raise ConfigError(f"--from-steps must be between 2 and the teacher's T = {T}, got {from_steps}")
    allowed = halvings(from_steps)
    if to_steps not in allowed:
        hint = ", ".join(map(str, allowed)) if allowed else f"none: {from_steps} is odd, give an even --from-steps"
        raise ConfigError(f"--to-steps {to_steps} is not --from-steps {from_steps} halved k >= 1 times; "
                          f"expected one of: {hint}")
    return allowed[:allowed.index(to_steps) + 1]
