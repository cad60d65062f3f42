"""Label accuracy of a class-conditional generator: the share of samples a classifier assigns to the asked class.

The conditional-GAN papers report it with a pretrained classifier (Odena et al. 2017, sec. 4.1; Miyato & Koyama
2018, sec. 5.1); here the classifier is genlab's MNIST network (`genlab.metrics.classifier`), so the metric
applies to MNIST-shaped runs. The labels cycle 0..K-1, so every class is asked for equally often.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.errors import ModelInputError


@torch.no_grad()
def label_accuracy(images: Tensor, labels: Tensor, classifier: nn.Module, *, num_classes: int,
                   batch_size: int = 500) -> dict[str, float | list[float]]:
    """images (N, C, H, W) in [-1, 1], asked labels (N,) -> {"label_accuracy": share classified as asked,
    "label_accuracy_per_class": the share among the samples asked for each class 0..K-1 (NaN if none)}."""
    if images.ndim != 4 or labels.shape != (len(images),):
        raise ModelInputError(f"label accuracy needs images (N, C, H, W) and labels (N,), got "
                              f"{tuple(images.shape)} and {tuple(labels.shape)}")
    if len(images) == 0:
        raise ModelInputError("label accuracy needs at least one image")
    predicted = torch.cat([classifier(chunk.float()).argmax(dim=1) for chunk in images.split(batch_size)])
    hit = (predicted.cpu() == labels.cpu()).double()
    counts = torch.bincount(labels.cpu(), minlength=num_classes).double()
    per_class = torch.bincount(labels.cpu(), weights=hit, minlength=num_classes) / counts
    return {"label_accuracy": round(hit.mean().item(), 4),
            "label_accuracy_per_class": [round(v, 4) for v in per_class.tolist()]}
