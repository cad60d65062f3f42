"""The MNIST classifier as a training-loop family: what `genlab train classifier` drives."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.errors import ConfigError, ModelInputError
from genlab.metrics.classifier import NUM_CLASSES, MnistClassifier
from genlab.training.objective import Batch, BatchRandom, DataInfo, Phase


def random_shift(x: Tensor, rng: BatchRandom, max_shift: int) -> Tensor:
    """Translate each image x: (b, C, H, W) in [-1, 1] by whole pixels in [-max_shift, max_shift], filling with -1."""
    if max_shift == 0:
        return x
    b, _, h, w = x.shape
    shifts = (rng.randint(2 * max_shift + 1, 2) - max_shift).to(x.dtype)      # (b, 2): dx, dy
    theta = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2.0 * shifts[:, 0] / w
    theta[:, 1, 2] = -2.0 * shifts[:, 1] / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1.0, grid, mode="nearest", padding_mode="zeros", align_corners=False) - 1.0


@dataclass
class AugmentConfig:
    """Training-time augmentation of the classifier."""

    max_shift: int = field(default=2, metadata={"ge": 0})              # random translation by up to this many pixels


@dataclass
class ClassifierConfig:
    """The section a classifier run adds to [data] and [train]."""

    augment: AugmentConfig = field(default_factory=AugmentConfig)


class ClassifierFamily:
    """The MNIST classifier as a training-loop family: one phase, cross-entropy on labelled images in [-1, 1]."""

    name: ClassVar[str] = "classifier"
    Config: ClassVar[type] = ClassifierConfig
    can_sample: ClassVar[bool] = False
    sample_options: ClassVar[frozenset[str]] = frozenset()
    has_likelihood: ClassVar[bool] = False
    ema_modules: tuple[str, ...] = ()

    def __init__(self, config: ClassifierConfig | None = None, *, data: DataInfo | None = None,
                 train: TrainConfig | None = None) -> None:
        self.config = config or ClassifierConfig()
        self.train = train or TrainConfig()
        if data is not None and (data.kind != "image" or tuple(data.shape) != (1, 28, 28)
                                 or data.num_classes != NUM_CLASSES):
            raise ConfigError(f"the classifier family trains on labelled 1x28x28 images with {NUM_CLASSES} classes "
                              f"(--data mnist), got {data.kind} data of shape {tuple(data.shape)} with "
                              f"{data.num_classes} classes")

    def build_models(self) -> dict[str, nn.Module]:
        """A fresh network {"model": MnistClassifier} (the loop seeds torch first)."""
        return {"model": MnistClassifier()}

    def warm_start(self, models: Mapping[str, nn.Module]) -> None:
        """Nothing: the classifier starts from the seeded initialisation."""

    def phases(self) -> list[Phase]:
        """One phase updating the whole network."""
        tc = self.train
        return [Phase("classify", ("model",), lr=tc.lr, weight_decay=tc.weight_decay, grad_clip=tc.grad_clip or None)]

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """Cross-entropy of the logits of randomly shifted images against `batch.y`; logs the batch accuracy."""
        if batch.y is None:
            raise ModelInputError("the classifier family needs labelled data (y), got a dataset without labels")
        logits = models["model"](random_shift(batch.x, batch.rng, self.config.augment.max_shift))
        loss = F.cross_entropy(logits, batch.y)
        return loss, {"accuracy": (logits.argmax(dim=1) == batch.y).float().mean().item()}

    def likelihood(self, models: Mapping[str, nn.Module], x: Tensor, **options: Any) -> dict[str, Any]:
        """Not defined for this family (has_likelihood is False)."""
        raise ModelInputError("a classifier is not a generative model: it has no likelihood (bpd/nll)")

    def sample(self, models: Mapping[str, nn.Module], n: int, *, generator: torch.Generator,
               **options: Any) -> Tensor:
        """Not applicable: a classifier does not generate."""
        raise ModelInputError("the classifier family cannot sample; use it for evaluation features")
