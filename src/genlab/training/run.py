"""Run folders: the data a run trains on, its stored config, and loading a trained run back for sampling."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genlab import __version__
from genlab.config import DataConfig, RunConfig, run_config_from_dict
from genlab.data.dataset import ITEM_NDIM
from genlab.errors import CheckpointError, ConfigError
from genlab.families import TRANSLATION_FAMILIES, TRANSLATION_TASK_EXAMPLE, get_family
from genlab.sharding import SamplingProgress, chunk_slices, process_device, sample_chunk
from genlab.training.checkpoint import checkpoint_at, latest_checkpoint, load_module_state, read_weights, split_prefix
from genlab.training.objective import DataInfo, Family

RUN_FORMAT = "genlab-run"


@dataclass
class TrainData:
    """A dataset as the loop holds it: whole in memory, uint8 images (N, C, H, W), uint8 videos (N, T, C, H, W) or
    float vectors (N, D);
    image-to-image data add the b side `b`: uint8 (M, C', H', W'), M = N when info.paired."""

    x: Tensor
    y: Tensor | None
    info: DataInfo
    source: str
    b: Tensor | None = None


def prepare_data(cfg: DataConfig, *, seed: int = 0) -> TrainData:
    """Load the configured dataset into tensors (both sides for image-to-image data)."""
    from genlab.data import load_dataset
    from genlab.data.pairs import is_two_sided, load_sides

    if is_two_sided(cfg.name, cfg.b):
        sides = load_sides(cfg.name, cfg.b, split=cfg.split, image_size=cfg.image_size, channels=cfg.channels,
                           limit=cfg.limit, seed=seed)
        a, b = sides.a, sides.b
        info = DataInfo(kind="image", shape=tuple(int(s) for s in a.shape), num_classes=a.num_classes,
                        b_shape=tuple(int(s) for s in b.shape), paired=sides.paired)
        y = torch.from_numpy(a.y).long() if a.y is not None else None
        return TrainData(x=torch.from_numpy(a.x), y=y, info=info, source=sides.source, b=torch.from_numpy(b.x))
    ds = load_dataset(cfg.name, split=cfg.split, image_size=cfg.image_size, channels=cfg.channels,
                      limit=cfg.limit, seed=seed)
    x = torch.from_numpy(ds.x)
    y = torch.from_numpy(ds.y).long() if ds.y is not None else None
    info = DataInfo(kind=ds.kind, shape=tuple(int(s) for s in ds.x.shape[1:]), num_classes=ds.num_classes)
    return TrainData(x=x, y=y, info=info, source=ds.source)


def build_family(config: RunConfig, info: DataInfo) -> Family:
    """Instantiate the run's family for data of this shape."""
    cls = get_family(config.family)
    two_sided = config.family in TRANSLATION_FAMILIES
    if info.b_shape is not None and not two_sided:
        raise ConfigError(f"'{config.family}' runs train on one source; two image sides (data.b, a translation "
                          f"task, an .npz of a and b) are for {' and '.join(TRANSLATION_FAMILIES)}")
    if info.b_shape is None and two_sided:
        raise ConfigError(f"{config.family} translates a -> b and needs two image sides: a built-in task (--data "
                          f"{TRANSLATION_TASK_EXAMPLE}), an .npz with arrays a and b, or --data-a A --data-b B")
    family: Family = cls(config.sections, data=info, train=config.train)
    return family


def config_record(config: RunConfig, info: DataInfo) -> dict[str, Any]:
    """What config.json holds: provenance, the data's shape (and its b side's) and the full config."""
    data_info: dict[str, Any] = {"kind": info.kind, "shape": list(info.shape), "num_classes": info.num_classes}
    if info.b_shape is not None:
        data_info.update(b_shape=list(info.b_shape), paired=info.paired)
    return {
        "genlab": {"format": RUN_FORMAT, "version": __version__, "data_info": data_info},
        "config": json.loads(json.dumps(config.to_dict())),
    }


def load_config_record(run_dir: Path) -> dict[str, Any]:
    """Read and check a run folder's config.json."""
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise CheckpointError(f"run folder {run_dir} does not exist (expected the --out folder of `genlab train`)")
    if not path.is_file():
        raise CheckpointError(f"{run_dir} is not a genlab run: it has no config.json")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        raise CheckpointError(f"{path} is not valid JSON; the run folder is corrupt") from None
    if not isinstance(record, dict) or not isinstance(record.get("genlab"), dict) \
            or record["genlab"].get("format") != RUN_FORMAT:
        raise CheckpointError(f"{path} is not a genlab run config (no genlab.format = {RUN_FORMAT})")
    check_data_info(record["genlab"].get("data_info"), path=path)
    if not isinstance(record.get("config"), dict):
        raise CheckpointError(f"{path}: 'config' is {str(record.get('config'))[:40]!r}; expected a table")
    return record


def check_data_info(di: Any, *, path: Path) -> None:
    """Refuse a config.json whose data_info is not {kind: image|vector|video, shape: [ints >= 1], num_classes:
    int|null}."""
    ok = (isinstance(di, dict) and di.get("kind") in ITEM_NDIM and isinstance(di.get("shape"), list)
          and len(di["shape"]) == ITEM_NDIM[di["kind"]]
          and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in di["shape"])
          and (di.get("num_classes") is None or (isinstance(di["num_classes"], int) and di["num_classes"] >= 1))
          and (di.get("b_shape") is None or (isinstance(di["b_shape"], list) and len(di["b_shape"]) == 3
                                             and all(isinstance(n, int) and n >= 1 for n in di["b_shape"]))))
    if not ok:
        raise CheckpointError(f"{path}: genlab.data_info = {str(di)[:60]}; expected kind image|vector, a shape "
                              f"and num_classes (the run folder is corrupt)")


