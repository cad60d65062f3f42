"""`genlab compare`: the generative learning trilemma measured (Xiao et al. 2022; the Ricci notes' chart).

Each entry is trained on the same data for the same wall-clock budget on the same machine (its step count
calibrated by a probe so that the learning rate decays exactly at the budget); the distilled students add
their own distillation time to their teacher's. Then every row draws n samples with the same batch size
in this one process, one after the other, and is judged by the same numbers: quality (Frechet distance,
precision), coverage (recall; modes covered on the 2-D toys) and sampling speed (samples per second).
A row whose n samples would take longer than the sampling budget reports its speed and says why it has
no quality numbers, rather than stopping the comparison or scoring fewer samples than the others.
"""
from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.compare.judge import clear_reference_cache, judge
from genlab.compare.recipes import DEFAULT_FAMILIES, ENTRIES, STUDENT_STEPS, Entry, Row, check_entries, recipe
from genlab.config import apply_overrides, run_config_from_dict
from genlab.errors import ConfigError

SAMPLE_BATCH = 250          # every row samples in chunks of this size, so speeds compare like with like
PROBE = 25                  # samples of the untimed warm-up that also projects a row's sampling time


@dataclass
class Trained:
    """An entry's run folder(s) and what training (and distillation) cost: `runs` by student steps for the
    distilled entry, {None: run} otherwise; `seconds` likewise (cumulative: a student includes its teacher)."""

    runs: dict[int | None, Path]
    steps: int
    seconds: dict[int | None, float]


@dataclass
class RowResult:
    """One row of the comparison: how it was made, and its numbers (no metrics when `note` says why)."""

    label: str
    entry: str
    family: str
    calls: int                      # network evaluations per sample
    train_steps: int
    train_seconds: float
    sample_seconds: float
    samples_per_s: float
    metrics: dict[str, float | str] = field(default_factory=dict)
    note: str = ""
    samples: np.ndarray | None = None


def _train(entry: Entry, kind: str, *, data: str, seconds: float, seed: int, out: Path, progress: bool) -> Trained:
    """Train one entry's recipe for `seconds` into `out`."""
    from genlab.demo import calibrate_steps
    from genlab.training.loop import train

    values = recipe(entry.family, kind, data=data, seconds=seconds, seed=seed, overrides=entry.overrides)
    values["train"]["steps"] = calibrate_steps(values, seconds)
    if (out / "config.json").exists():
        raise ConfigError(f"{out} already holds a run from an earlier comparison; give compare a new --out "
                          f"(or remove {out}) so that every entry trains from scratch on the same budget")
    with contextlib.redirect_stdout(io.StringIO()):    # quiet entries: compare prints one line per entry itself
        res = train(run_config_from_dict(apply_overrides(values, [])), out, progress=progress, sample_at_end=False)
    return Trained(runs={None: out}, steps=res.step, seconds={None: res.seconds})


def _distill(teacher: Trained, *, seconds: float, out: Path, progress: bool) -> Trained:
    """Progressive distillation of the teacher run down to one step, `seconds` in all (equal stages)."""
    from genlab.distill.progressive import distill, stage_steps

    run = teacher.runs[None]
    stages = stage_steps(run, to_steps=1)
    results = distill(run, out, to_steps=1, seconds_per_stage=seconds / len(stages), progress=progress)
    spent = teacher.seconds[None]
    runs: dict[int | None, Path] = {}
    times: dict[int | None, float] = {}
    for stage in results:
        spent += stage.seconds
        runs[stage.steps], times[stage.steps] = stage.run_dir, spent
    return Trained(runs=runs, steps=sum(s.train_steps for s in results), seconds=times)


def network_calls(run: Any, row: Row) -> int:
    """Network evaluations per sample of a row: the sampler's (`Sampler.network_calls`), the
    students' steps, T for a ddgan chain, 1 for a GAN or a VAE decoder."""
    from genlab.ddgan.family import DDGANFamily
    from genlab.diffusion.family import DiffusionFamily
    from genlab.diffusion.samplers import get_sampler

    if row.stage is not None:
        return row.stage
    if isinstance(run.family, DDGANFamily):
        return int(run.family.config.ddgan.T)
    if isinstance(run.family, DiffusionFamily):
        d = run.family.config.diffusion
        sampler = get_sampler(row.options.get("sampler", d.sampler))
        return sampler.network_calls(int(row.options.get("steps", d.T if sampler.full_chain else d.sample_steps)))
    return 1


