"""What users do with a trained VAE (seeds 002-004), each as a function that writes one PNG and returns its path.

Every function takes a loaded `Run` or a run folder of the vae/ae family. Items are encoded to their posterior
means mu(x); pictures show decoder means E[x|z] in [-1, 1], enlarged `scale` times. The run's own test split
is used unless `data` names
another dataset of the same item shape.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from genlab.errors import ModelInputError
from genlab.training.run import Run
from genlab.vae.latent import (Interpolation, attribute_vector, interpolate, manifold_grid, principal_axes,
                               traversal)
from genlab.vae.family import VAEFamily
from genlab.vae.likelihood import active_units
from genlab.vae.networks import VAE
from genlab.vae.runs import as_vae_run, run_items, vae_of
from genlab.viz import path_positions, plot_points, save_grid, save_strip

PathLike = str | os.PathLike[str]
Split = Literal["train", "test"]


def _image_run(run: Run | PathLike, what: str) -> tuple[Run, VAE]:
    run = as_vae_run(run)
    if run.info.kind != "image":
        raise ModelInputError(f"{what} draws images; {run.path} was trained on vectors of shape {run.info.shape}")
    return run, vae_of(run)


def _pick(n_items: int, count: int, *, seed: int) -> Tensor:
    """`count` distinct item indices drawn with `seed`."""
    if count > n_items:
        raise ModelInputError(f"asked for {count} items, the dataset has {n_items}")
    return torch.randperm(n_items, generator=torch.Generator().manual_seed(seed))[:count]


@torch.no_grad()
def encode_means(vae: VAE, x: Tensor, *, batch_size: int = 500) -> Tensor:
    """Posterior means mu(x) (or the autoencoder's codes): x (N, *shape) -> (N, d)."""
    return torch.cat([vae.encode(xb)[0] for xb in x.split(batch_size)])


@torch.no_grad()
def save_prior_samples(run: Run | PathLike, path: PathLike, *, n: int = 64, seed: int = 0,
                       temperature: float = 1.0, scale: int = 1) -> Path:
    """Decoder means of z ~ N(0, temperature^2 I): a grid of n images, or a scatter for vector data."""
    run = as_vae_run(run)
    x = run.family.sample(run.models, n, generator=torch.Generator().manual_seed(seed), temperature=temperature)
    if run.info.kind != "image":
        return plot_points(x, path, title=f"{n} samples from the prior")
    return save_grid(x, path, scale=scale)


@torch.no_grad()
def save_reconstructions(run: Run | PathLike, path: PathLike, *, n: int = 16, seed: int = 0, split: Split = "test",
                         data: str | None = None, scale: int = 1) -> Path:
    """Originals (top row) above their reconstructions E[x | z = mu(x)] (bottom row), n random items."""
    run, vae = _image_run(run, "reconstruct")
    x, _ = run_items(run, split=split, data=data)
    xb = x[_pick(len(x), n, seed=seed)]
    return save_strip([xb, vae(xb)], path, scale=scale, row_labels=["original", "decoded"])


@torch.no_grad()
def save_interpolation(run: Run | PathLike, path: PathLike, *, pairs: int = 4, steps: int = 10,
                       method: Interpolation = "linear", seed: int = 0, split: Split = "test",
                       data: str | None = None, scale: int = 1) -> Path:
    """One row per pair of encoded items: original a, decoded path mu(a) -> mu(b) (linear or slerp), original b."""
    run, vae = _image_run(run, "interpolate")
    x, _ = run_items(run, split=split, data=data)
    idx = _pick(len(x), 2 * pairs, seed=seed)
    mu = encode_means(vae, x[idx])
    rows = []
    for i in range(pairs):
        z = interpolate(mu[2 * i], mu[2 * i + 1], steps=steps, method=method)
        rows.append(torch.cat([x[idx[2 * i]][None], vae.decode_mean(z), x[idx[2 * i + 1]][None]]))
    return save_strip(rows, path, scale=scale, col_labels=["a", *path_positions(steps), "b"])


@torch.no_grad()
def save_traversal(run: Run | PathLike, path: PathLike, *, dims: list[int] | None = None, span: float = 3.0,
                   steps: int = 9, item: int | None = None, seed: int = 0, split: Split = "test",
                   data: str | None = None, max_dims: int = 10, scale: int = 1) -> Path:
    """One row per latent dimension: that coordinate swept over [-span, span], the others held at mu(item).

    Without `dims`, the `max_dims` dimensions whose posterior means vary most over the data (the active ones).
    """
    run, vae = _image_run(run, "traverse")
    x, _ = run_items(run, split=split, data=data)
    if dims is None:
        _, variances = active_units(encode_means(vae, x[:2000]))
        dims = variances.argsort(descending=True)[:max_dims].tolist()
    idx = int(_pick(len(x), 1, seed=seed)[0]) if item is None else item
    if not 0 <= idx < len(x):
        raise ModelInputError(f"item {idx} is out of range: the dataset has {len(x)} items")
    z = encode_means(vae, x[idx:idx + 1])[0]
    values = torch.linspace(-span, span, steps)
    grid = traversal(z, dims=dims, values=values)
    return save_strip([vae.decode_mean(row) for row in grid], path, scale=scale, row_labels=[f"z{d}" for d in dims],
                      col_labels=[f"{v:.2g}" for v in values.tolist()])


@torch.no_grad()
def save_manifold(run: Run | PathLike, path: PathLike, *, n: int = 20, quantile: float = 0.05, scale: int = 1) -> Path:
    """The learned 2-D manifold: decoder means on an n x n grid of prior quantiles (Kingma & Welling 2014, fig. 4)."""
    run, vae = _image_run(run, "manifold")
    if vae.latent_dim != 2:
        raise ModelInputError(f"the manifold grid needs a 2-D latent; this run has latent_dim = {vae.latent_dim} "
                              f"(train with --set model.latent_dim=2)")
    return save_grid(vae.decode_mean(manifold_grid(n, quantile=quantile)), path, nrow=n, padding=0, scale=scale)


@torch.no_grad()
def save_scatter(run: Run | PathLike, path: PathLike, *, n: int = 5000, split: Split = "test",
                 data: str | None = None) -> Path:
    """Posterior means of n items coloured by label; latents with d > 2 are shown on their two principal axes."""
    run = as_vae_run(run)
    vae = vae_of(run)
    x, y = run_items(run, split=split, data=data)
    mu = encode_means(vae, x[:n])
    title = "posterior means" if vae.latent_dim <= 2 else f"posterior means, top 2 principal axes of {vae.latent_dim}"
    if vae.latent_dim == 1:
        mu = torch.cat([mu, torch.zeros_like(mu)], dim=1)
    return plot_points(principal_axes(mu), path, colors=None if y is None else y[:n], title=title, size=3.0)


@torch.no_grad()
def save_attribute(run: Run | PathLike, path: PathLike, *, label: int, n: int = 6, strengths: tuple[float, ...] = (
        0.0, 0.5, 1.0, 1.5, 2.0), seed: int = 0, split: Split = "test", data: str | None = None,
        scale: int = 1) -> Path:
    """Add the attribute vector of `label` (mean code with it minus without) to n items lacking it, one row each.

    Each row: the original, then decoded mu(x) + s * v for each strength s.
    """
    run, vae = _image_run(run, "attribute")
    x, y = run_items(run, split=split, data=data)
    if y is None:
        raise ModelInputError(f"attribute vectors need labels; {data or run.config.data.name} has none")
    mu = encode_means(vae, x)
    v = attribute_vector(mu, y, label)
    others = torch.nonzero(y != label).squeeze(1)
    chosen = others[_pick(len(others), n, seed=seed)]
    s = torch.tensor(strengths, dtype=mu.dtype)[:, None]
    rows = [torch.cat([x[i][None], vae.decode_mean(mu[i] + s * v)]) for i in chosen.tolist()]
    return save_strip(rows, path, scale=scale, col_labels=["x", *(f"+{t:g}v" for t in strengths)])


@torch.no_grad()
def run_active_units(run: Run | PathLike, *, split: Split = "test", data: str | None = None,
                     threshold: float = 0.01) -> dict[str, Any]:
    """Active units of a VAE run (Burda et al. 2016): count, latent size and Cov_x(E_q[z_u]) per dimension."""
    run = as_vae_run(run, need_posterior=True)
    assert isinstance(run.family, VAEFamily)     # as_vae_run checked the family
    vae = vae_of(run)
    x, _ = run_items(run, split=split, data=data)
    count, variances = active_units(encode_means(vae, run.family.as_trained(x)), threshold=threshold)
    return {"active_units": count, "latent_dim": vae.latent_dim, "variances": variances.tolist()}
