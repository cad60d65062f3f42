"""The one training loop: every family is a list of phases (diffusion and VAEs: one; GANs: D then G).

Read it top to bottom: set up processes (HF Accelerate: one process, or torchrun/accelerate launch),
build or resume, then for each step run each phase `repeats` times over `grad_accum` micro-batches,
average gradients over processes, clip, step, update the EMA, log, draw samples, checkpoint.

All randomness is a function of (seed, step, phase, repeat, micro-batch): data order, diffusion noise and
timesteps, dropout. A resumed run therefore replays the uninterrupted run exactly, and N processes see the
same numbers as one process with the same global batch (each draws the global batch's noise and keeps
its own rows, see `BatchRandom`).

Gradients are averaged across processes explicitly per phase (one flattened all-reduce through the
engine) rather than through a DistributedDataParallel wrapper: a GAN phase back-propagates through a
frozen module, which DDP's fixed set of gradient hooks does not allow, and one code path serves all.
"""
from __future__ import annotations

import json
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn
from tqdm.auto import tqdm

from genlab.config import RunConfig
from genlab.errors import ConfigError, TrainingError
from genlab.files import write_json_atomic
from genlab.nn.hardware import resolve_precision
from genlab.nn.runtime import tune_cpu
from genlab.sharding import SamplingProgress
from genlab.seeding import mix_seed
from genlab.training.checkpoint import (check_finite, ema_updates_of, latest_checkpoint, load_module_state,
                                        load_optimizer_states, read_trainer_state, read_weights,
                                        remove_stale_temporaries, save_checkpoint, split_prefix, truncate_log)
from genlab.training.ema import EMA
from genlab.training.objective import Batch, BatchRandom, DataInfo, Phase
from genlab.training.run import build_family, config_record, load_config_record, prepare_data

# Keys that may change when a run is resumed; anything else must match the stored config.
RESUMABLE_KEYS = {"steps", "time_budget", "log_every", "sample_every", "sample_n", "checkpoint_every",
                  "keep_checkpoints", "threads"}


@dataclass
class TrainResult:
    """What a training call did."""

    run_dir: Path
    step: int
    stopped: Literal["done", "time_budget", "interrupted"]
    seconds: float
    items_per_s: float
    last_loss: float
    main_process: bool = True


def lr_factor(step: int, *, steps: int, warmup: int, schedule: str) -> float:
    """Linear warm-up then constant or cosine decay; a pure function of the step (exact on resume)."""
    warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    if schedule == "cosine":
        return warm * 0.5 * (1.0 + math.cos(math.pi * min(step, steps) / max(1, steps)))
    return warm


class _StopFlag:
    """Ctrl-C asks the loop to stop at the next step boundary and checkpoint; a second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> "_StopFlag":
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread (e.g. inside a notebook worker)
            self._previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _check_resume_config(run_dir: Path, record: dict[str, Any]) -> None:
    stored = load_config_record(run_dir)
    old_info, new_info = stored["genlab"].get("data_info"), record["genlab"]["data_info"]
    if old_info and old_info != new_info:
        raise ConfigError(f"{run_dir} was trained on {old_info['kind']}s of shape {old_info['shape']}, this data "
                          f"has shape {new_info['shape']}: pick another --out")
    old, new = stored["config"], record["config"]
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section), new.get(section)
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if section == "train" and key in RESUMABLE_KEYS:
                    continue
                if a.get(key) != b.get(key):
                    raise ConfigError(f"{run_dir} holds a run with {section}.{key} = {a.get(key)!r}, not "
                                      f"{b.get(key)!r}: pick another --out, or keep the config to resume")
        elif a != b:
            raise ConfigError(f"{run_dir} holds a run with {section} = {a!r}, not {b!r}: pick another --out")


def _sync_grads(params: list[nn.Parameter], accelerator: Accelerator) -> None:
    """Average gradients over processes with one flattened all-reduce."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    flat = accelerator.reduce(flat, reduction="mean")
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def _raise_together(failure: TrainingError | None, accelerator: Accelerator, world: int) -> None:
    """Stop every process when any one of them failed (NaN loss, GAN collapse), instead of leaving the others
    waiting in the next all-reduce; the failing process's message is the one shown."""
    if world > 1:
        flag = accelerator.reduce(torch.tensor([0.0 if failure is None else 1.0], device=accelerator.device),
                                  reduction="sum")
        if failure is None and flag.item() > 0:
            failure = TrainingError("another process stopped training (NaN loss or divergence); see its message")
    if failure is not None:
        raise failure


def _resolve_precision_together(name: str, device: torch.device, accelerator: Accelerator,
                                world: int) -> tuple[str, str]:
    """Resolve train.precision once; under several processes "auto" is bf16 only when every rank chose it."""
    precision, reason = resolve_precision(name, device)
    if world > 1 and name == "auto":
        votes = accelerator.reduce(torch.tensor([float(precision == "bf16")], device=device), reduction="sum")
        if precision == "bf16" and votes.item() < world:
            precision, reason = "fp32", "fp32: not every process has native bf16"
    return precision, reason


