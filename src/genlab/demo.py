"""The demo: a DDPM trained on MNIST within a wall-clock budget, then its pictures and numbers."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genlab.config import apply_overrides, run_config_from_dict
from genlab.files import write_json_atomic
from genlab.nn.hardware import resolve_precision
from genlab.training.checkpoint import latest_checkpoint

# The recipe for a 10-minute CPU budget: a ~1M-parameter U-Net with the peer's attention placement, shaped for
# speed (UNet.preset "mnist-1m-efficient": 0.60 instead of 1.12 GFLOP per training image; after 466 s of
# training, classifier FD 29.3 against 33.6 for the peer-shaped net, BENCHMARKS.md) in bf16 autocast where
# the CPU has it natively (precision "auto": fp32 elsewhere, where emulated bf16 trains 13x slower), a short
# warm-up to a high learning rate decaying to zero exactly at the budget (cosine; steps calibrated by a probe),
# v-prediction (Salimans & Ho 2022: near t = T, x0 = alpha x_t - sigma v stays well-conditioned, where
# eps-prediction under bf16 loses the image mean and leaves grey backgrounds), min-SNR-5 loss weights (Hang et
# al. 2023; in a 500-step A/B on MNIST: classifier FD 903 vs 933, precision 0.46 vs 0.39), EMA whose warm-up
# min(0.999, (1+n)/(10+n)) averages over roughly the last 10% of a 1,500-step run, and 50 DDIM steps from the
# EMA weights.
DEMO_CONFIG: dict[str, Any] = {
    "family": "ddpm",
    "data": {"name": "mnist"},
    "train": {"steps": 4000, "batch_size": 128, "lr": 2e-3, "warmup_steps": 200, "lr_schedule": "cosine",
              "precision": "auto", "ema_decay": 0.999, "checkpoint_every": 500, "log_every": 25,
              "sample_n": 36, "time_budget": 480.0},
    "model": {"channels": [16, 64, 72], "blocks_per_level": 1, "mid_attention": True, "groups": 8,
              "upsample": "conv_resize"},
    "diffusion": {"schedule": "linear", "T": 1000, "prediction": "v", "weighting": "min_snr", "sampler": "ddim",
                  "sample_steps": 50},
}


SAMPLING_RESERVE = 75.0     # seconds kept for sampling the grid and trajectory and writing the plots
PROBE_STEPS = 30
PROBE_WINDOW = 10
PROBE_MAX_SECONDS = 60.0    # the probe stops here even when its 30 steps are not done (a slow or busy machine)
MIN_STEPS = 50              # never plan fewer steps than this (the time budget still stops the run)
USEFUL_STEPS = 200          # below this many steps the demo's samples are blobs rather than digits


def probe_steps_per_s(values: dict[str, Any], *, max_seconds: float = PROBE_MAX_SECONDS,
                      progress: bool = False) -> float | None:
    """Steady training steps/s of this config on this machine (in the precision it resolves to), by a short probe.

    The rate is the best of the probe's later log windows: its first steps pay one-off costs (kernel selection,
    allocator warm-up) that would make the estimate several times too low. None when no step finished.
    """
    import contextlib
    import io
    import tempfile

    from genlab.training.loop import train

    probe = json.loads(json.dumps(values))
    probe["train"].update(steps=PROBE_STEPS, time_budget=max_seconds, checkpoint_every=10**9, log_every=PROBE_WINDOW)
    with tempfile.TemporaryDirectory() as tmp:
        with contextlib.redirect_stdout(io.StringIO()):   # the probe's "precision ..." line: the run says it next
            train(run_config_from_dict(probe), Path(tmp) / "probe", progress=progress, sample_at_end=False)
        log = Path(tmp) / "probe" / "log.jsonl"
        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []
    rates = [r["items_per_s"] for r in (rows[1:] or rows) if r.get("items_per_s", 0) > 0]
    return max(rates) / probe["train"]["batch_size"] if rates else None


def calibrate_steps(values: dict[str, Any], seconds: float, *, progress: bool = False) -> int:
    """Steps this machine trains in `seconds`, measured by a short probe run of the same config.

    The learning rate decays to zero over train.steps (cosine), so the step count must fit the budget:
    a run cut short by the time limit would stop at a high learning rate with a worse model.
    """
    rate = probe_steps_per_s(values, max_seconds=min(PROBE_MAX_SECONDS, max(10.0, 0.2 * seconds)), progress=progress)
    return MIN_STEPS if rate is None else max(MIN_STEPS, int(0.95 * seconds * rate))


def grid_every(steps: int) -> int:
    """train.sample_every of the demo: two 36-sample grids while training, near 1/3 and 2/3 of the steps (never
    at the end, where the demo draws its own 64), for `genlab report`; about 2 s each on a quiet 2-core machine,
    inside the training budget. None (0) for runs too short to make digits."""
    return steps // 3 + 1 if steps >= USEFUL_STEPS else 0


EARLY_SHARE = 0.6           # training that ends its planned steps within this share of its budget gets a note


def shortfall_note(steps: int, planned: int, *, stopped: str, seconds: float,
                   budget: float | None = None) -> str | None:
    """The plain note the demo prints when training did not fit the plan the probe made: the time budget ended it
    before the planned steps (the machine got busier or slower after the probe), or, given the training `budget`,
    it reached them within EARLY_SHARE of that budget (the machine was busier during the probe); None otherwise."""
    if stopped == "done" and budget is not None and steps >= planned and seconds < EARLY_SHARE * budget:
        return (f"note: training reached the {planned} steps the probe planned after {seconds:.0f} s of the "
                f"{budget:.0f} s it had: the machine was busier while the probe measured its rate than while it "
                f"trained, so this is a shorter run than the budget allows (about {budget / max(seconds, 1e-9):.1f}x "
                f"more steps would fit); run again on a quieter machine for the full demo")
    if stopped != "time_budget" or steps >= planned:
        return None
    quality = ("expect blurry samples" if steps < USEFUL_STEPS
               else "the samples are those of a shorter run")
    return (f"note: the time budget ended training at step {steps} of the {planned} the probe planned "
            f"({seconds:.0f} s): this machine got busier or slower while training (other jobs on its cores slow "
            f"every thread of this one); {quality}; run again on a quieter machine or with a larger --time-budget")


def _draw_trajectory(run: Any, path: Path, *, progress: bool) -> Path:
    """8 rows of x_t along the 50 DDIM steps (every fifth step and the last), then the sample: one strip."""
    from genlab.viz import save_strip

    frames: list[torch.Tensor] = []
    keep = {0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 49}

    def record(i: int, t: Any, x_t: torch.Tensor, x0_pred: torch.Tensor) -> None:
        if i in keep:
            frames.append(x_t.clamp(-1, 1).clone())
    traj_x = run.sample(8, seed=1, callback=record, progress=progress)
    rows = [torch.stack([f[j] for f in frames] + [traj_x[j]]) for j in range(traj_x.shape[0])]
    return save_strip(rows, path, scale=2)


def _read_log(path: Path) -> list[dict[str, Any]]:
    """The rows of a run's log.jsonl (none when it does not exist yet)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class DemoResult:
    """Where the demo wrote its outputs and what it measured."""

    run_dir: Path
    grid: Path
    trajectory: Path
    loss_plot: Path | None              # None when the log has no row with a loss yet
    summary: dict[str, Any]


