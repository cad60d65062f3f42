"""genlab's own MNIST classifier: a small CNN whose penultimate features give a fast MNIST Frechet distance.

The shipped weights (`weights/mnist_classifier.safetensors`, sidecar `.json` with test accuracy, seed and
steps) are reproduced by `genlab train classifier --config weights/mnist_classifier.toml`, which drives
`ClassifierFamily` through the one training loop, then `export_classifier(run_dir)`. Its softmax gives a *classifier score* (the Inception Score formula on this network's
probabilities): useful to compare MNIST models with each other, not comparable with published IS values.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.errors import CheckpointError, ConfigError, ModelInputError
from genlab.training.objective import Batch, BatchRandom, DataInfo, Phase

FEATURE_DIM = 128
NUM_CLASSES = 10
WEIGHTS_NAME = "mnist_classifier.safetensors"
TRAINING_CONFIG = Path(__file__).with_name("weights") / "mnist_classifier.toml"   # how the shipped weights were made


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class MnistClassifier(nn.Module):
    """Conv(32) -> pool -> Conv(64) -> pool -> Conv(64) -> pool -> FC(128) features -> 10 logits.

    Input x: (B, 1, 28, 28) float in [-1, 1]. `features(x)`: (B, 128) after ReLU; `forward(x)`: logits (B, 10).
    """

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_block(1, 32), nn.MaxPool2d(2),      # 28 -> 14
            _conv_block(32, 64), nn.MaxPool2d(2),     # 14 -> 7
            _conv_block(64, 64), nn.MaxPool2d(2),     # 7 -> 3
            nn.Flatten(), nn.Linear(64 * 3 * 3, FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features (B, 128) of images x: (B, 1, 28, 28) in [-1, 1]."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ModelInputError(f"MNIST classifier expects images of shape (B, 1, 28, 28), got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (B, 10) of images x: (B, 1, 28, 28) in [-1, 1]."""
        return self.head(self.features(x))


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

    max_shift: int = field(default=2, metadata={"ge": 0})  # random translation by up to this many pixels


@dataclass
class ClassifierConfig:
    """The section a classifier run adds to [data] and [train]."""

    augment: AugmentConfig = field(default_factory=AugmentConfig)


class ClassifierFamily:
    """The MNIST classifier as a training-loop family: one phase, cross-entropy on labelled images in [-1, 1]."""

    name: ClassVar[str] = "classifier"
    Config: ClassVar[type] = ClassifierConfig
    can_sample: ClassVar[bool] = False
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

    def sample(self, models: Mapping[str, nn.Module], n: int, *, generator: torch.Generator,
               **options: Any) -> Tensor:
        """Not applicable: a classifier does not generate."""
        raise ModelInputError("the classifier family cannot sample; use it for evaluation features")


def shipped_weights_path() -> Path:
    """Path of the MNIST classifier weights shipped inside the package."""
    return Path(str(resources.files("genlab.metrics") / "weights" / WEIGHTS_NAME))


def load_mnist_classifier(path: str | Path | None = None) -> MnistClassifier:
    """The trained classifier in eval mode, from `path` (a safetensors file) or the shipped weights."""
    from safetensors.torch import load_file

    path = Path(path) if path is not None else shipped_weights_path()
    if not path.is_file():
        raise CheckpointError(f"MNIST classifier weights not found at {path}; expected a .safetensors file "
                              "(train them with `genlab train classifier --data mnist`)")
    net = MnistClassifier()
    try:
        state = load_file(str(path))
        net.load_state_dict(state)
    except Exception as exc:  # safetensors or state-dict mismatch: one line, not a traceback
        raise CheckpointError(f"{path} is not a genlab MNIST classifier state dict ({exc.__class__.__name__})") from None
    return net.eval()


def save_mnist_classifier(net: MnistClassifier, path: str | Path, *, info: Mapping[str, Any]) -> None:
    """Write `net` as safetensors at `path` and `info` (test accuracy, seed, steps) as a JSON sidecar."""
    from safetensors.torch import save_file

    path = Path(path)
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(path))
    path.with_suffix(".json").write_text(json.dumps(dict(info), indent=2, sort_keys=True) + "\n")


@torch.no_grad()
def test_accuracy(net: MnistClassifier, x: Tensor, y: Tensor, *, batch_size: int = 1000) -> float:
    """Share of uint8 images x: (N, 1, 28, 28) whose predicted class equals y: (N,)."""
    net.eval()
    correct = sum(int((net(xb.float() / 127.5 - 1.0).argmax(dim=1) == yb).sum())
                  for xb, yb in zip(x.split(batch_size), y.split(batch_size)))
    return correct / len(x)


def export_classifier(run_dir: str | Path, path: str | Path | None = None) -> dict[str, Any]:
    """Measure a `genlab train classifier` run on MNIST test and write its weights + JSON sidecar (default: shipped path)."""
    from genlab.data import load_dataset
    from genlab.training.run import load_run

    run = load_run(run_dir, ema=False)
    if run.config.family != ClassifierFamily.name:
        raise CheckpointError(f"{run_dir} is a '{run.config.family}' run, not a classifier run")
    test = load_dataset("mnist", split="test")
    net = run.models["model"]
    tc = run.config.train
    info = {"test_accuracy": test_accuracy(net, torch.from_numpy(test.x), torch.from_numpy(test.y)),
            "seed": tc.seed, "steps": run.step, "batch_size": tc.batch_size, "lr": tc.lr,
            "lr_schedule": tc.lr_schedule, "max_shift": run.config.sections.augment.max_shift,
            "data": run.config.data.name, "config": TRAINING_CONFIG.name,
            "command": f"genlab train classifier --config src/genlab/metrics/weights/{TRAINING_CONFIG.name}"}
    save_mnist_classifier(net, path if path is not None else shipped_weights_path(), info=info)
    return info