def train(config: RunConfig, run_dir: str | Path, *, progress: bool = True, dataset: Any = None,
          sample_at_end: bool = True) -> TrainResult:
    """Train (or resume) the run in `run_dir` to `config.train.steps` steps; returns what happened."""
    tc = config.train
    run_dir = Path(run_dir)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    main = accelerator.is_main_process
    tune_cpu(threads=tc.threads or None)
    precision, reason = _resolve_precision_together(tc.precision, device, accelerator, world)
    if main:
        print(f"precision {reason}")
    if tc.batch_size % (tc.grad_accum * world) != 0:
        raise ConfigError(f"train.batch_size = {tc.batch_size} must be divisible by grad_accum x processes "
                          f"= {tc.grad_accum} x {world}")
    micro_global = tc.batch_size // tc.grad_accum
    micro_local = micro_global // world

    # --- data, family, networks ------------------------------------------------------------------
    data = prepare_data(config.data, seed=tc.seed) if dataset is None else dataset
    info: DataInfo = data.info
    family = build_family(config, info)
    torch.manual_seed(tc.seed)
    models = {name: m.to(device) for name, m in family.build_models().items()}
    phases: list[Phase] = family.phases()
    optimizers = {
        ph.name: torch.optim.AdamW([p for m in ph.modules for p in models[m].parameters()], lr=ph.lr,
                                   betas=ph.betas, weight_decay=ph.weight_decay,
                                   fused=device.type in ("cpu", "cuda"))
        for ph in phases
    }
    emas = {name: EMA(models[name], decay=tc.ema_decay) for name in family.ema_modules}

    record = config_record(config, info)
    record["genlab"]["precision"] = {"resolved": precision, "reason": reason}   # config keeps "auto": resumable
    start_step = 0
    history: list[dict[str, Any]] = []
    if main:
        remove_stale_temporaries(run_dir)          # left by a process killed while writing a checkpoint
    ckpt = latest_checkpoint(run_dir)
    if ckpt is not None:
        _check_resume_config(run_dir, record)
        tensors, _ = read_weights(ckpt, family=config.family)
        for name, state in split_prefix(tensors, "model").items():
            load_module_state(models[name], state, what=f"the '{name}' network")
        for name, state in split_prefix(tensors, "ema").items():
            load_module_state(emas[name].module, state, what=f"the EMA of '{name}'")
        trainer, optim_states = read_trainer_state(ckpt)
        load_optimizer_states(optimizers, optim_states, folder=ckpt)
        for name, updates in ema_updates_of(trainer, emas, folder=ckpt).items():
            emas[name].updates = updates
        start_step = trainer["step"]
        if main:
            truncate_log(run_dir / "log.jsonl", start_step)     # the steps after it are replayed and logged again
            print(f"resuming {run_dir} from step {start_step}")
            before = load_config_record(run_dir)["genlab"].get("precision", {}).get("resolved")
            if before not in (None, precision):
                print(f"note: the run started in {before}, it continues in {precision} on this machine")
    elif main:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_dir / "config.json", record)
    accelerator.wait_for_everyone()

    saved = {"step": start_step if ckpt is not None else None}   # decided from loop state, the same on every rank

    def checkpoint(step: int) -> None:
        saved["step"] = step
        tensors = {f"model.{n}.{k}": v for n, m in models.items() for k, v in m.state_dict().items()}
        tensors.update({f"ema.{n}.{k}": v for n, e in emas.items() for k, v in e.module.state_dict().items()})
        check_finite(tensors, step=step, run_dir=run_dir)        # on every rank: they hold the same weights
        if main:
            save_checkpoint(run_dir, step=step, family=config.family, tensors=tensors,
                            optimizers={n: o.state_dict() for n, o in optimizers.items()},
                            trainer_state={"ema_updates": {n: e.updates for n, e in emas.items()}},
                            keep=tc.keep_checkpoints)
        accelerator.wait_for_everyone()

    def sample_grid(step: int) -> Path | None:
        if not main or info.kind != "image" or not family.can_sample:
            return None
        from genlab.viz import save_grid
        gen = torch.Generator().manual_seed(tc.seed)
        sample_models = {n: (emas[n].module if n in emas else m) for n, m in models.items()}
        with torch.inference_mode(), SamplingProgress(family, 1, desc="sample grid", enabled=progress) as bar:
            x = family.sample(sample_models, tc.sample_n, generator=gen, **bar.options({}))
        return save_grid(x, run_dir / "samples" / f"step_{step:07d}.png")

    # --- the loop -----------------------------------------------------------------------------------
    x_all, y_all = data.x, data.y
    n_items = x_all.shape[0]
    batches_per_step = sum(ph.repeats * tc.grad_accum for ph in phases)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    from genlab.data import batch_indices, to_float

    bar = tqdm(total=tc.steps, initial=start_step, disable=not (progress and main), dynamic_ncols=True,
               unit="step", desc=f"train {config.family}")
    log_path = run_dir / "log.jsonl"
    window: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    window_t0, window_items = t0, 0
    step = start_step
    stopped: Literal["done", "time_budget", "interrupted"] = "done"
    last_loss = float("nan")
    for m in models.values():
        m.train()
    with _StopFlag() as stop:
        while step < tc.steps:
            factor = lr_factor(step, steps=tc.steps, warmup=tc.warmup_steps, schedule=tc.lr_schedule)
            torch.manual_seed(mix_seed(tc.seed, step, rank, 1))           # dropout etc.: per step, per rank
            k = 0
            for pi, ph in enumerate(phases):
                opt = optimizers[ph.name]
                for g in opt.param_groups:
                    g["lr"] = ph.lr * factor
                trainable = set(ph.modules)
                for name, m in models.items():
                    m.requires_grad_(name in trainable)
                params = [p for m in ph.modules for p in models[m].parameters()]
                for r in range(ph.repeats):
                    opt.zero_grad(set_to_none=True)
                    failure: TrainingError | None = None
                    for micro in range(tc.grad_accum):
                        idx = batch_indices(n_items, batch_size=micro_global, step=step * batches_per_step + k,
                                            seed=tc.seed)[rank * micro_local:(rank + 1) * micro_local]
                        k += 1
                        idx_t = torch.from_numpy(np.asarray(idx, dtype=np.int64))
                        xb = x_all[idx_t].to(device)
                        xb = to_float(xb) if xb.dtype == torch.uint8 else xb
                        yb = y_all[idx_t].to(device) if y_all is not None else None
                        rng = BatchRandom(torch.Generator().manual_seed(mix_seed(tc.seed, step, pi, r, micro)),
                                          global_size=micro_global, start=rank * micro_local, size=micro_local,
                                          device=device)
                        try:
                            with autocast:
                                loss, logs = family.loss(ph.name, models, Batch(x=xb, y=yb, rng=rng, step=step))
                            loss = loss.float()
                            value = loss.item()
                            if not math.isfinite(value):
                                last = latest_checkpoint(run_dir)
                                raise TrainingError(
                                    f"{ph.name} loss became {value} at step {step}; stopped without saving "
                                    f"(last good checkpoint: {last if last else 'none yet'}); try a lower "
                                    f"train.lr or train.precision=fp32")
                        except TrainingError as err:
                            failure = err
                            break
                        (loss / tc.grad_accum).backward()
                        for key, v in {f"{ph.name}_loss" if len(phases) > 1 else "loss": value, **logs}.items():
                            window.setdefault(key, []).append(float(v))
                    _raise_together(failure, accelerator, world)
                    if world > 1:
                        _sync_grads(params, accelerator)
                    if ph.grad_clip:
                        norm = torch.nn.utils.clip_grad_norm_(params, ph.grad_clip)
                        if not torch.isfinite(norm):
                            raise TrainingError(f"{ph.name} gradients became non-finite at step {step}; "
                                                f"try a lower train.lr")
                    opt.step()
            for name, ema in emas.items():
                ema.update(models[name])
            step += 1
            window_items += tc.batch_size
            bar.update(1)

            elapsed = time.perf_counter() - t0
            flags = torch.tensor([float(stop.requested), float(tc.time_budget > 0 and elapsed >= tc.time_budget)])
            if world > 1:
                flags = accelerator.reduce(flags.to(device), reduction="sum").cpu()
            stopping = bool(flags[0] > 0) or bool(flags[1] > 0 and step < tc.steps)
            if step % tc.log_every == 0 or step == tc.steps or stopping:   # a stop logs its partial window too
                now = time.perf_counter()
                row: dict[str, Any] = {"step": step}
                for key, values in window.items():
                    mean = torch.tensor(sum(values) / len(values), device=device)
                    row[key] = accelerator.reduce(mean, reduction="mean").item() if world > 1 else mean.item()
                row.update(lr=phases[0].lr * factor, items_per_s=window_items / max(now - window_t0, 1e-9),
                           seconds=now - t0)
                last_loss = row.get("loss", next((v for k, v in row.items() if k.endswith("_loss")), last_loss))
                window, window_t0, window_items = {}, now, 0
                if main:
                    with open(log_path, "a") as f:
                        f.write(json.dumps(row) + "\n")
                    bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items()
                                     if k.endswith("loss") or k == "items_per_s"})
            if tc.sample_every and step % tc.sample_every == 0:
                sample_grid(step)
                for m in models.values():
                    m.train()
            if step % tc.checkpoint_every == 0:
                checkpoint(step)

            if flags[0] > 0:
                stopped = "interrupted"
                break
            if flags[1] > 0 and step < tc.steps:
                stopped = "time_budget"
                break
    bar.close()
    seconds = time.perf_counter() - t0
    if saved["step"] != step:
        checkpoint(step)
    if stopped != "interrupted" and sample_at_end:
        sample_grid(step)
    if main and stopped != "done":
        print(f"stopped at step {step} ({'Ctrl-C' if stopped == 'interrupted' else 'time budget'}); "
              f"checkpoint saved, run the same command again to resume")
    steps_done = step - start_step
    return TrainResult(run_dir=run_dir, step=step, stopped=stopped, seconds=seconds,
                       items_per_s=steps_done * tc.batch_size / max(seconds, 1e-9), last_loss=last_loss,
                       main_process=main)