def run_demo(out: str | Path = "runs/demo", *, minutes: float = 10.0, overrides: list[str] | None = None,
             progress: bool = True) -> DemoResult:
    """Train the demo DDPM within `minutes` of wall time in all (training gets what sampling leaves) and draw."""
    from genlab.data import to_uint8
    from genlab.training.loop import train
    from genlab.training.run import load_run
    from genlab.viz import plot_curves, save_grid

    t_start = time.perf_counter()
    out = Path(out)
    values = apply_overrides(json.loads(json.dumps(DEMO_CONFIG)), overrides or [])
    budget = minutes * 60.0 - SAMPLING_RESERVE - 20.0
    probed = latest_checkpoint(out) is None and not any(o.startswith("train.steps=") for o in overrides or [])
    if probed:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        precision = resolve_precision(values["train"]["precision"], device)[0]
        if progress:
            print(f"probing this machine's {precision} training rate (at most {min(PROBE_MAX_SECONDS, budget):.0f} s)")
        values["train"]["steps"] = calibrate_steps(values, budget, progress=progress)
        if values["train"]["steps"] < USEFUL_STEPS:
            print(f"note: this machine is too slow or busy for a useful demo in {minutes * 60:.0f} s: about "
                  f"{values['train']['steps']} training steps fit ({USEFUL_STEPS}+ make digits), so expect blurry "
                  f"samples; try a larger --time-budget or a quieter machine")
    values["train"].setdefault("sample_every", grid_every(values["train"]["steps"]))
    # the probe's time counts against the budget; the time limit is a safety net behind the calibrated steps
    values["train"]["time_budget"] = max(30.0, minutes * 60.0 - SAMPLING_RESERVE - (time.perf_counter() - t_start))
    config = run_config_from_dict(values)
    result = train(config, out, progress=progress, sample_at_end=False)
    note = shortfall_note(result.step, config.train.steps, stopped=result.stopped, seconds=result.seconds,
                          budget=config.train.time_budget if probed else None)
    if note is not None:
        print(note)

    run = load_run(out)
    grid_x = run.sample(64, seed=0, progress=progress)
    grid = save_grid(grid_x, out / "demo_samples.png", nrow=8, scale=2)

    trajectory = _draw_trajectory(run, out / "demo_trajectory.png", progress=progress)

    log = [r for r in _read_log(out / "log.jsonl") if "loss" in r]
    target = f"MSE on {values['diffusion']['prediction']}" + (
        ", min-SNR weighted" if values["diffusion"].get("weighting") == "min_snr" else "")
    loss_plot = None
    if log:
        loss_plot = plot_curves({"training loss": ([r["step"] for r in log], [r["loss"] for r in log])},
                                out / "demo_loss.png", title="DDPM on MNIST: training loss", xlabel="step",
                                ylabel=target, logy=True)
    resolved = json.loads((out / "config.json").read_text())["genlab"].get("precision", {})
    summary = {
        "steps": result.step, "train_seconds": round(result.seconds, 1),
        "train_images_per_s": round(result.items_per_s, 1), "final_loss": round(result.last_loss, 5),
        "planned_steps": config.train.steps, "stopped": result.stopped, "precision": resolved.get("resolved"),
        "wall_seconds": round(time.perf_counter() - t_start, 1), "samples": str(grid),
        "pixel_mean": float(to_uint8(grid_x).float().mean()),
    }
    write_json_atomic(out / "demo_summary.json", summary)
    return DemoResult(run_dir=out, grid=grid, trajectory=trajectory, loss_plot=loss_plot, summary=summary)
