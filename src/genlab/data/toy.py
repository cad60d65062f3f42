"""2-D toy distributions with exact samplers, and the mode centres used to judge mode coverage.

ring8 and grid25 follow the VEEGAN / PacGAN protocol (Srivastava et al. 2017, Lin et al. 2018): equal-weight
Gaussians of std 0.02 on a circle of radius 2, or on the 5x5 grid {-4, -2, 0, 2, 4}^2. grid25-pacgan is the
grid of PacGAN's Table 1 (Lin et al. 2018, sec. 5.1: variance 0.0025, so std 0.05), whose published mode counts
and high-quality shares the PacGAN rows quote.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from genlab.data.dataset import Dataset
from genlab.data.order import seeded_generator
from genlab.errors import DataError

MODE_STD = 0.02
PACGAN_GRID_STD = 0.05
MOONS_NOISE = 0.05
SWISSROLL_NOISE = 0.05

Sampler = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray | None]]


def _ring8_centres() -> np.ndarray:
    angles = 2 * np.pi * np.arange(8) / 8
    return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _grid25_centres() -> np.ndarray:
    return np.array(list(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2)))


def _mixture(centres: np.ndarray, std: float) -> Sampler:
    def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        k = rng.integers(len(centres), size=n)
        return centres[k] + std * rng.standard_normal((n, 2)), k
    return sample


def _moons(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Upper arc (cos t, sin t) and lower arc (1 - cos t, 1/2 - sin t), t ~ U[0, pi], centred, plus noise."""
    moon = rng.integers(2, size=n)
    t = rng.uniform(0.0, np.pi, size=n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.where(moon[:, None] == 0, upper, lower) - np.array([0.5, 0.25])
    return x + MOONS_NOISE * rng.standard_normal((n, 2)), moon


def _swissroll(rng: np.random.Generator, n: int) -> tuple[np.ndarray, None]:
    """The 2-D spiral (t cos t, t sin t) / 5 with t ~ U[1.5 pi, 4.5 pi], plus noise."""
    t = 1.5 * np.pi * (1.0 + 2.0 * rng.uniform(size=n))
    x = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 5.0
    return x + SWISSROLL_NOISE * rng.standard_normal((n, 2)), None


def _checkerboard(rng: np.random.Generator, n: int) -> tuple[np.ndarray, None]:
    """Uniform on the 8 dark cells of a 4x4 board of 2x2 cells over [-4, 4]^2 (cells with even i + j)."""
    dark = np.array([(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0], dtype=np.float64)
    cell = dark[rng.integers(len(dark), size=n)]
    return -4.0 + 2.0 * (cell + rng.uniform(size=(n, 2))), None


@dataclass(frozen=True)
class ToySet:
    """A 2-D toy distribution: its sampler, how many labelled components it has, and its mode centres if any."""

    description: str
    sample: Sampler
    num_classes: int | None
    centres: np.ndarray | None = None
    std: float | None = None


TOY_SETS: dict[str, ToySet] = {
    "ring8": ToySet("8 Gaussians (std 0.02) on a circle of radius 2 (VEEGAN/PacGAN)",
                    _mixture(_ring8_centres(), MODE_STD), 8, _ring8_centres(), MODE_STD),
    "grid25": ToySet("25 Gaussians (std 0.02) on the grid {-4,-2,0,2,4}^2 (VEEGAN/PacGAN)",
                     _mixture(_grid25_centres(), MODE_STD), 25, _grid25_centres(), MODE_STD),
    "grid25-pacgan": ToySet("25 Gaussians (std 0.05) on the grid {-4,-2,0,2,4}^2 (PacGAN's Table 1 grid)",
                            _mixture(_grid25_centres(), PACGAN_GRID_STD), 25, _grid25_centres(), PACGAN_GRID_STD),
    "moons": ToySet("two interleaved half circles, noise std 0.05", _moons, 2),
    "swissroll": ToySet("2-D swiss roll spiral (t cos t, t sin t)/5, noise std 0.05", _swissroll, None),
    "checkerboard": ToySet("uniform on the 8 dark squares of a 4x4 board over [-4, 4]^2", _checkerboard, None),
}


def toy_modes(name: str) -> tuple[np.ndarray, float]:
    """Mode centres (K, 2) and the per-mode std of a Gaussian-mixture toy set (ring8, grid25)."""
    toy = TOY_SETS.get(name)
    if toy is None or toy.centres is None or toy.std is None:
        with_modes = [k for k, v in TOY_SETS.items() if v.centres is not None]
        raise DataError(f"toy set {name!r} has no Gaussian modes; expected one of {', '.join(with_modes)}")
    return toy.centres.copy(), toy.std


def sample_toy(name: str, n: int, *, seed: int = 0, split: Literal["train", "test"] = "train") -> Dataset:
    """n exact samples float32 (n, 2) of a toy set; train and test draw from separate seeded streams."""
    toy = TOY_SETS.get(name)
    if toy is None:
        raise DataError(f"unknown toy set {name!r}; expected one of {', '.join(TOY_SETS)}")
    if n < 1:
        raise DataError(f"{name}: number of toy samples must be positive, got {n}")
    rng = seeded_generator(seed, 0 if split == "train" else 1)
    x, y = toy.sample(rng, n)
    return Dataset(x=x.astype(np.float32), y=None if y is None else y.astype(np.int64), name=name, kind="vector",
                   num_classes=toy.num_classes, source=f"exact sampler: {toy.description} (seed {seed}, {split})")
