"""Which of the T training timesteps a sampler visits: the spacings of Lin et al. 2023 (arXiv:2305.08891),
Table 2, as in diffusers.

With T training steps and n sampling steps, descending and 0-indexed:
  "leading":  (T // n) * k + offset for k = n-1, ..., 0        (DDIM's original choice; ends at `offset`)
  "trailing": round(T - k T / n) - 1 for k = 0, ..., n-1        (starts at T-1, the pure-noise end)
  "linspace": round(linspace(0, T-1, n)) reversed               (both ends)
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from genlab.errors import ConfigError

Spacing = Literal["leading", "trailing", "linspace"]


def timesteps(T: int, num_steps: int, *, spacing: Spacing = "leading", offset: int = 0) -> Tensor:
    """The descending timesteps a sampler visits, a (num_steps,) long tensor with values in [0, T-1].

    `offset` shifts "leading" timesteps (diffusers' steps_offset); the other spacings take none.
    """
    if not isinstance(num_steps, int) or not 1 <= num_steps <= T:
        raise ConfigError(f"the number of sampling steps must be an integer in [1, {T}], got {num_steps!r}")
    if offset and spacing != "leading":
        raise ConfigError(f"a timestep offset applies to 'leading' spacing only, got spacing {spacing!r}")
    k = np.arange(num_steps)
    steps: np.ndarray
    if spacing == "leading":
        steps = (k * (T // num_steps) + offset)[::-1]
    elif spacing == "trailing":
        steps = np.round(T - k * (T / num_steps)).astype(np.int64) - 1
    elif spacing == "linspace":
        steps = np.round(np.linspace(0, T - 1, num_steps))[::-1]
    else:
        raise ConfigError(f"unknown timestep spacing {spacing!r}; expected 'leading', 'trailing' or 'linspace'")
    steps = np.array(steps, dtype=np.int64)  # a copy: torch refuses negative strides
    if steps.min() < 0 or steps.max() > T - 1:
        raise ConfigError(f"offset {offset} puts timesteps outside [0, {T - 1}]")
    return torch.from_numpy(steps)
