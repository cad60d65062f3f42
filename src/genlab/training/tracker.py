"""TensorBoard events beside log.jsonl: the loop's rows as scalars, sample grids as images, eval results.

log.jsonl stays the run's record; the events under RUN/tensorboard are a view of it for
`tensorboard --logdir runs` (every run folder below `runs` is one TensorBoard run). Written with
torch.utils.tensorboard.SummaryWriter by the main process only; needs the optional `tensorboard` package
(`pip install 'genlab[tensorboard]'` or `make tensorboard`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genlab.errors import ConfigError

EVENTS_DIR = "tensorboard"
TRAIN_KEYS = {"lr", "items_per_s", "seconds", "ema_decay"}     # the loop's own keys; the rest are the family's
INSTALL_HINT = "pip install 'genlab[tensorboard]' (in a checkout: make tensorboard)"


def scalar_tag(key: str, family: str) -> str:
    """The TensorBoard tag of a log.jsonl key: loss/*, train/* (lr, speed, grad norms, EMA) or <family>/*."""
    if key == "loss" or key.endswith("_loss"):
        return f"loss/{key}"
    if key in TRAIN_KEYS or key == "grad_norm" or key.endswith("_grad_norm"):
        return f"train/{key}"
    return f"{family}/{key}"


def require_tracker(name: str) -> None:
    """A one-line ConfigError, before any work, when the tracker's package is not installed."""
    if name == "tensorboard":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise ConfigError(f"train.tracker = 'tensorboard' needs the tensorboard package: {INSTALL_HINT}") from None


def summary_writer(run_dir: Path, *, purge_step: int | None = None) -> Any:
    """A SummaryWriter on RUN/tensorboard; a one-line ConfigError saying how to install tensorboard if it is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:     # torch.utils.tensorboard imports the tensorboard package
        raise ConfigError(f"train.tracker = 'tensorboard' needs the tensorboard package: {INSTALL_HINT}") from None
    return SummaryWriter(log_dir=str(Path(run_dir) / EVENTS_DIR), purge_step=purge_step, flush_secs=10)


class TensorBoardTracker:
    """Writes the loop's log rows, sample grids and eval results as TensorBoard events of one run folder."""

    def __init__(self, run_dir: Path, *, family: str, resumed_at: int | None = None) -> None:
        # a resumed run replays the steps after its checkpoint: purge_step hides the first attempt's events there
        self.writer = summary_writer(run_dir, purge_step=resumed_at)
        self.family = family

    def log_row(self, row: Mapping[str, Any]) -> None:
        """One log.jsonl row: every finite number but the step, at its step."""
        step = int(row["step"])
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(scalar_tag(key, self.family), float(value), step)

    def log_grid(self, path: Path, step: int) -> None:
        """A sample grid as written to RUN/samples (a PNG: the same pixels in both places)."""
        import numpy as np
        from PIL import Image

        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB"))
        self.writer.add_image("samples", pixels, step, dataformats="HWC")
        self.writer.flush()

    def log_eval(self, name: str, result: Mapping[str, Any], step: int) -> None:
        """An eval result (RUN/eval/<name>.json): its numbers as eval/<name>/<metric> at the run's step."""
        for key, value in result.items():
            if key not in ("step", "seconds") and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and math.isfinite(value):
                self.writer.add_scalar(f"eval/{name}/{key}", float(value), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_tracker(name: str, run_dir: Path, *, family: str, main: bool,
                 resumed_at: int | None = None) -> TensorBoardTracker | None:
    """The configured tracker on the main process (None for 'none' and on other ranks)."""
    if name == "none" or not main:
        return None
    if name != "tensorboard":
        raise ConfigError(f"train.tracker = {name!r}: expected 'none' or 'tensorboard'")
    return TensorBoardTracker(run_dir, family=family, resumed_at=resumed_at)


def log_eval_result(run_dir: str | Path, name: str, result: Mapping[str, Any]) -> str | None:
    """Add an eval result to a run's TensorBoard events when the run was trained with the tracker.

    Returns a note for the user (what was written, or why not), None when the run does not use TensorBoard.
    """
    run_dir = Path(run_dir)
    if not (run_dir / EVENTS_DIR).is_dir():
        return None
    try:
        tracker = TensorBoardTracker(run_dir, family="eval")
    except ConfigError:
        return f"note: not added to {run_dir / EVENTS_DIR}: the tensorboard package is missing ({INSTALL_HINT})"
    tracker.log_eval(name, result, int(result.get("step", 0)))
    tracker.close()
    return f"added to TensorBoard events in {run_dir / EVENTS_DIR}"
