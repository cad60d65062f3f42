"""Checkpoints: safetensors weights + JSON trainer state + optimiser state, written atomically.

Layout of a run folder:
    config.json                 the run's full config and provenance (family, data shape, genlab version)
    log.jsonl                   one JSON object per logged step
    samples/                    progress grids
    checkpoints/step_0001500/   weights.safetensors (models and their EMA), optimizer.pt, trainer.json
    checkpoints/latest          name of the newest complete checkpoint folder

A checkpoint folder is written under a temporary name and renamed into place, then `latest` is replaced
atomically: a crash at any moment leaves the previous checkpoint intact, and the temporary folder it left is
removed on the next start. Weights that are not finite are never written. Optimiser state is read back with
`torch.load(weights_only=True)`, which cannot run code; weights are safetensors, which cannot either.
Everything read back is checked: a damaged or hostile file is a one-line CheckpointError naming it.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from genlab.errors import CheckpointError, TrainingError
from genlab.files import write_json_atomic, write_text_atomic

FORMAT = "genlab-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_NAME = re.compile(r"step_\d{7,}")


def save_checkpoint(run_dir: Path, *, step: int, family: str, tensors: dict[str, torch.Tensor],
                    optimizers: dict[str, Any], trainer_state: dict[str, Any], keep: int = 2) -> Path:
    """Write checkpoint `step` atomically and keep the newest `keep` ones; returns its folder."""
    check_finite(tensors, step=step, run_dir=Path(run_dir))
    ckpt_root = Path(run_dir) / "checkpoints"
    ckpt_root.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:07d}"
    final = ckpt_root / name
    tmp = ckpt_root / f".tmp-{name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    save_file(flat, str(tmp / "weights.safetensors"),
              metadata={"format": FORMAT, "version": str(FORMAT_VERSION), "family": family, "step": str(step)})
    torch.save(optimizers, tmp / "optimizer.pt")
    write_json_atomic(tmp / "trainer.json", {"format": FORMAT, "family": family, "step": step, **trainer_state})
    if final.exists():
        trash = ckpt_root / f".old-{name}-{os.getpid()}"
        os.replace(final, trash)
        shutil.rmtree(trash)
    os.replace(tmp, final)
    write_text_atomic(ckpt_root / "latest", name + "\n")
    _prune(ckpt_root, keep=keep, protect=name)
    return final


def check_finite(tensors: dict[str, torch.Tensor], *, step: int, run_dir: Path) -> None:
    """Refuse to checkpoint weights holding NaN or inf: the checkpoints on disk stay the last finite ones."""
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        last = latest_checkpoint(run_dir)
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise TrainingError(f"weights became non-finite by step {step} ({bad[0]}{more}); "
                            f"not checkpointed (last checkpoint, with finite weights: {last if last else 'none yet'}); "
                            f"try a lower train.lr or train.precision=fp32")


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the `.tmp-*` / `.old-*` folders and `.latest.*` temporaries a killed checkpoint write left behind."""
    ckpt_root = Path(run_dir) / "checkpoints"
    patterns = (".tmp-step_*", ".old-step_*", ".latest.tmp*", ".latest.*.tmp")   # the last: genlab.files' names
    stale = [p for pattern in patterns for p in ckpt_root.glob(pattern)]
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale


def truncate_log(log_path: Path, step: int) -> int:
    """Drop rows of log.jsonl logged after `step` (a resumed run logs them again); returns how many were dropped."""
    if not log_path.is_file():
        return 0
    kept, dropped = [], 0
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            row_step = json.loads(line).get("step")
        except (json.JSONDecodeError, AttributeError):
            row_step = None
        if isinstance(row_step, int) and row_step <= step:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        write_text_atomic(log_path, "".join(line + "\n" for line in kept))
    return dropped


def _prune(ckpt_root: Path, *, keep: int, protect: str) -> None:
    folders = sorted(p for p in ckpt_root.glob("step_*") if p.is_dir())
    for old in folders[:-keep] if keep > 0 else []:
        if old.name != protect:
            shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or None when it has none."""
    ckpt_root = Path(run_dir) / "checkpoints"
    pointer = ckpt_root / "latest"
    if pointer.is_file():
        try:
            name = pointer.read_text().strip()
        except (OSError, UnicodeDecodeError):
            raise CheckpointError(f"{pointer} is unreadable (expected the name of a checkpoint folder)") from None
        if not CHECKPOINT_NAME.fullmatch(name):
            raise CheckpointError(f"{pointer} names {name[:60]!r}; expected a checkpoint folder beside it, "
                                  f"e.g. step_0000500 (the run folder is corrupt)")
        folder = ckpt_root / name
        if (folder / "weights.safetensors").is_file():
            return _confined(folder, ckpt_root)
    folders = sorted(p for p in ckpt_root.glob("step_*") if (p / "weights.safetensors").is_file())
    return _confined(folders[-1], ckpt_root) if folders else None


def checkpoint_at(run_dir: Path, step: int) -> Path:
    """The run's complete checkpoint of `step`; a one-line error naming the steps it has when there is none."""
    ckpt_root = Path(run_dir) / "checkpoints"
    folder = ckpt_root / f"step_{step:07d}"
    if (folder / "weights.safetensors").is_file():
        return _confined(folder, ckpt_root)
    steps = sorted(int(p.name[5:]) for p in ckpt_root.glob("step_*")
                   if CHECKPOINT_NAME.fullmatch(p.name) and (p / "weights.safetensors").is_file())
    names = [str(n) for n in steps]
    shown = ", ".join(names if len(names) <= 6 else [*names[:3], "...", *names[-3:]])
    raise CheckpointError(f"{run_dir} has no checkpoint of step {step}; it has "
                          + (f"steps {shown}" if steps else "none yet"))


