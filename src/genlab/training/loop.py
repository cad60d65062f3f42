"""The one training loop: every family is a list of phases (diffusion and VAEs: one; GANs: D then G).

Read `train` top to bottom: set up processes (HF Accelerate: one process, or torchrun/accelerate launch),
build or resume, then for each step run each phase `repeats` times over `grad_accum` micro-batches
(`_run_phase`), average gradients over processes, clip, step, update the EMA, log, draw samples, checkpoint.

All randomness is a function of (seed, step, phase, repeat, micro-batch): data order, diffusion noise and
timesteps, and dropout (seeded per step and rank). A resumed run therefore replays the uninterrupted run
exactly, and N processes see the same data, noise and timesteps as one process with the same global batch
(each draws the global batch's noise and keeps its own rows, see `BatchRandom`); dropout masks differ.
Setting up lives in genlab.training.session, resuming in genlab.training.resume, process plumbing in
genlab.training.processes.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from genlab.config import RunConfig
from genlab.errors import TrainingError
from genlab.seeding import mix_seed
from genlab.sharding import SamplingProgress
from genlab.training.checkpoint import check_finite, latest_checkpoint, save_checkpoint
from genlab.training.objective import Batch, BatchRandom, Phase
from genlab.training.processes import StopFlag, raise_together, stop_flags, sync_grads
from genlab.training.run import TrainData
from genlab.training.session import Session, start_session

Stopped = Literal["done", "time_budget", "interrupted"]


@dataclass
class TrainResult:
    """What a training call did."""

    run_dir: Path
    step: int
    stopped: Stopped
    seconds: float
    items_per_s: float
    last_loss: float
    main_process: bool = True


def lr_factor(step: int, *, steps: int, warmup: int, schedule: str) -> float:
    """Linear warm-up then constant, cosine decay, linear decay to 0 at `steps` (distillation), or linear-half:
    constant for the first half of the steps, then linearly to zero at `steps` (Zhu et al. 2017, sec. 7.1); a
    pure function of the step (exact on resume)."""
    warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    if schedule == "cosine":
        return warm * 0.5 * (1.0 + math.cos(math.pi * min(step, steps) / max(1, steps)))
    if schedule == "linear":
        return warm * max(0.0, 1.0 - step / max(1, steps))
    if schedule == "linear-half":
        half = steps // 2
        return warm * min(1.0, max(0.0, (steps - step) / max(1, steps - half)))
    return warm


def _checkpoint(s: Session, step: int) -> None:
    """Save networks, EMAs, optimisers and the step atomically (finite weights only; rank 0 writes)."""
    s.saved = step
    tensors = {f"model.{n}.{k}": v for n, m in s.models.items() for k, v in m.state_dict().items()}
    tensors.update({f"ema.{n}.{k}": v for n, e in s.emas.items() for k, v in e.module.state_dict().items()})
    check_finite(tensors, step=step, run_dir=s.run_dir)        # on every rank: they hold the same weights
    if s.main:
        save_checkpoint(s.run_dir, step=step, family=s.config.family, tensors=tensors,
                        optimizers={n: o.state_dict() for n, o in s.optimizers.items()},
                        trainer_state={"ema_updates": {n: e.updates for n, e in s.emas.items()}},
                        keep=s.config.train.keep_checkpoints)
    s.accelerator.wait_for_everyone()


def _sample_grid(s: Session, step: int) -> Path | None:
    """A grid of train.sample_n samples from the EMA networks, seeded by train.seed (rank 0, images only)."""
    if not s.main or s.data.info.kind != "image" or not s.family.can_sample or s.sampled == step:
        return None
    s.sampled = step
    from genlab.labels import sampled_classes
    from genlab.viz import class_columns, readable_scale, save_grid
    gen = torch.Generator().manual_seed(s.config.train.seed)
    sample_models = {n: (s.emas[n].module if n in s.emas else m) for n, m in s.models.items()}
    with torch.inference_mode(), SamplingProgress(s.family, 1, desc="sample grid", enabled=s.progress) as bar:
        x = s.family.sample(sample_models, s.config.train.sample_n, generator=gen, **bar.options({}))
    classes = sampled_classes(s.family, s.data.info.num_classes)        # labels cycle: one column per label
    path = save_grid(x, s.run_dir / "samples" / f"step_{step:07d}.png", scale=readable_scale(x.shape[-2]),
                     **(class_columns(len(x), classes) if classes else {}))
    if s.tracker is not None:
        s.tracker.log_grid(path, step)
    return path


def _micro_batch(s: Session, step: int, k: int, seeds: tuple[int, ...]) -> Batch:
    """The k-th micro-batch of `step` on this process, its randomness drawn from mix_seed(*seeds)."""
    from genlab.data import batch_indices, to_float

    tc, rank = s.config.train, s.accelerator.process_index
    micro_global = tc.batch_size // tc.grad_accum
    micro_local = micro_global // s.world
    per_step = sum(ph.repeats * tc.grad_accum for ph in s.phases)
    idx = batch_indices(s.data.x.shape[0], batch_size=micro_global, step=step * per_step + k,
                        seed=tc.seed)[rank * micro_local:(rank + 1) * micro_local]
    idx_t = torch.from_numpy(np.asarray(idx, dtype=np.int64))
    device = s.accelerator.device
    xb = s.data.x[idx_t].to(device)
    xb = to_float(xb) if xb.dtype == torch.uint8 else xb
    yb = s.data.y[idx_t].to(device) if s.data.y is not None else None
    rng = BatchRandom(torch.Generator().manual_seed(mix_seed(*seeds)), global_size=micro_global,
                      start=rank * micro_local, size=micro_local, device=device)
    return Batch(x=xb, y=yb, rng=rng, step=step, b=_b_side(s, idx_t, step * per_step + k))


B_SIDE_STREAM = 2    # the b side of unpaired data has its own order, seeded (train.seed, B_SIDE_STREAM)


def _b_side(s: Session, idx: torch.Tensor, batch_number: int) -> torch.Tensor | None:
    """The b side of a micro-batch in [-1, 1]: x's partners (rows idx) for paired data, else rows of b's own
    epoch-by-epoch order, so the two sides of unpaired data may hold different numbers of images."""
    from genlab.data import batch_indices, to_float

    if s.data.b is None:
        return None
    if not s.data.info.paired:
        tc, rank = s.config.train, s.accelerator.process_index
        micro_global = tc.batch_size // tc.grad_accum
        micro_local = micro_global // s.world
        own = batch_indices(s.data.b.shape[0], batch_size=micro_global, step=batch_number,
                            seed=mix_seed(tc.seed, B_SIDE_STREAM))[rank * micro_local:(rank + 1) * micro_local]
        idx = torch.from_numpy(np.asarray(own, dtype=np.int64))
    return to_float(s.data.b[idx].to(s.accelerator.device))


def _loss(s: Session, ph: Phase, batch: Batch) -> tuple[torch.Tensor, float, dict[str, float]]:
    """The phase's loss on a micro-batch under the run's precision; a TrainingError when it is not finite."""
    with torch.autocast(device_type=s.accelerator.device.type, dtype=torch.bfloat16,
                        enabled=s.precision == "bf16"):
        loss, logs = s.family.loss(ph.name, s.models, batch)
    loss = loss.float()
    value = loss.item()
    if not math.isfinite(value):
        last = latest_checkpoint(s.run_dir)
        raise TrainingError(f"{ph.name} loss became {value} at step {batch.step}; stopped without saving "
                            f"(last good checkpoint: {last if last else 'none yet'}); try a lower train.lr or "
                            f"train.precision=fp32")
    return loss, value, logs


def _run_phase(s: Session, pi: int, step: int, factor: float, k: int) -> int:
    """Phase pi of `step`: `repeats` optimiser steps over `grad_accum` micro-batches; returns the next batch index."""
    tc, ph = s.config.train, s.phases[pi]
    opt = s.optimizers[ph.name]
    for g in opt.param_groups:
        g["lr"] = ph.lr * factor
    for name, m in s.models.items():
        m.requires_grad_(name in ph.modules)
    params = [p for m in ph.modules for p in s.models[m].parameters()]
    loss_key = f"{ph.name}_loss" if len(s.phases) > 1 else "loss"
    for r in range(ph.repeats):
        opt.zero_grad(set_to_none=True)
        failure: TrainingError | None = None
        for micro in range(tc.grad_accum):
            batch = _micro_batch(s, step, k, (tc.seed, step, pi, r, micro))
            k += 1
            try:
                loss, value, logs = _loss(s, ph, batch)
            except TrainingError as err:
                failure = err
                break
            (loss / tc.grad_accum).backward()
            for key, v in {loss_key: value, **logs}.items():
                s.window.setdefault(key, []).append(float(v))
        raise_together(failure, s.accelerator, s.world)
        if s.world > 1:
            sync_grads(params, s.accelerator)
        if ph.grad_clip:
            norm = torch.nn.utils.clip_grad_norm_(params, ph.grad_clip)     # the norm before clipping
            if not torch.isfinite(norm):
                raise TrainingError(f"{ph.name} gradients became non-finite at step {step}; try a lower train.lr")
            s.window.setdefault(loss_key.replace("loss", "grad_norm"), []).append(float(norm))
        opt.step()
    return k


def _log_row(s: Session, step: int, factor: float, *, items: int, since: float, t0: float,
             cpu0: float, stopped: str | None = None) -> dict[str, Any]:
    """The window's mean of every logged value (averaged over processes) plus lr, items/s, wall and CPU seconds;
    a row that ends training early says why (`stopped`: "time_budget" or "interrupted")."""
    now = time.perf_counter()
    row: dict[str, Any] = {"step": step}
    for key, values in s.window.items():
        mean = torch.tensor(sum(values) / len(values), device=s.accelerator.device)
        row[key] = s.accelerator.reduce(mean, reduction="mean").item() if s.world > 1 else mean.item()
    row.update(lr=s.phases[0].lr * factor, items_per_s=items / max(now - since, 1e-9), seconds=now - t0,
               cpu_seconds=time.process_time() - cpu0)
    if s.emas:
        row["ema_decay"] = next(iter(s.emas.values())).current_decay()     # the decay the next update uses
    if stopped is not None:
        row["stopped"] = stopped
    s.window = {}
    if s.main:
        with open(s.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        if s.tracker is not None:
            s.tracker.log_row(row)
    return row


def train(config: RunConfig, run_dir: str | Path, *, progress: bool = True, dataset: TrainData | None = None,
          sample_at_end: bool = True) -> TrainResult:
    """Train (or resume) the run in `run_dir` to `config.train.steps` steps; returns what happened."""
    s = start_session(config, Path(run_dir), dataset=dataset, progress=progress)
    try:
        return _train_session(s, sample_at_end=sample_at_end)
    finally:
        if s.tracker is not None:
            s.tracker.close()


def _train_session(s: Session, *, sample_at_end: bool) -> TrainResult:
    """The steps from the session's start (its checkpoint, or 0) to train.steps, then `_finish`."""
    tc = s.config.train
    start_step = step = s.saved or 0
    if s.saved is not None and start_step >= tc.steps:          # resumed at or past its last step
        if s.main:
            print(f"{s.run_dir} is already complete: step {start_step} of train.steps = {tc.steps} (a larger "
                  f"--steps continues it)")
        return _finish(s, step, start_step, "done", seconds=0.0, last_loss=_last_loss(s.run_dir),
                       sample_at_end=False)
    bar = tqdm(total=tc.steps, initial=start_step, disable=not (s.progress and s.main), dynamic_ncols=True,
               unit="step", desc=f"train {s.config.family}")
    t0 = since = time.perf_counter()
    clock = time.process_time if tc.budget_clock == "cpu" else time.perf_counter
    c0, cpu0 = clock(), time.process_time()
    items, last_loss = 0, float("nan")
    stopped: Stopped = "done"
    for m in s.models.values():
        m.train()
    with StopFlag() as stop:
        while step < tc.steps:
            factor = lr_factor(step, steps=tc.steps, warmup=tc.warmup_steps, schedule=tc.lr_schedule)
            torch.manual_seed(mix_seed(tc.seed, step, s.accelerator.process_index, 1))   # dropout etc.
            k = 0
            for pi in range(len(s.phases)):
                k = _run_phase(s, pi, step, factor, k)
            for name, ema in s.emas.items():
                ema.update(s.models[name])
            step, items = step + 1, items + tc.batch_size
            bar.update(1)
            over = tc.time_budget > 0 and clock() - c0 >= tc.time_budget
            interrupted, over = stop_flags(stop, over_budget=over, accelerator=s.accelerator, world=s.world)
            stopping = interrupted or (over and step < tc.steps)
            if stopping:
                stopped = "interrupted" if interrupted else "time_budget"
            if step % tc.log_every == 0 or step == tc.steps or stopping:   # a stop logs its partial window too
                row = _log_row(s, step, factor, items=items, since=since, t0=t0, cpu0=cpu0,
                               stopped=stopped if stopping else None)
                since, items = time.perf_counter(), 0
                last_loss = row.get("loss", next((v for k_, v in row.items() if k_.endswith("_loss")), last_loss))
                bar.set_postfix({k_: f"{v:.4g}" for k_, v in row.items() if k_.endswith("loss") or k_ == "items_per_s"})
            if tc.sample_every and step % tc.sample_every == 0:
                _sample_grid(s, step)
                for m in s.models.values():
                    m.train()
            if step % tc.checkpoint_every == 0:
                _checkpoint(s, step)
            if stopping:
                break
    bar.close()
    return _finish(s, step, start_step, stopped, seconds=time.perf_counter() - t0, last_loss=last_loss,
                   sample_at_end=sample_at_end)


def _last_loss(run_dir: Path) -> float:
    """The loss of log.jsonl's last row (the first phase's for GANs), NaN when there is none."""
    log = run_dir / "log.jsonl"
    lines = log.read_text().splitlines() if log.is_file() else []
    row = json.loads(lines[-1]) if lines and lines[-1].strip() else {}
    return float(row.get("loss", next((v for k, v in row.items() if k.endswith("_loss")), math.nan)))


def _finish(s: Session, step: int, start_step: int, stopped: Stopped, *, seconds: float, last_loss: float,
            sample_at_end: bool) -> TrainResult:
    """Checkpoint the last step and draw the end-of-run grid; how a stopped run resumes is its caller's to say
    (`genlab train` resumes with the same command, the demo and compare plan their own budgets)."""
    if s.saved != step:
        _checkpoint(s, step)
    if stopped != "interrupted" and sample_at_end:
        _sample_grid(s, step)
    return TrainResult(run_dir=s.run_dir, step=step, stopped=stopped, seconds=seconds,
                       items_per_s=(step - start_step) * s.config.train.batch_size / max(seconds, 1e-9),
                       last_loss=last_loss, main_process=s.main)
