"""Run configuration: a dataclass per TOML section, strict keys, `--set section.key=value` overrides.

A run's config is `family` plus sections: `[data]` and `[train]` shared by every family, and the family's own
sections (e.g. `[model]` and `[diffusion]` for DDPM). Unknown keys and badly typed values are errors that
name the key and what was expected, never silently ignored.

Numbers are range-checked from their field's metadata: `field(default=..., metadata={"ge": 1})` with the
bounds `ge`, `gt`, `le`, `lt` (a number, or the name of a sibling field such as "T"). Every float must be
finite; a bound on a tuple applies to each of its items; None (an unset optional) is not checked.
"""
from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from genlab.errors import ConfigError


@dataclass
class DataConfig:
    """Where the training data comes from (see `genlab datasets`)."""

    name: str = field(default="mnist", metadata={"nonempty": True})  # built-in name, a path or cifar10:PATH
    split: Literal["train", "test"] = "train"
    image_size: int | None = field(default=None, metadata={"ge": 1, "le": 1024})  # resize + centre-crop (None: native)
    channels: int | None = field(default=None, metadata={"ge": 1, "le": 3})  # 1 or 3 channels (None: native)
    limit: int | None = field(default=None, metadata={"ge": 1})   # use at most this many items (a seeded subset)
    # image-to-image: the b side, another source (then `name` is the a side); see genlab.data.pairs
    b: str | None = field(default=None, metadata={"nonempty": True})


@dataclass
class TrainConfig:
    """The training loop's settings, shared by every family."""

    steps: int = field(default=2000, metadata={"ge": 0})   # optimiser steps (0: write the initial weights only)
    batch_size: int = field(default=128, metadata={"ge": 1})   # global batch per optimiser step, all processes
    grad_accum: int = field(default=1, metadata={"ge": 1})     # micro-batches per step (must divide batch_size)
    lr: float = field(default=2e-3, metadata={"gt": 0})  # peak learning rate (families may derive per-phase rates)
    warmup_steps: int = field(default=100, metadata={"ge": 0})  # linear learning-rate warm-up
    # linear: to 0 at `steps` (distillation); linear-half: constant, then linearly to zero over the second half
    # of the steps (CycleGAN)
    lr_schedule: Literal["constant", "cosine", "linear", "linear-half"] = "constant"
    weight_decay: float = field(default=0.0, metadata={"ge": 0})
    grad_clip: float = field(default=1.0, metadata={"ge": 0})  # max global grad norm (0: off)
    ema_decay: float = field(default=0.999, metadata={"ge": 0, "lt": 1})  # EMA, warm-up min(decay, (1+n)/(10+n))
    precision: Literal["auto", "fp32", "bf16"] = "auto"   # bf16 = autocast (weights stay fp32); auto: bf16 where
                                        # the CPU/GPU computes it natively, else fp32; fp32 for vector data
                                        # (genlab.nn.hardware.resolve_precision)
    seed: int = field(default=0, metadata={"ge": 0})
    log_every: int = field(default=25, metadata={"ge": 1})
    # a sample grid (RUN/samples/step_N.png, and TensorBoard) every N steps and at the end (0: only at the end)
    sample_every: int = field(default=500, metadata={"ge": 0})
    sample_n: int = field(default=64, metadata={"ge": 1})
    checkpoint_every: int = field(default=500, metadata={"ge": 1})
    keep_checkpoints: int = field(default=2, metadata={"ge": 1})
    time_budget: float = field(default=0.0, metadata={"ge": 0})  # seconds of training before stopping (0: no limit)
    # the clock time_budget counts: wall seconds, or this process's CPU seconds (all its threads; fair on a
    # machine shared with other jobs, and what "30 CPU-minutes" means)
    budget_clock: Literal["wall", "cpu"] = "wall"
    tracker: Literal["none", "tensorboard"] = "none"   # tensorboard: events in RUN/tensorboard (genlab[tensorboard])
    # intra-op threads (0: GENLAB_THREADS, else cores / local ranks)
    threads: int = field(default=0, metadata={"ge": 0})


class FamilySections(Protocol):
    """A family's own config sections: an instance of its `Config` dataclass (DDPMConfig, GANConfig, ...).

    Code that needs a field reads it from the family, whose `config` has the concrete type.
    """

    __dataclass_fields__: ClassVar[dict[str, Any]]


