"""The class labels of a sampling call: one parser for `--label` / `label=` of every class-conditional family."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genlab.errors import ModelInputError


def class_labels(label: Any, n: int, num_classes: int) -> Tensor:
    """n labels int64 (n,) from a label option: None cycles 0..K-1; an int or a sequence of ints repeats to n."""
    if label is None:
        return torch.arange(n) % num_classes
    try:
        labels = torch.as_tensor(label).reshape(-1).long()
    except (TypeError, ValueError, RuntimeError):
        raise ModelInputError(f"--label must be a class in 0..{num_classes - 1} or a list of them, "
                              f"got {label!r}") from None
    if labels.numel() == 0:
        raise ModelInputError(f"--label must be a class in 0..{num_classes - 1}, got no labels")
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.numel():
        shown = sorted(set(bad.tolist()))
        more = ", ..." if len(shown) > 5 else ""
        raise ModelInputError(f"--label must be a class in 0..{num_classes - 1}, got "
                              f"{', '.join(map(str, shown[:5]))}{more}")
    return labels if len(labels) == n else labels.repeat(n // len(labels) + 1)[:n]


def sampled_classes(family: Any, num_classes: int | None) -> int | None:
    """K when `family` draws class-conditional samples (label i % K for sample i unless one is given), else None:
    a conditional GAN (model.condition) or diffusion with condition.kind = 'class'."""
    condition = getattr(getattr(family, "config", None), "condition", None)
    conditional = getattr(family, "conditional", False) is True or getattr(condition, "kind", None) == "class"
    return num_classes if conditional and num_classes else None