_LOADING: list[Path] = []     # run folders being loaded now: an ldm's autoencoder must not lead back to one


@dataclass
class Run:
    """A trained run loaded for inference: config, family and networks (EMA weights by default)."""

    path: Path
    config: RunConfig
    info: DataInfo
    family: Family
    models: dict[str, nn.Module]
    step: int

    def sample(self, n: int, *, seed: int = 0, batch_size: int = 256, progress: bool = False,
               **options: Any) -> Tensor:
        """n samples in data space ((n, C, H, W) in [-1, 1] or (n, D)), drawn in fixed-size chunks.

        Chunk k draws from the stream (seed, k) (see `genlab.sharding`), so the samples are the
        same whether one process or many draw them. `progress` shows a bar (a tick per denoising step).
        """
        n_chunks = len(chunk_slices(n, batch_size))
        out = []
        with SamplingProgress(self.family, n_chunks, desc=f"sample {n}", enabled=progress) as bar:
            for k in range(n_chunks):
                out.append(sample_chunk(self.family, self.models, n, k, seed=seed, batch_size=batch_size,
                                        **bar.options(options)))
                bar.chunk_done()
        return torch.cat(out) if out else torch.empty(0)


def load_run(run_dir: str | os.PathLike[str], *, ema: bool = True, device: str | torch.device | None = "cpu",
             step: int | None = None) -> Run:
    """Load a run folder's config and newest checkpoint (or that of `step`); `ema=False` takes the raw weights.

    The networks go to `device`; None means this process's device (`process_device()`: its own GPU under
    torchrun / accelerate launch on a GPU machine, else the CPU). Samples always come back on the CPU.
    """
    run_dir = Path(run_dir)
    key = run_dir.resolve()
    if key in _LOADING:
        chain = " -> ".join(str(p) for p in (*_LOADING[_LOADING.index(key):], key))
        raise CheckpointError(f"{run_dir}/config.json: latent.autoencoder leads back to a run being loaded "
                              f"({chain}); expected a `vae` run")
    _LOADING.append(key)
    try:
        return _load_run(run_dir, ema=ema, device=device, step=step)
    finally:
        _LOADING.pop()


def _load_run(run_dir: Path, *, ema: bool, device: str | torch.device | None, step: int | None) -> Run:
    """load_run without the cycle guard."""
    record = load_config_record(run_dir)
    try:
        config = run_config_from_dict(record["config"])
    except ConfigError as err:
        raise CheckpointError(f"{run_dir}/config.json: {err}") from None
    di = record["genlab"]["data_info"]
    b_shape = tuple(di["b_shape"]) if di.get("b_shape") is not None else None
    info = DataInfo(kind=di["kind"], shape=tuple(di["shape"]), num_classes=di.get("num_classes"), b_shape=b_shape,
                    paired=bool(di.get("paired", False)))
    ckpt = latest_checkpoint(run_dir) if step is None else checkpoint_at(run_dir, step)
    if ckpt is None:
        raise CheckpointError(f"{run_dir} has no checkpoint yet (expected checkpoints/step_*/weights.safetensors)")
    tensors, meta = read_weights(ckpt, family=config.family)
    family = build_family(config, info)
    models = family.build_models()
    raw, averaged = split_prefix(tensors, "model"), split_prefix(tensors, "ema")
    for name, module in models.items():
        state = averaged.get(name) if ema and name in averaged else raw.get(name)
        if state is None:
            raise CheckpointError(f"checkpoint {ckpt} has no weights for the '{name}' network")
        load_module_state(module, state, what=f"the '{name}' network of {run_dir}")
        module.to(process_device() if device is None else torch.device(device)).eval()
    return Run(path=run_dir, config=config, info=info, family=family, models=models, step=int(meta.get("step", 0)))


__all__ = ["Run", "TrainData", "load_run", "prepare_data", "build_family", "config_record"]