def _confined(folder: Path, ckpt_root: Path) -> Path:
    """The folder, refused when a link leads it (or its files) outside the run's checkpoints/ folder."""
    root = ckpt_root.resolve()
    for path in (folder, *(folder / f for f in ("weights.safetensors", "optimizer.pt", "trainer.json"))):
        if path.exists() and root not in path.resolve().parents:
            raise CheckpointError(f"{path} leads outside {ckpt_root} (a link?); refusing to read it")
    return folder


def read_weights(folder: Path, *, family: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a checkpoint, checking that it is a genlab checkpoint of `family`."""
    path = Path(folder) / "weights.safetensors"
    if not path.is_file():
        raise CheckpointError(f"no weights.safetensors in {folder} (expected a genlab checkpoint folder)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({err}); the checkpoint is corrupt") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a genlab checkpoint (no format={FORMAT} metadata)")
    if family is not None and meta.get("family") != family:
        raise CheckpointError(f"{path} holds a '{meta.get('family')}' model, expected a '{family}' one")
    return tensors, meta


def read_trainer_state(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainer.json, optimizer states) of a checkpoint, loaded without unpickling code."""
    folder = Path(folder)
    trainer_path, optim_path = folder / "trainer.json", folder / "optimizer.pt"
    for path in (trainer_path, optim_path):
        if not path.is_file():
            raise CheckpointError(f"checkpoint {folder} is incomplete: {path.name} is missing")
    try:
        trainer = json.loads(trainer_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{trainer_path} is not readable JSON ({type(err).__name__}); "
                              "the checkpoint is corrupt") from None
    step, updates = (trainer.get("step"), trainer.get("ema_updates")) if isinstance(trainer, dict) else (None, None)
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointError(f"{trainer_path} has step = {step!r}; expected a whole number >= 0 "
                              "(the checkpoint is corrupt)")
    if not isinstance(updates, dict) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                                 for v in updates.values()):
        raise CheckpointError(f"{trainer_path} has ema_updates = {str(updates)[:60]}; expected a table of whole "
                              f"numbers (the checkpoint is corrupt)")
    try:
        with warnings.catch_warnings():          # torch warns about pickle protocols before refusing a file
            warnings.simplefilter("ignore")
            optim = torch.load(optim_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{optim_path} is not a plain optimizer state (damaged, or holding objects other than "
                              f"tensors and numbers); refused to load it") from None
    except Exception as err:                      # torch.load raises many types on damaged bytes
        raise CheckpointError(f"{optim_path} is not a readable optimizer state ({type(err).__name__}); "
                              f"the checkpoint is corrupt") from None
    if not isinstance(optim, dict) or not all(isinstance(v, dict) for v in optim.values()):
        raise CheckpointError(f"{optim_path} is not a table of optimizer states; the checkpoint is corrupt")
    return trainer, optim


def load_optimizer_states(optimizers: dict[str, torch.optim.Optimizer], states: dict[str, Any], *,
                          folder: Path) -> None:
    """Load each phase's optimizer state, with a one-line CheckpointError naming optimizer.pt when one does not fit."""
    path = Path(folder) / "optimizer.pt"
    for name, opt in optimizers.items():
        if name not in states:
            raise CheckpointError(f"{path} has no state for the '{name}' phase (it holds {sorted(states)[:4]})")
        try:
            opt.load_state_dict(states[name])
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError) as err:
            raise CheckpointError(f"{path}: the '{name}' optimizer state does not fit this model "
                                  f"({type(err).__name__}); the checkpoint is corrupt") from None


def ema_updates_of(trainer: dict[str, Any], names: Any, *, folder: Path) -> dict[str, int]:
    """The EMA update counts of trainer.json for these EMA networks."""
    updates = trainer["ema_updates"]
    missing = [n for n in names if n not in updates]
    if missing:
        raise CheckpointError(f"{Path(folder) / 'trainer.json'} has no ema_updates for '{missing[0]}'; "
                              f"the checkpoint is corrupt")
    return {n: int(updates[n]) for n in names}


def split_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, dict[str, torch.Tensor]]:
    """{"model.G.w": t} with prefix "model" -> {"G": {"w": t}}."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        head, _, rest = key.partition(".")
        if head != prefix:
            continue
        module, _, param = rest.partition(".")
        out.setdefault(module, {})[param] = value
    return out


def load_module_state(module: torch.nn.Module, state: dict[str, torch.Tensor], *, what: str) -> None:
    """load_state_dict with a one-line CheckpointError when the shapes or names do not match.

    Keys a module lists in `legacy_state_keys` (state that older genlab versions stored) are dropped first.
    """
    legacy = {f"{prefix}.{key}".lstrip(".") for prefix, sub in module.named_modules()
              for key in getattr(sub, "legacy_state_keys", ())}
    state = {k: v for k, v in state.items() if k not in legacy}
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"checkpoint does not fit {what}: {detail} (was it trained with another config?)")
    for key, value in state.items():
        if own[key].shape != value.shape:
            raise CheckpointError(f"checkpoint does not fit {what}: '{key}' has shape {tuple(value.shape)}, "
                                  f"the model expects {tuple(own[key].shape)}")
    module.load_state_dict(state)
