"""User arrays: an .npz holding `x` (and optionally `y`), and a CSV of numeric columns."""
from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from genlab.data.dataset import Dataset, Kind, labels_from, num_classes_of
from genlab.errors import DataError

LABEL_COLUMNS = ("label", "y")


def images_to_nchw(x: np.ndarray, *, where: str) -> np.ndarray:
    """uint8 images (N, H, W), (N, C, H, W) or (N, H, W, C) with C in {1, 3} -> (N, C, H, W)."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return x
    if x.ndim == 4 and x.shape[3] in (1, 3):
        return x.transpose(0, 3, 1, 2)
    raise DataError(f"{where}: expected uint8 images (N, H, W), (N, C, H, W) or (N, H, W, C) with C = 1 or 3, "
                    f"got shape {x.shape}")


def load_npz(path: Path) -> Dataset:
    """`x`: uint8 images NCHW/NHWC/NHW, uint8 videos (N, T, C, H, W) or numeric vectors (N, D); optional `y`:
    integer labels (N,)."""
    if not zipfile.is_zipfile(path):  # np.load would hand back a bare array for an .npy, or guess at text
        raise DataError(f"{path}: expected a numpy .npz archive (a zip of .npy arrays) with array 'x', "
                        "found another kind of file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files:
                raise DataError(f"{path}: expected an array named 'x' in the .npz, found {archive.files or 'none'}")
            x = archive["x"]
            y = archive["y"] if "y" in archive.files else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: expected a numpy .npz archive with array 'x' ({err})") from None
    kind: Kind
    if x.dtype == np.uint8 and x.ndim == 5:
        from genlab.data.video_files import clips_to_ntchw
        kind, x = "video", clips_to_ntchw(x, where=str(path))
    elif x.dtype == np.uint8 and x.ndim >= 3:
        kind, x = "image", np.ascontiguousarray(images_to_nchw(x, where=str(path)))
    elif x.ndim == 2 and x.dtype.kind in "fiub":
        kind, x = "vector", x.astype(np.float32)
        if not np.all(np.isfinite(x)):
            raise DataError(f"{path}: vectors in 'x' must be finite, found NaN or infinity")
    else:
        raise DataError(f"{path}: 'x' must be uint8 images (N, C, H, W)/(N, H, W, C) or numeric vectors (N, D), "
                        f"got {x.dtype} {x.shape}")
    if y is not None:
        y = labels_from(y, where=f"{path} 'y'", n=len(x))
    return Dataset(x=x, y=y, name=path.stem, kind=kind, num_classes=num_classes_of(y), source=f"npz file {path}")


def load_csv(path: Path) -> Dataset:
    """Rows of numbers as float32 vectors (N, D); an optional header, and a `label` or `y` column for labels."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: drop the byte-order mark Excel writes
            rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: expected a readable CSV text file ({err})") from None
    if not rows:
        raise DataError(f"{path}: expected rows of numbers, the file is empty")
    header = None
    if not all(_is_number(cell) for cell in rows[0]):
        header, rows = [cell.strip().lower() for cell in rows[0]], rows[1:]
    if not rows:
        raise DataError(f"{path}: expected rows of numbers below the header, found none")
    width = len(rows[0])
    if header is not None and len(header) != width:
        raise DataError(f"{path}: the header names {len(header)} columns but line 2 has {width}; expected one name "
                        "per column")
    for line, row in enumerate(rows, start=2 if header else 1):
        if len(row) != width:
            raise DataError(f"{path}: line {line} has {len(row)} columns, expected {width}")
        for col, cell in enumerate(row, start=1):
            if not _is_number(cell):
                hint = " (columns must be separated by commas)" if ";" in cell or "\t" in cell else ""
                raise DataError(f"{path}: line {line} column {col} holds {cell.strip()!r}, expected a number{hint}")
    table = np.array(rows, dtype=np.float64)
    y = None
    label_col = next((header.index(name) for name in LABEL_COLUMNS if header and name in header), None)
    if header is not None and label_col is not None:   # a label column is found in a header only
        y = labels_from(table[:, label_col], where=f"{path} column {header[label_col]!r}", n=len(table))
        table = np.delete(table, label_col, axis=1)
    if table.shape[1] == 0:
        raise DataError(f"{path}: expected at least one numeric feature column besides the labels")
    if not np.all(np.isfinite(table)):
        raise DataError(f"{path}: expected finite numbers, found NaN or infinity")
    return Dataset(x=table.astype(np.float32), y=y, name=path.stem, kind="vector", num_classes=num_classes_of(y),
                   source=f"CSV file {path}")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
