"""Resuming a run folder: the stored config must match, then weights, EMA, optimiser state and the step come back."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genlab.config import run_config_from_dict
from genlab.errors import ConfigError
from genlab.training.checkpoint import (ema_updates_of, load_module_state, load_optimizer_states, read_trainer_state,
                                        read_weights, split_prefix)
from genlab.training.ema import EMA
from genlab.training.run import load_config_record

# Keys that may change when a run is resumed; anything else must match the stored config.
RESUMABLE_KEYS = {"steps", "time_budget", "budget_clock", "log_every", "sample_every", "sample_n", "checkpoint_every",
                  "keep_checkpoints", "threads", "tracker"}


def check_resume_config(run_dir: Path, record: dict[str, Any]) -> None:
    """A one-line ConfigError unless the run folder's config matches `record` (but for RESUMABLE_KEYS)."""
    stored = load_config_record(run_dir)
    old_info, new_info = stored["genlab"].get("data_info"), record["genlab"]["data_info"]
    if old_info and old_info != new_info:
        raise ConfigError(f"{run_dir} was trained on {old_info['kind']}s of shape {old_info['shape']}, this data "
                          f"has shape {new_info['shape']}: pick another --out")
    old, new = with_defaults(stored["config"]), record["config"]
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


def with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A stored config with the keys added to genlab after the run was made filled in with their defaults, as
    load_run reads it (so an old run resumes with the behaviour it was trained with); as stored if it no longer
    parses (the key-by-key comparison then names what differs)."""
    try:
        return json.loads(json.dumps(run_config_from_dict(config).to_dict()))
    except (ConfigError, KeyError, TypeError, ValueError):
        return config


def restore(ckpt: Path, *, family: str, models: dict[str, nn.Module], emas: dict[str, EMA],
            optimizers: dict[str, torch.optim.Optimizer]) -> int:
    """Load a checkpoint folder into the networks, their EMA and the optimisers; returns its step."""
    tensors, _ = read_weights(ckpt, family=family)
    for name, state in split_prefix(tensors, "model").items():
        load_module_state(models[name], state, what=f"the '{name}' network")
    for name, state in split_prefix(tensors, "ema").items():
        load_module_state(emas[name].module, state, what=f"the EMA of '{name}'")
    trainer, optim_states = read_trainer_state(ckpt)
    load_optimizer_states(optimizers, optim_states, folder=ckpt)
    for name, updates in ema_updates_of(trainer, emas, folder=ckpt).items():
        emas[name].updates = updates
    return int(trainer["step"])
