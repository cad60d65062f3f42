"""What the image-to-image families share: two image sides of one size, Adam phases, and no sampling of their own."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.errors import ConfigError, ModelInputError
from genlab.training.objective import Batch, DataInfo, Phase

Direction = Literal["a2b", "b2a"]


class TranslationFamily:
    """A family trained on batches with an a side (`batch.x`) and a b side (`batch.b`) that maps one to the other."""

    name: ClassVar[str]
    Config: ClassVar[type]
    sample_options: ClassVar[frozenset[str]] = frozenset()
    has_likelihood: ClassVar[bool] = False
    can_sample: ClassVar[bool] = False
    directions: ClassVar[tuple[Direction, ...]] = ("a2b",)

    def __init__(self, *, data: DataInfo, train: TrainConfig, lr_key: str) -> None:
        if data.kind != "image" or data.b_shape is None or len(data.shape) != 3:
            raise ConfigError(f"{self.name} needs two image sides (a task such as mnist-edges, an .npz with arrays a "
                              "and b, or --data-a A --data-b B)")
        if train.lr != TrainConfig.lr:
            raise ConfigError(f"train.lr = {train.lr} is not used by {self.name}: set {lr_key} (both phases)")
        a, b = data.shape, data.b_shape
        if a[1:] != b[1:]:
            raise ConfigError(f"{self.name} maps images to images of the same size, but the a side is "
                              f"{a[1]}x{a[2]} and the b side {b[1]}x{b[2]}: set data.image_size")
        self.a_shape: tuple[int, int, int] = (a[0], a[1], a[2])
        self.b_shape: tuple[int, int, int] = (b[0], b[1], b[2])
        self.train = train

    def warm_start(self, models: Mapping[str, nn.Module]) -> None:
        """Nothing: the networks start from the seeded initialisation."""

    def adam_phase(self, name: str, modules: tuple[str, ...], *, lr: float, betas: tuple[float, float]) -> Phase:
        """One Adam phase with the run's weight decay and gradient clipping."""
        return Phase(name, modules, lr=lr, betas=betas, weight_decay=self.train.weight_decay,
                     grad_clip=self.train.grad_clip or None)

    def sides(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """(a, b): the batch's two sides, (B, C_a, H, W) and (B, C_b, H, W) in [-1, 1]."""
        if batch.b is None:
            raise ModelInputError(f"{self.name} needs batches with a b side (batch.b), got none")
        return batch.x, batch.b

    def input_shape(self, direction: Direction) -> tuple[int, int, int]:
        """The (C, H, W) of the images translated in `direction`: the a side's for a2b, the b side's for b2a."""
        if direction not in self.directions:
            raise ModelInputError(f"a {self.name} run translates {' and '.join(self.directions)}, not {direction}")
        return self.a_shape if direction == "a2b" else self.b_shape

    def generator(self, models: Mapping[str, nn.Module], direction: Direction) -> nn.Module:
        """The network that translates in `direction`."""
        raise NotImplementedError

    @torch.no_grad()
    def translate(self, models: Mapping[str, nn.Module], x: Tensor, *, direction: Direction = "a2b") -> Tensor:
        """Images x: (B, C_in, H, W) in [-1, 1] -> their translations (B, C_out, H, W) in [-1, 1]."""
        shape = self.input_shape(direction)
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            raise ModelInputError(f"this {self.name} run translates images of shape {'x'.join(map(str, shape))} "
                                  f"({direction[0]} side), got {'x'.join(map(str, x.shape[1:]))}")
        G = self.generator(models, direction)
        device = next(G.parameters()).device
        return G(x.to(device)).float().cpu()

    def sample(self, models: Mapping[str, nn.Module], n: int, *, generator: torch.Generator,
               **options: Any) -> Tensor:
        """Not defined: these families translate given images (can_sample is False)."""
        raise ModelInputError(f"a {self.name} run translates images instead of sampling them: use "
                              "`genlab translate RUN --in IMAGES --out FOLDER`")

    def likelihood(self, models: Mapping[str, nn.Module], x: Tensor, **options: Any) -> dict[str, Any]:
        """Not defined for this family (has_likelihood is False)."""
        raise ModelInputError(f"a {self.name} run defines no likelihood; score its translations with "
                              "`genlab translate` (PSNR against targets)")
