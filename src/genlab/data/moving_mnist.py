"""Moving MNIST made on the fly from genlab's offline MNIST (Srivastava, Mansimov & Salakhutdinov 2015, sec. 3).

Each clip places `digits` MNIST digits (shrunk to `digit_size` pixels) at uniform random positions of a
`size` x `size` frame and moves each in a uniform random direction at a fixed `speed` (pixels per frame); a
digit that would leave the frame bounces off the wall (its velocity component flips). Overlapping digits
combine by the pixelwise maximum. Everything is drawn from one seeded generator, so a seed fixes every clip;
`trajectories` returns the positions too: the physics are known, so the true future of a clip is available.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from genlab.data.dataset import Dataset
from genlab.errors import DataError

Split = Literal["train", "test"]

NAME = "moving-mnist"
SPLIT_STREAM = {"train": 0, "test": 1}      # the test clips draw from another stream (and MNIST's test digits)


@dataclass(frozen=True)
class MovingMnistSpec:
    """What `moving-mnist[:key=value,...]` sets: frames per clip, frame size, digits per clip, speed, clips."""

    frames: int = 8
    size: int = 32
    digits: int = 1
    digit_size: int = 16
    speed: float = 2.0
    n: int = 0                 # clips; 0: 10,000 for train, 2,000 for test
    stills: int = 0            # 1: every frame of every clip as an image (N * T, 1, S, S), e.g. for a frame autoencoder

    def clips(self, split: Split) -> int:
        """The number of clips of `split`."""
        return self.n or (10_000 if split == "train" else 2_000)


def parse_spec(spec: str) -> MovingMnistSpec:
    """`moving-mnist` or `moving-mnist:frames=16,size=48,digits=2,digit_size=20,speed=3,n=500` -> its spec."""
    name, _, rest = spec.partition(":")
    if name != NAME:
        raise DataError(f"{spec}: expected '{NAME}' or '{NAME}:key=value,...'")
    fields = {"frames": int, "size": int, "digits": int, "digit_size": int, "speed": float, "n": int, "stills": int}
    values: dict[str, float] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in fields:
            raise DataError(f"{spec}: '{item}' is not key=value with key one of {', '.join(fields)}")
        try:
            values[key] = fields[key](value)
        except ValueError:
            raise DataError(f"{spec}: {key} = {value!r} is not a number") from None
    s = MovingMnistSpec(**values)  # type: ignore[arg-type]
    if s.frames < 1 or s.digits < 1 or s.n < 0 or s.speed < 0:
        raise DataError(f"{spec}: frames and digits must be >= 1, n and speed >= 0")
    if s.stills not in (0, 1):
        raise DataError(f"{spec}: stills must be 0 (clips) or 1 (every frame as an image), got {s.stills}")
    if not 1 <= s.digit_size <= s.size:
        raise DataError(f"{spec}: digit_size must be between 1 and size = {s.size}, got {s.digit_size}")
    return s


def shrink_digits(x: np.ndarray, digit_size: int) -> np.ndarray:
    """uint8 digits (N, 1, 28, 28) -> (N, 1, digit_size, digit_size) by area averaging."""
    if digit_size == x.shape[-1]:
        return x
    small = F.interpolate(torch.from_numpy(x).float(), size=(digit_size, digit_size), mode="area")
    return small.round().clamp(0, 255).to(torch.uint8).numpy()


def trajectories(rng: np.random.Generator, n: int, *, frames: int, digits: int, room: int,
                 speed: float) -> np.ndarray:
    """Top-left corners (n, digits, frames, 2) in [0, room] of bouncing digits (Srivastava et al. 2015, sec. 3)."""
    pos = rng.uniform(0.0, room, size=(n, digits, 2))
    theta = rng.uniform(0.0, 2.0 * np.pi, size=(n, digits))
    vel = speed * np.stack([np.sin(theta), np.cos(theta)], axis=-1)
    out = np.empty((n, digits, frames, 2))
    for f in range(frames):
        out[:, :, f] = pos
        pos = pos + vel
        low, high = pos < 0, pos > room                   # reflect off the walls: x -> -x, x -> 2 room - x
        pos = np.where(low, -pos, np.where(high, 2 * room - pos, pos))
        vel = np.where(low | high, -vel, vel)
    return out


def render(digits: np.ndarray, corners: np.ndarray, *, size: int) -> np.ndarray:
    """Clips uint8 (n, frames, 1, size, size): digits (n, k, 1, d, d) pasted at rounded corners (n, k, frames, 2)."""
    n, k, _, d, _ = digits.shape
    frames = corners.shape[2]
    out = np.zeros((n, frames, 1, size, size), dtype=np.uint8)
    rc = np.clip(np.round(corners).astype(np.int64), 0, size - d)
    for i in range(n):
        for j in range(k):
            for f in range(frames):
                r, c = rc[i, j, f]
                window = out[i, f, 0, r:r + d, c:c + d]
                np.maximum(window, digits[i, j, 0], out=window)
    return out


def make_moving_mnist(mnist_x: np.ndarray, mnist_y: np.ndarray, spec: MovingMnistSpec, *, n: int, seed: int,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clips uint8 (n, T, 1, S, S), labels int64 (n, digits), corners (n, digits, T, 2)) for one seed."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(mnist_x), size=(n, spec.digits))
    digits = shrink_digits(mnist_x[pick.ravel()], spec.digit_size).reshape(n, spec.digits, 1, spec.digit_size,
                                                                             spec.digit_size)
    corners = trajectories(rng, n, frames=spec.frames, digits=spec.digits, room=spec.size - spec.digit_size,
                           speed=spec.speed)
    return render(digits, corners, size=spec.size), mnist_y[pick].astype(np.int64), corners


def load_moving_mnist(spec_text: str, *, split: Split, seed: int) -> Dataset:
    """The `moving-mnist[:...]` data set: clips (N, T, 1, S, S), labels = the first digit's class; with `stills=1`
    the same clips' frames as images (N * T, 1, S, S), each labelled with its clip's label."""
    from genlab.data.builtin import load_mnist

    spec = parse_spec(spec_text)
    mnist = load_mnist(split)
    assert mnist.y is not None
    x, y, _ = make_moving_mnist(mnist.x, mnist.y, spec, n=spec.clips(split),
                                seed=int(np.random.SeedSequence([seed, SPLIT_STREAM[split]]).generate_state(1)[0]))
    source = f"{spec_text} made from MNIST {split} digits with seed {seed} (Srivastava et al. 2015)"
    if spec.stills:
        return Dataset(x=x.reshape(-1, *x.shape[2:]), y=np.repeat(y[:, 0], spec.frames), name=NAME, kind="image",
                       num_classes=10, source=source)
    return Dataset(x=x, y=y[:, 0].copy(), name=NAME, kind="video", num_classes=10, source=source)
