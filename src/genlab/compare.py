"""`genlab compare`: the generative learning trilemma measured (Xiao et al. 2022, seed 001).

Each family is trained on the same data for the same wall-clock budget on the same machine, then judged by
the same numbers: quality (Frechet distance, precision), coverage (recall; modes covered on the 2-D toys)
and sampling speed (samples per second). The recipes below are each family's sensible CPU defaults.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.config import apply_overrides, run_config_from_dict
from genlab.demo import DEMO_CONFIG
from genlab.errors import ConfigError, DataError
from genlab.files import write_json_atomic, write_text_atomic

# Per-family recipes for images and for vectors; [data] and the budget are filled in by `compare`.
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "ddpm": {
        "image": {"train": {k: v for k, v in DEMO_CONFIG["train"].items() if k not in ("steps", "time_budget")},
                  "model": DEMO_CONFIG["model"], "diffusion": DEMO_CONFIG["diffusion"]},     # the demo's recipe
        "vector": {"train": {"batch_size": 256, "lr": 1e-3, "warmup_steps": 100, "lr_schedule": "cosine"},
                   "model": {"arch": "mlp"}, "diffusion": {"schedule": "cosine", "sample_steps": 50}},
    },
    "vae": {
        "image": {"train": {"batch_size": 128, "lr": 1e-3, "warmup_steps": 50, "ema_decay": 0.999},
                  "model": {"arch": "conv", "latent_dim": 16}},
        "vector": {"train": {"batch_size": 256, "lr": 1e-3, "warmup_steps": 50},
                   "model": {"arch": "mlp", "latent_dim": 2, "hidden": [128, 128]}},
    },
    "gan": {
        "image": {"train": {"batch_size": 64, "warmup_steps": 0, "grad_clip": 0.0, "ema_decay": 0.999},
                  "model": {"arch": "dcgan"}, "gan": {"loss": "nonsaturating"}},
        "vector": {"train": {"batch_size": 256, "warmup_steps": 0, "grad_clip": 0.0},
                   "model": {"arch": "mlp"}, "gan": {"loss": "nonsaturating", "g_lr": 1e-3, "d_lr": 1e-3}},
    },
    "ddgan": {     # Xiao et al. 2022, sized for CPU minutes and >= 100x DDIM-50's sampling speed (docs/ddgan.md)
        "image": {"train": {"batch_size": 64, "warmup_steps": 0, "grad_clip": 0.0, "ema_decay": 0.999},
                  "model": {"arch": "conv", "channels": [32, 64], "patch": 4, "d_channels": [32, 64], "d_patch": 2},
                  "ddgan": {"T": 4, "g_lr": 5e-4, "d_lr": 5e-4, "r1": 0.02, "r1_every": 4}},
        "vector": {"train": {"batch_size": 256, "warmup_steps": 0, "grad_clip": 0.0, "precision": "fp32"},
                   "model": {"arch": "mlp", "latent_dim": 2},
                   "ddgan": {"T": 4, "g_lr": 5e-4, "d_lr": 5e-4, "r1": 0.001}},
    },
}


@dataclass
class FamilyResult:
    """One family's row of the comparison."""

    family: str
    steps: int
    train_seconds: float
    train_items_per_s: float
    sample_seconds: float
    samples_per_s: float
    metrics: dict[str, float | str]   # numbers, and the name of the feature extractor
    samples: np.ndarray


def recipe(family: str, kind: str, *, data: str, seconds: float, seed: int) -> dict[str, Any]:
    """The config values of one family's comparison run."""
    if family not in RECIPES:
        raise ConfigError(f"compare knows the families {', '.join(RECIPES)}; got {family!r}")
    values = json.loads(json.dumps(RECIPES[family][kind]))
    values["family"] = family
    values["data"] = {"name": data}
    values.setdefault("train", {}).update(time_budget=seconds, seed=seed, checkpoint_every=10**9, log_every=50)
    return values


