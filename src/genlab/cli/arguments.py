"""Argument types of the command line: numbers in range and outputs that can be written, checked at parse time.

Each helper is an argparse `type=`: a bad value is refused before any work starts, and `Parser.error` prints
it as one `error:` line with exit status 2.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, `error: <what> (see genlab ... --help)`, exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print one line and exit 2 (argparse's default prints the usage block first)."""
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def _number(text: str, kind: type, allowed: str, ok: Callable[[float], bool]) -> float | int:
    """`text` as an int or a finite float satisfying `ok`, else an error saying what is `allowed`."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
    return value


def int_at_least(low: int) -> Callable[[str], int]:
    """An integer >= low."""
    def parse(text: str) -> int:
        return int(_number(text, int, f"an integer >= {low}", lambda v: v >= low))
    parse.__name__ = f"integer >= {low}"
    return parse


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)


def finite_float(text: str) -> float:
    """Any finite number."""
    return float(_number(text, float, "a finite number", lambda v: True))


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return float(_number(text, float, "a finite number > 0", lambda v: v > 0))


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    return float(_number(text, float, "a finite number >= 0", lambda v: v >= 0))


def nonempty(text: str) -> str:
    """Any non-blank string (a dataset name, a path to read)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a non-empty value, got ''")
    return text


def _writable_below(path: Path) -> None:
    """Refuse a path whose nearest existing ancestor is not a folder this process can create files in."""
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{str(path)!r} cannot be created: {str(parent)!r} is a file, not a folder")
    try:                         # a real probe: permission bits say nothing for root or on read-only mounts
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError:
        raise argparse.ArgumentTypeError(f"{str(path)!r} cannot be written: {str(parent)!r} is not writable") from None


def output_dir(text: str) -> Path:
    """A folder to create or reuse: not empty, not an existing file, under a writable folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got ''")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file; expected a folder (or a new name)")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"folder {text!r} is not writable")
        _writable_below(path / "x")
    else:
        _writable_below(path)
    return path


def output_file(text: str) -> Path:
    """A file to write: not empty, not an existing folder, under a writable folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file name, got ''")
    path = Path(text).expanduser()
    if path.is_dir() or text.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"file {text!r} is not writable")
    _writable_below(path)
    return path


def add_old_spelling(parser: argparse.ArgumentParser, old: str, *, dest: str, type: Callable[[str], float | int],
                     factor: float = 1.0) -> None:
    """Keep accepting `old`, a former spelling of the option stored in `dest` (its value times `factor`, e.g.
    60 for minutes -> seconds), unlisted in --help: scripts written before the rename still run."""
    def parse(text: str) -> float | int:
        value = type(text)
        return value * factor if factor != 1.0 else value
    parse.__name__ = getattr(type, "__name__", "value")
    parser.add_argument(old, dest=dest, type=parse, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
