"""Atomic file writes: write beside the target, then os.replace, so a reader never sees a half-written file."""
from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


@contextmanager
def atomic_target(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary path in the target's folder; on success it replaces `path`, on failure it goes.

    The writer creates the temporary file itself, so it gets the usual permissions (umask), unlike mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike[str], data: Any, *, indent: int = 2, sort_keys: bool = False,
                      default: Any = None) -> None:
    """Write `data` as indented JSON plus a final newline to `path` atomically."""
    write_text_atomic(path, json.dumps(data, indent=indent, sort_keys=sort_keys, default=default) + "\n")


def write_npz_atomic(path: str | os.PathLike[str], *, compressed: bool = False, **arrays: Any) -> None:
    """Write `arrays` as an .npz file at `path` atomically (exactly `path`: no .npz suffix is appended)."""
    save = np.savez_compressed if compressed else np.savez
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        save(f, **arrays)
