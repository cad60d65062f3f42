"""Training curves and 2-D point clouds as PNG, drawn with matplotlib's Agg canvas (no pyplot global state)."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from genlab.errors import ModelInputError
from genlab.files import atomic_target

ArrayLike = Sequence[float] | np.ndarray | torch.Tensor


def _numpy(values: ArrayLike) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def smooth(values: ArrayLike, *, span: int | None = None) -> np.ndarray:
    """Bias-corrected exponential moving average with weight 1 - 2 / (span + 1); span defaults to len / 20."""
    v = _numpy(values)
    span = span or max(1, len(v) // 20)
    weight = 1.0 - 2.0 / (span + 1.0)
    out, acc, norm = np.empty_like(v), 0.0, 0.0
    for i, value in enumerate(v):
        if np.isfinite(value):
            acc, norm = weight * acc + (1 - weight) * value, weight * norm + (1 - weight)
        out[i] = acc / norm if norm > 0 else np.nan
    return out


def _save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    canvas = FigureCanvasAgg(fig)
    suffix = path.suffix.lstrip(".").lower()
    image_format = suffix if suffix in canvas.get_supported_filetypes() else "png"  # as save_grid: PNG by default
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format=image_format, dpi=120, bbox_inches="tight")
    return path


def plot_curves(series: Mapping[str, tuple[ArrayLike, ArrayLike]], path: str | os.PathLike[str], *,
                title: str = "", xlabel: str = "step", ylabel: str = "", logy: bool = False,
                span: int | None = None) -> Path:
    """One line per series name: raw values faint, their moving average solid; `series[name] = (steps, values)`."""
    if not series:
        raise ModelInputError("plot_curves needs at least one series, got none")
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for i, (name, (steps, values)) in enumerate(series.items()):
        steps_np, values_np = _numpy(steps), _numpy(values)
        if steps_np.shape != values_np.shape or steps_np.ndim != 1:
            raise ModelInputError(f"series {name!r}: steps and values must be 1-D of one length, "
                                  f"got {steps_np.shape} and {values_np.shape}")
        color = f"C{i % 10}"
        ax.plot(steps_np, values_np, color=color, alpha=0.25, linewidth=0.8)
        ax.plot(steps_np, smooth(values_np, span=span), color=color, linewidth=1.6, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save_figure(fig, path)


def plot_points(x: ArrayLike, path: str | os.PathLike[str], *, colors: ArrayLike | None = None,
                centres: ArrayLike | None = None, title: str = "", size: float = 2.0,
                limits: tuple[float, float] | None = None) -> Path:
    """2-D samples x: (N, 2) as a scatter coloured by `colors` (N,) (labels or values), true modes `centres` (K, 2)."""
    pts = _numpy(x)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ModelInputError(f"plot_points expects points (N, 2), got shape {pts.shape}")
    c = None if colors is None else _numpy(colors)
    if c is not None and c.shape != (len(pts),):
        raise ModelInputError(f"plot_points: colors must hold one value per point, shape ({len(pts)},), got {c.shape}")
    cen = None if centres is None else _numpy(centres)
    if cen is not None and (cen.ndim != 2 or cen.shape[1] != 2):
        raise ModelInputError(f"plot_points: centres must be (K, 2), got shape {cen.shape}")
    fig = Figure(figsize=(5.0, 5.0))
    ax = fig.add_subplot()
    point_colors: np.ndarray | list[str] | None = c
    if c is not None and np.all(c == np.round(c)):  # integer labels: one distinct colour each (cycling past 10)
        point_colors = [f"C{int(k) % 10}" for k in c]
    ax.scatter(pts[:, 0], pts[:, 1], s=size, c=point_colors,
               cmap=None if point_colors is None or isinstance(point_colors, list) else "viridis",
               alpha=0.6, linewidths=0)
    if cen is not None:
        ax.scatter(cen[:, 0], cen[:, 1], marker="x", s=40, color="red", label="modes")
        ax.legend(loc="upper right")
    if limits is not None:
        ax.set(xlim=limits, ylim=limits)
    ax.set_aspect("equal")
    ax.set_title(title)
    return _save_figure(fig, path)
