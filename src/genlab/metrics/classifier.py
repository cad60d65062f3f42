"""genlab's MNIST classifier as a feature network: its definition and the shipped weights, loaded for metrics.

A small CNN whose penultimate features give a fast MNIST Frechet distance. Its softmax gives a *classifier
score* (the Inception Score formula on this network's probabilities): useful to compare MNIST models with
each other, not comparable with published IS values. The shipped weights (`weights/mnist_classifier.safetensors`,
sidecar `.json` with test accuracy, seed and steps) are reproduced by
`genlab train classifier --config src/genlab/metrics/weights/mnist_classifier.toml`: the training family lives in
`genlab.classifier`; this module only defines the network and loads weights.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from torch import Tensor, nn

from genlab.errors import CheckpointError, ModelInputError

FEATURE_DIM = 128
NUM_CLASSES = 10
WEIGHTS_NAME = "mnist_classifier.safetensors"


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
        raise CheckpointError(f"{path} is not a genlab MNIST classifier state dict "
                              f"({exc.__class__.__name__})") from None
    return net.eval()