def judge(samples: np.ndarray, *, data: str, kind: str, n: int) -> dict[str, float | str]:
    """Quality and coverage of samples: FD/precision/recall on features (images) or mode coverage (toys)."""
    from genlab.data import load_dataset
    from genlab.metrics.evaluate import compute_metrics

    if kind == "image":
        ref = load_dataset(data, split="test" if data in ("mnist", "digits") else "train")
        extractor = "classifier" if tuple(ref.x.shape[1:]) == (1, 28, 28) else "inception"
        out = compute_metrics(samples, ref, metrics=("fid", "pr"), extractor=extractor, n=n, progress=False)
        return {"fd": float(out["fid"]), "precision": float(out["precision"]), "recall": float(out["recall"]),
                "extractor": extractor}
    from genlab.data import toy_modes
    from genlab.metrics.frechet import frechet_distance
    from genlab.metrics.toy import mode_coverage

    ref_x = load_dataset(data, split="test", n_toy=n).x.astype(np.float64)
    result: dict[str, float | str] = {
        "fd": float(frechet_distance(samples.mean(0), np.cov(samples, rowvar=False),
                                     ref_x.mean(0), np.cov(ref_x, rowvar=False))), "extractor": "raw 2-D"}
    try:
        centres, std = toy_modes(data)
    except DataError:                      # no discrete modes (moons, swiss roll, checkerboard)
        return result
    cov = mode_coverage(samples, centres, std)
    result.update(modes_covered=cov.modes_covered, num_modes=cov.num_modes, high_quality=cov.high_quality)
    return result


def compare(*, data: str = "mnist", families: tuple[str, ...] = ("ddpm", "vae", "gan"), seconds: float = 120.0,
            n: int = 1000, out: str | Path = "runs/compare", seed: int = 0, progress: bool = True
            ) -> list[FamilyResult]:
    """Train each family on `data` for `seconds`, sample n, and measure quality, coverage and speed."""
    from genlab.data import load_dataset, to_uint8
    from genlab.demo import calibrate_steps
    from genlab.training.loop import train
    from genlab.training.run import load_run

    out = Path(out)
    kind = load_dataset(data, split="train", limit=2).kind
    results = []
    for family in families:
        values = recipe(family, kind, data=data, seconds=seconds, seed=seed)
        values["train"]["steps"] = calibrate_steps(values, seconds)
        res = train(run_config_from_dict(apply_overrides(values, [])), out / family, progress=progress,
                    sample_at_end=False)
        run = load_run(out / family)
        t0 = time.perf_counter()
        chunks = [run.sample(min(500, n - i), seed=seed + 1 + i) for i in range(0, n, 500)]
        sample_seconds = time.perf_counter() - t0
        x = torch.cat(chunks)
        samples = to_uint8(x).numpy() if kind == "image" else x.double().numpy()
        results.append(FamilyResult(family=family, steps=res.step, train_seconds=res.seconds,
                                    train_items_per_s=res.items_per_s, sample_seconds=sample_seconds,
                                    samples_per_s=n / sample_seconds,
                                    metrics=judge(samples, data=data, kind=kind, n=n), samples=samples))
    write_report(results, out=out, data=data, seconds=seconds, n=n, kind=kind)
    return results


def markdown_table(results: list[FamilyResult]) -> str:
    """The comparison as a Markdown table."""
    keys = [k for k in ("fd", "precision", "recall", "modes_covered", "high_quality") if k in results[0].metrics]
    head = ["family", "steps", "train items/s", *keys, "samples/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r.family, str(r.steps), f"{r.train_items_per_s:.0f}"]
        cells += [f"{r.metrics[k]:.3f}" if isinstance(r.metrics[k], float) else str(r.metrics[k]) for k in keys]
        cells.append(f"{r.samples_per_s:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(results: list[FamilyResult], *, out: Path, data: str, seconds: float, n: int, kind: str) -> None:
    """compare.json, compare.md, samples side by side and the trilemma plot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genlab.viz import plot_points, save_strip

    out.mkdir(parents=True, exist_ok=True)
    rows = [{k: v for k, v in r.__dict__.items() if k != "samples"} for r in results]
    write_json_atomic(out / "compare.json", {"data": data, "seconds": seconds, "n": n, "results": rows})
    table = markdown_table(results)
    write_text_atomic(out / "compare.md", f"Data {data}, {seconds:.0f} s of training each, {n} samples.\n\n{table}\n")
    if kind == "image":
        save_strip([torch.from_numpy(r.samples[:12]) for r in results], out / "compare_samples.png", scale=2)
    else:
        for r in results:
            plot_points(r.samples, out / f"compare_{r.family}.png")
    fig, ax = plt.subplots(figsize=(5, 4))
    for r in results:
        ax.scatter(r.samples_per_s, r.metrics["fd"], s=80)
        ax.annotate(r.family, (r.samples_per_s, r.metrics["fd"]), textcoords="offset points", xytext=(6, 4))
    ax.set_xscale("log")
    ax.set_xlabel("samples per second (log)")
    ax.set_ylabel(f"Frechet distance ({results[0].metrics['extractor']}), lower is better")
    ax.set_title(f"trilemma on {data}: quality vs sampling speed")
    fig.tight_layout()
    fig.savefig(out / "compare_trilemma.png", dpi=110)
    plt.close(fig)
