"""Progressive distillation stage by stage: each stage a normal, checkpointed run of the one training loop.

Stage k trains a student of n = from_steps / 2^k DDIM steps against the previous stage (the first against the
teacher run). The last student is the run folder OUT itself; the others are OUT/stages/steps_N. A finished
stage leaves `stage.json` in its folder and is skipped when the command runs again; an unfinished one resumes
from its newest checkpoint at the exact step (genlab.training.loop). What `genlab distill` calls.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genlab.config import RunConfig, run_config_from_dict
from genlab.distill.family import STUDENT_OF
from genlab.distill.grid import default_from_steps, stage_plan
from genlab.errors import CheckpointError, ConfigError
from genlab.files import write_json_atomic

if TYPE_CHECKING:
    from genlab.training.run import TrainData

STAGE_FILE = "stage.json"


@dataclass(frozen=True)
class Budget:
    """Each stage's optimiser: `steps` updates (or fewer, when `seconds` > 0 runs out first) at a learning rate
    decaying linearly from `lr` to 0 over `steps` (Salimans & Ho 2022, app.: Adam, linear anneal per stage)."""

    steps: int = 300
    seconds: float = 0.0
    lr: float = 3e-4
    batch_size: int = 32                   # small batches, more steps: what a CPU's minutes buy best
    ema_decay: float = 0.0                 # the paper's distillation runs keep no EMA (decay 0)


@dataclass(frozen=True)
class StageResult:
    """What one stage did: its student's DDIM `steps` and run folder, and the optimiser steps, seconds, items/s
    and last logged loss of its training (`skipped`: finished by an earlier call, whose numbers these are)."""

    steps: int
    run_dir: Path
    train_steps: int
    seconds: float
    items_per_s: float
    loss: float
    stopped: str
    skipped: bool = False

    def record(self) -> dict[str, Any]:
        """What stage.json holds."""
        return {k: str(v) if k == "run_dir" else v for k, v in asdict(self).items() if k != "skipped"}

    @classmethod
    def from_record(cls, values: dict[str, Any]) -> StageResult:
        """A finished stage read back from its stage.json."""
        return cls(**{**values, "run_dir": Path(values["run_dir"]), "skipped": True})


def teacher_record(path: str | Path) -> dict[str, Any]:
    """The teacher's stored config as a complete dict (defaults filled in), or a one-line error when the run
    cannot teach."""
    from genlab.training.run import load_config_record

    try:
        config = load_config_record(Path(path))["config"]
    except CheckpointError as err:
        raise CheckpointError(f"teacher: {err}") from None
    family = config.get("family")
    if family not in STUDENT_OF:
        raise ConfigError(f"teacher {path} is a {family!r} run; distillation needs a diffusion teacher: a run of "
                          f"family {', '.join(repr(f) for f in STUDENT_OF)}")
    try:
        return run_config_from_dict(config).to_dict()
    except ConfigError as err:
        raise CheckpointError(f"teacher {path}/config.json: {err}") from None


def stage_config(teacher: dict[str, Any], *, teacher_dir: str | Path, student_steps: int, budget: Budget,
                 guidance: float) -> RunConfig:
    """The config of a student of `student_steps` DDIM steps (trailing grid, eta 0, v-prediction) learning from
    the run in teacher_dir, whose sections (network, schedule, condition, data) it copies from `teacher`."""
    values = json.loads(json.dumps(teacher))
    tc = values["train"]
    values["family"] = STUDENT_OF[values["family"]]
    values["train"] = {"steps": budget.steps, "time_budget": budget.seconds, "lr": budget.lr,
                       "batch_size": budget.batch_size, "warmup_steps": 0,
                       "lr_schedule": "linear", "ema_decay": budget.ema_decay, "precision": tc["precision"],
                       "seed": tc["seed"], "grad_clip": 1.0, "log_every": max(1, min(25, budget.steps // 10)),
                       "checkpoint_every": max(1, min(100, budget.steps)), "threads": tc.get("threads", 0)}
    values["model"]["dropout"] = 0.0                          # the paper's students: the teacher's net, no dropout
    values["diffusion"].update(sampler="ddim", sample_steps=student_steps, spacing="trailing", eta=0.0,
                               prediction="v")
    values["condition"].update(label_dropout=0.0, guidance=1.0)      # always conditioned; guidance baked in
    values["distill"] = {"teacher": str(Path(teacher_dir).resolve()), "teacher_steps": 2 * student_steps,
                         "guidance": guidance}
    return run_config_from_dict(values)


def _finished(run_dir: Path, student_steps: int) -> StageResult | None:
    """The stage.json of a finished stage of a student of `student_steps`, or None when it is unfinished."""
    path = run_dir / STAGE_FILE
    if not path.is_file():
        return None
    try:
        done = StageResult.from_record(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        raise CheckpointError(f"{path} is damaged; delete it to train that stage again") from None
    if done.steps != student_steps:
        raise ConfigError(f"{run_dir} holds a finished {done.steps}-step student, not a {student_steps}-step "
                          f"one: pick another --out")
    return done


def stage_steps(teacher: str | Path, *, to_steps: int, from_steps: int | None = None) -> list[int]:
    """The students' DDIM steps, stage by stage, distilling the teacher run to to_steps (64 -> 4: [32, 16, 8, 4])."""
    d = teacher_record(teacher)["diffusion"]
    return stage_plan(d["T"], from_steps or default_from_steps(d["sample_steps"]), to_steps)