def sample_row(run: Any, row: Row, *, n: int, seed: int, budget: float) -> tuple[np.ndarray | None, float, str]:
    """(n samples, seconds taken, note) of one row, drawn in chunks of SAMPLE_BATCH after an untimed warm-up.

    The warm-up is a probe of PROBE samples, timed to project the cost of n: when that exceeds `budget`, the row
    returns None, the seconds n would take at the probe's rate, and a note saying so."""
    from genlab.data import to_uint8

    size = min(PROBE, n)
    t0 = time.perf_counter()
    run.sample(size, seed=seed + 10**6, batch_size=size, **row.options)   # first calls pay one-off costs
    projected = (time.perf_counter() - t0) * n / size
    if projected > budget:
        return None, projected, (f"not scored: {n} samples would take ~{projected:.0f} s, over the {budget:.0f} s "
                                 f"sampling budget (--sample-time-budget); speed from a {size}-sample probe")
    chunks, spent = [], 0.0
    for k, start in enumerate(range(0, n, SAMPLE_BATCH)):
        t0 = time.perf_counter()
        chunks.append(run.sample(min(SAMPLE_BATCH, n - start), seed=seed + 1 + k, batch_size=SAMPLE_BATCH,
                                 **row.options))
        spent += time.perf_counter() - t0
    x = torch.cat(chunks)
    return (to_uint8(x).numpy() if run.info.kind == "image" else x.double().numpy()), spent, ""


def compare(*, data: str = "mnist", families: tuple[str, ...] = DEFAULT_FAMILIES, seconds: float = 120.0,
            n: int = 1000, out: str | Path = "runs/compare", seed: int = 0, progress: bool = True,
            distill_seconds: float | None = None, sample_seconds: float = 600.0,
            log: Callable[[str], None] = print) -> list[RowResult]:
    """Train each entry on `data` for `seconds` (the students: `distill_seconds`, default `seconds`), sample n
    per row and measure quality, coverage and speed; writes the report under `out`."""
    from genlab.compare.report import write_report
    from genlab.data import load_dataset
    from genlab.training.run import load_run

    check_entries(families)
    clear_reference_cache()                 # the reference is read afresh once per comparison (files may change)
    out = Path(out)
    kind = load_dataset(data, split="train", limit=2).kind
    trained: dict[str, Trained] = {}
    results: list[RowResult] = []
    for name in families:
        entry = ENTRIES[name]
        if entry.distilled:
            trained[name] = _distill(trained["ddpm"], seconds=distill_seconds or seconds, out=out / name,
                                     progress=progress)
        else:
            trained[name] = _train(entry, kind, data=data, seconds=seconds, seed=seed, out=out / name,
                                   progress=progress)
        done = trained[name]
        log(f"compare: {name}: {done.steps} training steps in {max(done.seconds.values()):.0f} s")
        loaded: dict[int | None, Any] = {}                 # each run folder loaded once for all its rows
        for row in entry.rows:
            if row.stage not in done.runs:
                log(f"compare: {row.label}: no such student (distilled steps: {sorted(k for k in done.runs if k)})")
                continue
            if row.stage not in loaded:
                loaded[row.stage] = load_run(done.runs[row.stage])
            run = loaded[row.stage]
            samples, spent, note = sample_row(run, row, n=n, seed=seed, budget=sample_seconds)
            result = RowResult(label=row.label, entry=name, family=entry.family, calls=network_calls(run, row),
                               train_steps=done.steps, train_seconds=done.seconds[row.stage], sample_seconds=spent,
                               samples_per_s=n / spent, note=note, samples=samples)
            if samples is not None:
                result.metrics = judge(samples, data=data, kind=kind, n=n)
            log(f"compare: {row.label}: {result.samples_per_s:.1f} samples/s"
                + (f", FD {result.metrics['fd']:.2f}" if result.metrics else f"; {note}"))
            results.append(result)
    write_report(results, out=out, data=data, seconds=seconds, n=n, kind=kind)
    return results


__all__ = ["STUDENT_STEPS", "RowResult", "compare", "network_calls", "sample_row"]