@dataclass
class RunConfig:
    """A whole run: the family, the shared sections and the family's own sections."""

    family: str
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sections: FamilySections | None = None   # the family's config dataclass (its own sections), e.g. DDPMConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, TOML/JSON-ready: family sections are flattened to the top level."""
        out: dict[str, Any] = {"family": self.family, "data": dataclasses.asdict(self.data),
                               "train": dataclasses.asdict(self.train)}
        if self.sections is not None:
            out.update(dataclasses.asdict(self.sections))
        return out


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`, converting lists to tuples and ints to floats."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"config key '{key}' = {value!r}: expected {_type_name(tp)}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"config key '{key}' = {value!r}: expected one of {', '.join(map(repr, choices))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' = {value!r}: expected a list")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"config key '{key}' = {value!r}: expected a list of {len(args)} items")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args, strict=True))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if tp is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{key}' = {value!r}: expected a finite number")
    if tp in (int, float, str, bool):
        if isinstance(value, bool) and tp is not bool:
            raise ConfigError(f"config key '{key}' = {value!r}: expected {tp.__name__}")
        if not isinstance(value, tp):
            raise ConfigError(f"config key '{key}' = {value!r}: expected {tp.__name__}")
        return value
    raise ConfigError(f"config key '{key}': unsupported type {_type_name(tp)}")


def section_from_dict(cls: type, values: dict[str, Any], *, prefix: str = "") -> Any:
    """Build dataclass `cls` from a dict, nested dataclasses as sub-sections; unknown keys are errors."""
    if not isinstance(values, dict):
        raise ConfigError(f"config section '{prefix.rstrip('.') or cls.__name__}' must be a table, got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config key '{prefix}{unknown[0]}'; expected one of: "
                          + ", ".join(prefix + k for k in fields))
    kwargs = {}
    for name, value in values.items():
        tp = hints[name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[name] = section_from_dict(tp, value, prefix=f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, tp, prefix + name)
    section = cls(**kwargs)
    check_bounds(section, prefix=prefix)
    return section


_BOUND_TEXT = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
_BOUND_TEST = {"ge": lambda v, b: v >= b, "gt": lambda v, b: v > b, "le": lambda v, b: v <= b,
               "lt": lambda v, b: v < b}


def check_bounds(section: Any, *, prefix: str = "") -> None:
    """Check every field of a config dataclass against the bounds in its metadata (see the module docstring)."""
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        key = prefix + f.name
        if f.metadata.get("nonempty") and isinstance(value, str) and not value.strip():
            raise ConfigError(f"config key '{key}' = {value!r}: expected a non-empty string")
        bounds = {k: f.metadata[k] for k in _BOUND_TEXT if k in f.metadata}
        if not bounds or value is None:
            continue
        resolved = {k: (getattr(section, b) if isinstance(b, str) else b) for k, b in bounds.items()}
        allowed = " and ".join(f"{_BOUND_TEXT[k]} {prefix + b if isinstance(b, str) else b}"
                               + (f" = {resolved[k]}" if isinstance(b, str) else "") for k, b in bounds.items())
        for item in (value if isinstance(value, tuple) else (value,)):
            if isinstance(item, (int, float)) and not all(_BOUND_TEST[k](item, b) for k, b in resolved.items()):
                what = "each item" if isinstance(value, tuple) else "a number"
                raise ConfigError(f"config key '{key}' = {_show(value)}: expected {what} {allowed}")


def _show(value: Any) -> str:
    """A value as the user wrote it in TOML (tuples as lists)."""
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def family_config_class(family: str) -> type:
    """The config dataclass holding a family's own sections."""
    from genlab.families import get_family
    return get_family(family).Config


def run_config_from_dict(values: dict[str, Any]) -> RunConfig:
    """Strictly parse a whole run config (as read from TOML or a run's config.json)."""
    values = dict(values)
    family = values.pop("family", None)
    if not isinstance(family, str):
        raise ConfigError("config has no 'family' (expected e.g. family = \"ddpm\")")
    values.pop("genlab", None)  # provenance block written into run folders
    data = section_from_dict(DataConfig, values.pop("data", {}), prefix="data.")
    train = section_from_dict(TrainConfig, values.pop("train", {}), prefix="train.")
    sections = section_from_dict(family_config_class(family), values)
    return RunConfig(family=family, data=data, train=train, sections=sections)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`section.key=value` -> (["section", "key"], value), the value read as TOML (bare words as strings)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected section.key=value, e.g. train.steps=500")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r}: expected section.key=value, e.g. train.steps=500")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.split("."), value


def set_value(values: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted `section.key` in a nested dict in place, creating the section when missing."""
    path = key.split(".")
    node = values
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {key!r}: '{part}' is not a section")
    node[path[-1]] = value


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the nested dict with each `section.key=value` set."""
    out = json.loads(json.dumps(values))
    for text in overrides:
        path, value = parse_override(text)
        set_value(out, ".".join(path), value)
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file with a one-line error when it is missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} not found (expected a TOML file, see configs/)")
    try:
        return tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {p} is not valid TOML: {err}") from None
