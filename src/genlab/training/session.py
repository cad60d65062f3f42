"""What one training call holds, and how it starts: processes, precision, data, networks, optimisers, resume."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from torch import nn

from genlab.config import RunConfig
from genlab.errors import ConfigError
from genlab.files import write_json_atomic
from genlab.nn.hardware import describe_machine
from genlab.nn.runtime import tune_cpu
from genlab.training.checkpoint import latest_checkpoint, remove_stale_temporaries, truncate_log
from genlab.training.ema import EMA
from genlab.training.objective import Family, Phase
from genlab.training.processes import resolve_precision_together
from genlab.training.resume import check_resume_config, restore
from genlab.training.tracker import TensorBoardTracker, open_tracker, require_tracker
from genlab.training.run import TrainData, build_family, config_record, load_config_record, prepare_data


@dataclass
class Session:
    """Everything one training call holds: processes, data, the family's networks, optimisers and EMAs."""

    config: RunConfig
    run_dir: Path
    accelerator: Accelerator
    precision: str
    data: TrainData
    family: Family
    models: dict[str, nn.Module]
    phases: list[Phase]
    optimizers: dict[str, torch.optim.Optimizer]
    emas: dict[str, EMA]
    progress: bool
    saved: int | None = None                   # the last checkpointed step, the same on every rank
    window: dict[str, list[float]] = field(default_factory=dict)
    tracker: TensorBoardTracker | None = None  # TensorBoard events (train.tracker), on the main process only
    sampled: int | None = None                 # the step of the last sample grid

    @property
    def main(self) -> bool:
        """Whether this is the process that writes files and prints."""
        return bool(self.accelerator.is_main_process)

    @property
    def world(self) -> int:
        """The number of training processes."""
        return int(self.accelerator.num_processes)


def start_session(config: RunConfig, run_dir: Path, *, dataset: TrainData | None, progress: bool) -> Session:
    """Processes, precision, data, family, networks, optimisers and EMAs, resumed from the run folder's newest
    checkpoint when it has one (`saved` is then that step), else with config.json written."""
    tc = config.train
    require_tracker(tc.tracker)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    device, world = accelerator.device, accelerator.num_processes
    tune_cpu(threads=tc.threads or None)
    if tc.batch_size % (tc.grad_accum * world) != 0:
        raise ConfigError(f"train.batch_size = {tc.batch_size} must be divisible by grad_accum x processes "
                          f"= {tc.grad_accum} x {world}")
    data = prepare_data(config.data, seed=tc.seed) if dataset is None else dataset
    precision, reason = resolve_precision_together(tc.precision, device, accelerator, world, kind=data.info.kind)
    if accelerator.is_main_process:
        print(f"precision {reason}")
    family = build_family(config, data.info)
    torch.manual_seed(tc.seed)
    models = {name: m.to(device) for name, m in family.build_models().items()}
    if latest_checkpoint(run_dir) is None:
        family.warm_start(models)                  # a fresh start only: a resumed run has its own weights
    phases = family.phases()
    optimizers: dict[str, torch.optim.Optimizer] = {
        ph.name: torch.optim.AdamW([p for m in ph.modules for p in models[m].parameters()], lr=ph.lr,
                                   betas=ph.betas, weight_decay=ph.weight_decay,
                                   fused=device.type in ("cpu", "cuda"))
        for ph in phases
    }
    emas = {name: EMA(models[name], decay=tc.ema_decay) for name in family.ema_modules}
    session = Session(config, run_dir, accelerator, precision, data, family, models, phases, optimizers, emas,
                       progress)
    _open_run_folder(session, reason)
    if session.saved is None or session.saved < tc.steps:    # a finished run re-run writes no events
        session.tracker = open_tracker(tc.tracker, run_dir, family=config.family, main=session.main,
                                       resumed_at=session.saved)
    return session


def _open_run_folder(s: Session, reason: str) -> None:
    """Resume from the newest checkpoint (config checked, replayed log rows dropped) or write config.json."""
    record = config_record(s.config, s.data.info)
    record["genlab"]["precision"] = {"resolved": s.precision, "reason": reason}   # config keeps "auto": resumable
    record["genlab"]["hardware"] = describe_machine(s.accelerator.device, processes=s.world)
    if s.main:
        remove_stale_temporaries(s.run_dir)          # left by a process killed while writing a checkpoint
    ckpt = latest_checkpoint(s.run_dir)
    if ckpt is not None:
        check_resume_config(s.run_dir, record)
        s.saved = restore(ckpt, family=s.config.family, models=s.models, emas=s.emas, optimizers=s.optimizers)
        if s.main:
            truncate_log(s.run_dir / "log.jsonl", s.saved)     # the steps after it are replayed and logged again
            print(f"resuming {s.run_dir} from step {s.saved}")
            before = load_config_record(s.run_dir)["genlab"].get("precision", {}).get("resolved")
            if before not in (None, s.precision):
                print(f"note: the run started in {before}, it continues in {s.precision} on this machine")
    elif s.main:
        truncate_log(s.run_dir / "log.jsonl", 0)    # rows of an earlier start that crashed before checkpointing
        (s.run_dir / "samples").mkdir(parents=True, exist_ok=True)
        write_json_atomic(s.run_dir / "config.json", record)
    s.accelerator.wait_for_everyone()