def _train_stage(config: RunConfig, run_dir: Path, *, steps: int, data: TrainData, progress: bool,
                 main: bool) -> StageResult:
    """Train (or resume) the stage of a student of `steps`; a stage that was not interrupted leaves stage.json."""
    from genlab.training.loop import train

    r = train(config, run_dir, progress=progress, dataset=data)
    done = StageResult(steps=steps, run_dir=run_dir, train_steps=r.step, seconds=round(r.seconds, 1),
                       items_per_s=round(r.items_per_s, 1), loss=r.last_loss, stopped=r.stopped)
    if main and r.stopped != "interrupted":
        write_json_atomic(run_dir / STAGE_FILE, done.record())
    return done


def distill(teacher: str | Path, out: str | Path, *, to_steps: int, from_steps: int | None = None,
            budget: Budget | None = None, seconds_per_stage: float | None = None, guidance: float | None = None,
            progress: bool = True, echo: Callable[[str], None] = print) -> list[StageResult]:
    """Distil the teacher run from from_steps DDIM steps down to to_steps, stage by stage; the student of
    to_steps is the run folder `out`. `seconds_per_stage` replaces budget.seconds. Stops after an interrupted
    stage (its checkpoint resumes it)."""
    from genlab.sharding import process_rank
    from genlab.training.run import prepare_data

    budget = budget or Budget()
    if seconds_per_stage is not None:
        budget = replace(budget, seconds=seconds_per_stage)
    record = teacher_record(teacher)
    d, c = record["diffusion"], record["condition"]
    plan = stage_plan(d["T"], from_steps or default_from_steps(d["sample_steps"]), to_steps)
    if guidance is not None and c["kind"] == "none":
        raise ConfigError(f"--guidance needs a conditional teacher; {teacher} is unconditional")
    scale = 1.0 if c["kind"] == "none" else (c["guidance"] if guidance is None else guidance)
    results: list[StageResult] = []
    data, main = None, process_rank()[0] == 0           # under torchrun every rank trains, rank 0 writes and prints
    if main and d["prediction"] != "v":
        echo(f"note: the teacher predicts {d['prediction']}, its students v (Salimans & Ho 2022, sec. 4): the first "
             f"stage starts from the teacher's weights but has to re-learn what the network outputs")
    teacher_dir, out = Path(teacher), Path(out)
    for k, n in enumerate(plan):
        run_dir = out if n == to_steps else out / "stages" / f"steps_{n}"
        config = stage_config(record, teacher_dir=teacher_dir, student_steps=n, budget=budget,
                              guidance=scale if k == 0 else 1.0)     # later teachers have the guidance baked in
        done = _finished(run_dir, n)
        if done is None:
            data = data or prepare_data(config.data, seed=config.train.seed)
            done = _train_stage(config, run_dir, steps=n, data=data, progress=progress, main=main)
        results.append(done)
        if main:
            echo(f"stage {2 * n} -> {n} steps: {done.train_steps} optimiser steps in {done.seconds:.0f} s, final loss "
                 f"{done.loss:.4g} ({'finished earlier, skipped' if done.skipped else done.stopped}) -> {run_dir}")
        if done.stopped == "interrupted":
            break
        teacher_dir = run_dir
    return results
