"""Latent-space arithmetic on tensors (no weights): interpolation paths, traversals, the 2-D manifold grid,
attributes."""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from genlab.errors import ModelInputError

Interpolation = Literal["linear", "slerp"]


def lerp(z0: Tensor, z1: Tensor, *, steps: int) -> Tensor:
    """Straight line (1 - t) z0 + t z1 at t = 0, 1/(steps-1), ..., 1: z0, z1 (d,) -> (steps, d)."""
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device)[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0: Tensor, z1: Tensor, *, steps: int) -> Tensor:
    """Spherical interpolation (Shoemake 1985), as White (2016) advises for Gaussian latents: z0, z1 (d,) -> (steps, d).

    sin((1-t) w) / sin w * z0 + sin(t w) / sin w * z1, w the angle between z0 and z1; the norm moves smoothly from
    |z0| to |z1| (constant when they are equal), keeping the path where the prior's mass is. Near-parallel
    endpoints fall back to the straight line.
    """
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)[:, None]
    a, b = z0.double(), z1.double()
    cos = (a @ b / (a.norm() * b.norm()).clamp_min(1e-12)).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6 or (torch.pi - omega).abs() < 1e-6:
        return lerp(z0, z1, steps=steps)
    out = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
    return out.to(z0.dtype)


def interpolate(z0: Tensor, z1: Tensor, *, steps: int, method: Interpolation = "linear") -> Tensor:
    """The interpolation path between two latents: z0, z1 (d,) -> (steps, d), endpoints included."""
    if z0.ndim != 1 or z0.shape != z1.shape:
        raise ModelInputError(f"expected two latents of one shape (d,), got {tuple(z0.shape)} and {tuple(z1.shape)}")
    if steps < 2:
        raise ModelInputError(f"an interpolation needs at least 2 steps, got {steps}")
    if method == "linear":
        return lerp(z0, z1, steps=steps)
    if method == "slerp":
        return slerp(z0, z1, steps=steps)
    raise ModelInputError(f"unknown interpolation {method!r}; expected 'linear' or 'slerp'")


def traversal(z: Tensor, *, dims: list[int], values: Tensor) -> Tensor:
    """Vary one latent dimension at a time: z (d,), values (V,) -> (len(dims), V, d) with z[dim] set to each value."""
    if z.ndim != 1:
        raise ModelInputError(f"expected one latent (d,), got shape {tuple(z.shape)}")
    bad = [d for d in dims if not 0 <= d < z.shape[0]]
    if bad:
        raise ModelInputError(f"latent dimension {bad[0]} does not exist: the latent has {z.shape[0]} dimensions")
    out = z.expand(len(dims), len(values), z.shape[0]).clone()
    for i, d in enumerate(dims):
        out[i, :, d] = values.to(z.dtype)
    return out


def manifold_grid(n: int, *, quantile: float = 0.05) -> Tensor:
    """An n x n grid of 2-D latents at the prior's quantiles q..1-q per axis (Kingma & Welling 2014, fig. 4).

    Coordinates are Phi^{-1} of evenly spaced probabilities, so each cell holds equal prior mass -> (n * n, 2),
    row-major with z_2 decreasing down the rows (so the picture's y axis points up).
    """
    if n < 2 or not 0 < quantile < 0.5:
        raise ModelInputError(f"the manifold grid needs n >= 2 and 0 < quantile < 0.5, got n={n}, quantile={quantile}")
    axis = torch.special.ndtri(torch.linspace(quantile, 1 - quantile, n, dtype=torch.float64)).float()
    zy, zx = torch.meshgrid(axis.flip(0), axis, indexing="ij")
    return torch.stack([zx.reshape(-1), zy.reshape(-1)], dim=1)


def attribute_vector(mu: Tensor, labels: Tensor, label: int) -> Tensor:
    """Mean latent of the items with `label` minus the mean of the rest (seed 002's "add a smile"):
    mu (N, d) -> (d,)."""
    if mu.ndim != 2 or labels.shape != (mu.shape[0],):
        raise ModelInputError(f"expected latents (N, d) and labels (N,), "
                              f"got {tuple(mu.shape)} and {tuple(labels.shape)}")
    has = labels == label
    if not has.any() or has.all():
        raise ModelInputError(f"the attribute vector of label {label} needs items with and without it; "
                              f"found {int(has.sum())} of {len(labels)} with it")
    return mu[has].mean(0) - mu[~has].mean(0)


def principal_axes(mu: Tensor, *, k: int = 2) -> Tensor:
    """Project centred latents on their top-k principal axes (for plotting d > 2): mu (N, d) -> (N, k)."""
    if mu.shape[1] <= k:
        return mu
    centred = mu - mu.mean(0)
    _, _, v = torch.linalg.svd(centred.double(), full_matrices=False)
    return (centred.double() @ v[:k].T).to(mu.dtype)
