"""Precision and recall on k-NN manifolds (Kynkaanniemi et al. 2019, eq. 1-2) and density and coverage
(Naeem et al. 2020, eq. 3-4).

A sample set's manifold is the union of balls around each sample with radius its distance to its k-th
nearest other sample. Distances are computed block by block (`batch_size` rows at a time) so memory is
O(batch_size * N), never O(N^2).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from genlab.errors import ModelInputError
from genlab.metrics.inputs import feature_matrices


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


class DensityCoverage(NamedTuple):
    density: float
    coverage: float


def _pair(real: Any, fake: Any, k: int) -> tuple[Tensor, Tensor]:
    r, f = feature_matrices(real, fake, ("real features", "fake features"))
    if min(len(r), len(f)) <= k:
        raise ModelInputError(f"need more than k={k} samples in each set, got {len(r)} real and {len(f)} fake")
    return torch.from_numpy(r), torch.from_numpy(f)


def knn_radii(x: Tensor, k: int, *, batch_size: int = 1024) -> Tensor:
    """Distance (N,) of each row of x: (N, d) to its k-th nearest other row."""
    radii = [torch.cdist(block, x).kthvalue(k + 1, dim=1).values for block in x.split(batch_size)]
    return torch.cat(radii)


def _balls_containing(points: Tensor, centres: Tensor, radii: Tensor, *, batch_size: int) -> Tensor:
    """Per point (P,), how many balls B(centres_j, radii_j) contain it."""
    counts = [(torch.cdist(block, centres) <= radii).sum(dim=1) for block in points.split(batch_size)]
    return torch.cat(counts)


def precision_recall(real: Any, fake: Any, *, k: int = 3, batch_size: int = 1024) -> PrecisionRecall:
    """Share of fakes inside the real manifold (precision) and of reals inside the fake one (recall);
    real: (N, d), fake: (M, d)."""
    r, f = _pair(real, fake, k)
    precision = (_balls_containing(f, r, knn_radii(r, k, batch_size=batch_size), batch_size=batch_size) > 0)
    recall = (_balls_containing(r, f, knn_radii(f, k, batch_size=batch_size), batch_size=batch_size) > 0)
    return PrecisionRecall(precision.double().mean().item(), recall.double().mean().item())


def density_coverage(real: Any, fake: Any, *, k: int = 5, batch_size: int = 1024) -> DensityCoverage:
    """Density (mean real-ball count per fake / k) and coverage (share of real balls holding a fake);
    real: (N, d), fake: (M, d) (Naeem et al. 2020)."""
    r, f = _pair(real, fake, k)
    radii = knn_radii(r, k, batch_size=batch_size)
    density = _balls_containing(f, r, radii, batch_size=batch_size).double().sum().item() / (k * len(f))
    nearest_fake = torch.cat([torch.cdist(block, f).min(dim=1).values for block in r.split(batch_size)])
    coverage = (nearest_fake <= radii).double().mean().item()
    return DensityCoverage(density, coverage)
