"""Export a trained classifier run: measure it on MNIST test and write its weights with a JSON sidecar."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genlab.classifier.family import ClassifierFamily
from genlab.errors import CheckpointError
from genlab.files import atomic_target, write_json_atomic
from genlab.metrics.classifier import MnistClassifier, shipped_weights_path

TRAINING_CONFIG = shipped_weights_path().with_name("mnist_classifier.toml")   # how the shipped weights were made


def save_mnist_classifier(net: MnistClassifier, path: str | Path, *, info: Mapping[str, Any]) -> None:
    """Write `net` as safetensors at `path` and `info` (test accuracy, seed, steps) as a JSON sidecar, atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_target(path) as tmp:
        save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(tmp))
    write_json_atomic(path.with_suffix(".json"), dict(info), sort_keys=True)


@torch.no_grad()
def accuracy(net: MnistClassifier, x: Tensor, y: Tensor, *, batch_size: int = 1000) -> float:
    """Share of uint8 images x: (N, 1, 28, 28) whose predicted class equals y: (N,)."""
    net.eval()
    correct = sum(int((net(xb.float() / 127.5 - 1.0).argmax(dim=1) == yb).sum())
                  for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True))
    return correct / len(x)


def export_classifier(run_dir: str | Path, path: str | Path | None = None) -> dict[str, Any]:
    """Measure a `genlab train classifier` run on MNIST test and write its weights + JSON sidecar
    (default: shipped path)."""
    from genlab.data import load_dataset
    from genlab.training.run import load_run

    run = load_run(run_dir, ema=False)
    if not isinstance(run.family, ClassifierFamily):
        raise CheckpointError(f"{run_dir} is a '{run.config.family}' run, not a classifier run")
    test = load_dataset("mnist", split="test")
    net = run.models["model"]
    if not isinstance(net, MnistClassifier):
        raise CheckpointError(f"{run_dir} holds a {type(net).__name__}, not an MNIST classifier network")
    tc = run.config.train
    info = {"test_accuracy": accuracy(net, torch.from_numpy(test.x), torch.from_numpy(test.y)),
            "seed": tc.seed, "steps": run.step, "batch_size": tc.batch_size, "lr": tc.lr,
            "lr_schedule": tc.lr_schedule, "max_shift": run.family.config.augment.max_shift,
            "data": run.config.data.name, "config": TRAINING_CONFIG.name,
            "command": f"genlab train classifier --config src/genlab/metrics/weights/{TRAINING_CONFIG.name}"}
    save_mnist_classifier(net, path if path is not None else shipped_weights_path(), info=info)
    return info
