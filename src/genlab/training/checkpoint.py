"""Checkpoints: safetensors weights + JSON trainer state + optimiser state, written atomically.

Layout of a run folder:
    config.json                 the run's full config and provenance (family, data shape, genlab version)
    log.jsonl                   one JSON object per logged step
    samples/                    progress grids
    checkpoints/step_0001500/   weights.safetensors (models and their EMA), optimizer.pt, trainer.json
    checkpoints/latest          name of the newest complete checkpoint folder

A checkpoint folder is written under a temporary name and renamed into place, then `latest` is replaced
atomically: a crash at any moment leaves the previous checkpoint intact. Optimiser state is read back with
`torch.load(weights_only=True)`, which cannot run code; weights are safetensors, which cannot either.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from genlab.errors import CheckpointError
from genlab.files import write_json_atomic, write_text_atomic

FORMAT = "genlab-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(run_dir: Path, *, step: int, family: str, tensors: dict[str, torch.Tensor],
                    optimizers: dict[str, Any], trainer_state: dict[str, Any], keep: int = 2) -> Path:
    """Write checkpoint `step` atomically and keep the newest `keep` ones; returns its folder."""
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
        folder = ckpt_root / pointer.read_text().strip()
        if (folder / "weights.safetensors").is_file():
            return folder
    folders = sorted(p for p in ckpt_root.glob("step_*") if (p / "weights.safetensors").is_file())
    return folders[-1] if folders else None


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
    try:
        trainer = json.loads((Path(folder) / "trainer.json").read_text())
        optim = torch.load(Path(folder) / "optimizer.pt", map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise CheckpointError(f"checkpoint {folder} is incomplete: {Path(err.filename).name} is missing") from None
    except (json.JSONDecodeError, RuntimeError, EOFError, ValueError) as err:
        raise CheckpointError(f"checkpoint {folder} has a corrupt training state ({type(err).__name__})") from None
    return trainer, optim


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
