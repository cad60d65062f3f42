"""A trained generator's latent space: interpolation strips, latent vector arithmetic, class-conditional grids.

Each `save_*` function takes a loaded gan `Run` (or its folder), writes one PNG and returns its path. The
tensor-level pieces (`latent_arithmetic`, `attribute_direction`, `class_grid_latents`) hold no weights.
Interpolation paths are shared with the VAE tools (genlab.vae.latent: linear or slerp).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from genlab.errors import ModelInputError
from genlab.training.run import Run, load_run
from genlab.vae.latent import Interpolation, interpolate
from genlab.viz import path_positions, save_grid, save_strip

if TYPE_CHECKING:
    from genlab.gan.family import GANFamily

PathLike = str | os.PathLike[str]


def gan_run(run: Run | PathLike) -> Run:
    """A loaded image run of the gan family (EMA generator), or a one-line error."""
    if not isinstance(run, Run):
        run = load_run(run)
    if run.config.family != "gan":
        raise ModelInputError(f"{run.path} is a '{run.config.family}' run; these tools need a gan run")
    if run.info.kind != "image":
        raise ModelInputError(f"{run.path} was trained on vectors of shape {run.info.shape}; these tools draw images")
    return run


def latent_arithmetic(z_a: Tensor, z_b: Tensor, z_c: Tensor) -> Tensor:
    """mean(z_a) - mean(z_b) + mean(z_c), each averaged over its chosen samples (Radford et al. 2016, sec. 6.3.2).

    z_a, z_b, z_c: (n_a, d), (n_b, d), (n_c, d) -> (d,). Averaging a few latents per concept is what makes the
    arithmetic stable; one sample per concept is too noisy.
    """
    if not (z_a.ndim == z_b.ndim == z_c.ndim == 2) or len({z_a.shape[1], z_b.shape[1], z_c.shape[1]}) != 1:
        raise ModelInputError(f"expected three latent sets (n_i, d) of one d, got {tuple(z_a.shape)}, "
                              f"{tuple(z_b.shape)}, {tuple(z_c.shape)}")
    if min(len(z_a), len(z_b), len(z_c)) == 0:
        raise ModelInputError("each latent set needs at least one sample")
    return z_a.mean(0) - z_b.mean(0) + z_c.mean(0)


def attribute_direction(z: Tensor, score: Tensor, *, fraction: float = 0.1) -> Tensor:
    """Mean latent of the top `fraction` of samples by `score` minus that of the bottom fraction: z (N, d) -> (d,)."""
    if z.ndim != 2 or score.shape != (z.shape[0],):
        raise ModelInputError(f"expected latents (N, d) and scores (N,), got {tuple(z.shape)} and {tuple(score.shape)}")
    k = int(fraction * len(z))
    if not 0 < fraction <= 0.5 or k < 1:
        raise ModelInputError(f"fraction must be in (0, 0.5] and keep at least one of {len(z)} samples, got {fraction}")
    order = score.argsort()
    return latent_arithmetic(z[order[-k:]], z[order[:k]], torch.zeros(1, z.shape[1], dtype=z.dtype))


def class_grid_latents(z: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """The same latents for every class: z (m, d) -> z (K * m, d), labels (K * m,) with row k holding class k."""
    if z.ndim != 2 or num_classes < 1:
        raise ModelInputError(f"expected latents (m, d) and num_classes >= 1, got {tuple(z.shape)}, {num_classes}")
    labels = torch.arange(num_classes).repeat_interleave(len(z))
    return z.repeat(num_classes, 1), labels


def _generate(run: Run, z: Tensor, labels: Tensor | None = None, *, batch_size: int = 256) -> Tensor:
    gen = torch.Generator()
    chunks = [run.family.sample(run.models, len(zb), generator=gen, z=zb,
                                label=None if labels is None else labels[i:i + len(zb)])
              for i, zb in zip(range(0, len(z), batch_size), z.split(batch_size), strict=False)]
    return torch.cat(chunks)


def _gan_family(run: Run) -> GANFamily:
    from genlab.gan.family import GANFamily
    if not isinstance(run.family, GANFamily):
        raise ModelInputError(f"{run.path} is a '{run.config.family}' run; these latents are a GAN's")
    return run.family


def _latents(run: Run, n: int, *, seed: int) -> Tensor:
    family = _gan_family(run)
    return torch.randn((n, family.config.model.latent_dim), generator=torch.Generator().manual_seed(seed))


def _one_label(run: Run, label: int | None) -> int | None:
    """The label (or InfoGAN code) a strip holds fixed: the given one, 0 for a labelled or coded G, else None."""
    family = _gan_family(run)
    return label if label is not None or not (family.conditional or family.codes) else 0


@torch.no_grad()
def save_interpolation(run: Run | PathLike, path: PathLike, *, pairs: int = 6, steps: int = 10,
                       method: Interpolation = "slerp", seed: int = 0, label: int | None = None,
                       scale: int = 1) -> Path:
    """One row per pair of latents z0 -> z1 (endpoints included), decoded by G; slerp by default (White 2016)."""
    run = gan_run(run)
    ends = _latents(run, 2 * pairs, seed=seed)
    paths = torch.cat([interpolate(ends[2 * i], ends[2 * i + 1], steps=steps, method=method) for i in range(pairs)])
    y = _one_label(run, label)
    images = _generate(run, paths, None if y is None else torch.full((len(paths),), y))
    return save_strip(list(images.split(steps)), path, scale=scale, col_labels=path_positions(steps))


@torch.no_grad()
def save_class_grid(run: Run | PathLike, path: PathLike, *, per_label: int = 10, seed: int = 0,
                    scale: int = 1) -> Path:
    """A conditional generator's grid: one row per label (or InfoGAN code), one column per shared latent."""
    run = gan_run(run)
    num_classes = _gan_family(run).num_classes or _gan_family(run).codes
    if num_classes is None:
        raise ModelInputError(f"{run.path} is an unconditional GAN; a class grid needs model.condition = concat, "
                              f"projection or acgan, or InfoGAN's gan.info_codes")
    z, labels = class_grid_latents(_latents(run, per_label, seed=seed), num_classes)
    return save_grid(_generate(run, z, labels), path, nrow=per_label, scale=scale,
                     row_labels=[str(k) for k in range(num_classes)])


