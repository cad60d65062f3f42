"""What the training loop asks of its processes: Ctrl-C handling, gradient averaging, failing together, precision.

One process or N (torchrun / accelerate launch through HF Accelerate): gradients are averaged with one flattened
all-reduce per phase rather than through DistributedDataParallel, because a GAN phase back-propagates through a
frozen module, which DDP's fixed set of gradient hooks does not allow.
"""
from __future__ import annotations

import signal
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn

from genlab.errors import TrainingError
from genlab.nn.hardware import resolve_precision


class StopFlag:
    """Ctrl-C asks the loop to stop at the next step boundary and checkpoint; a second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopFlag:
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


def sync_grads(params: list[nn.Parameter], accelerator: Accelerator) -> None:
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


def raise_together(failure: TrainingError | None, accelerator: Accelerator, world: int) -> None:
    """Stop every process when any one of them failed (NaN loss, GAN collapse), instead of leaving the others
    waiting in the next all-reduce; the failing process's message is the one shown."""
    if world > 1:
        flag = accelerator.reduce(torch.tensor([0.0 if failure is None else 1.0], device=accelerator.device),
                                  reduction="sum")
        if failure is None and flag.item() > 0:
            failure = TrainingError("another process stopped training (NaN loss or divergence); see its message")
    if failure is not None:
        raise failure


def resolve_precision_together(name: str, device: torch.device, accelerator: Accelerator,
                               world: int, *, kind: str | None = None) -> tuple[str, str]:
    """Resolve train.precision once for data of `kind`; under several processes "auto" is bf16 only when every rank
    chose it."""
    precision, reason = resolve_precision(name, device, kind=kind)
    if world > 1 and name == "auto":
        votes = accelerator.reduce(torch.tensor([float(precision == "bf16")], device=device), reduction="sum")
        if precision == "bf16" and votes.item() < world:
            precision, reason = "fp32", "fp32: not every process has native bf16"
    return precision, reason


def stop_flags(stop: StopFlag, *, over_budget: bool, accelerator: Accelerator, world: int) -> tuple[bool, bool]:
    """(Ctrl-C on any process, time budget spent on any process): every rank decides the same."""
    flags = torch.tensor([float(stop.requested), float(over_budget)])
    if world > 1:
        flags = accelerator.reduce(flags.to(accelerator.device), reduction="sum").cpu()
    return bool(flags[0] > 0), bool(flags[1] > 0)