def ink(images: Tensor) -> Tensor:
    """Mean brightness of images in [-1, 1] mapped to [0, 1]: (N, C, H, W) -> (N,); stroke thickness on MNIST."""
    return ((images + 1) / 2).flatten(1).mean(1)


@torch.no_grad()
def save_arithmetic(run: Run | PathLike, path: PathLike, *, score: Callable[[Tensor], Tensor] = ink,
                    n: int = 2000, fraction: float = 0.1, rows: int = 6,
                    strengths: tuple[float, ...] = (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0), seed: int = 0,
                    label: int | None = None, scale: int = 1) -> Path:
    """Latent vector arithmetic: z + s * (mean z of the highest-`score` samples - mean z of the lowest), one row
    per base latent, one column per strength s; with the default score (ink) it thickens or thins the strokes."""
    run = gan_run(run)
    y = _one_label(run, label)
    z = _latents(run, n, seed=seed)
    labels = None if y is None else torch.full((n,), y)
    direction = attribute_direction(z, score(_generate(run, z, labels)), fraction=fraction)
    base = _latents(run, rows, seed=seed + 1)
    s = torch.tensor(strengths, dtype=z.dtype)
    moved = (base[:, None, :] + s[None, :, None] * direction).reshape(-1, z.shape[1])
    images = _generate(run, moved, None if y is None else torch.full((len(moved),), y))
    return save_strip(list(images.split(len(strengths))), path, scale=scale,
                      col_labels=[f"s={v:g}" for v in strengths], row_labels=[f"z{i + 1}" for i in range(rows)])


def explore_command(run: Run, args: Any) -> int:
    """`genlab explore RUN WHAT` for a gan run (the parser lives in genlab.cli.explore)."""
    run = gan_run(run)
    out = Path(args.out) if args.out else run.path / "explore" / f"{args.what}.png"
    n = {} if args.n is None else {"n": args.n}
    if args.what == "samples":
        x = run.sample(args.n or 64, seed=args.seed, label=args.label)
        path = save_grid(x, out, scale=args.scale, title=None if args.label is None else f"label {args.label}")
    elif args.what == "interpolate":
        path = save_interpolation(run, out, pairs=args.pairs, steps=args.steps or 10, label=args.label,
                                  method="slerp" if args.slerp else "linear", seed=args.seed, scale=args.scale)
    elif args.what == "arithmetic":
        path = save_arithmetic(run, out, seed=args.seed, label=args.label, scale=args.scale, **n)
    elif args.what == "classes":
        path = save_class_grid(run, out, per_label=args.n or 10, seed=args.seed, scale=args.scale)
    else:
        raise ModelInputError(f"'{args.what}' needs an encoder (VAE runs); a gan run offers samples, interpolate, "
                              f"arithmetic and classes")
    print(f"wrote {path}")
    return 0
