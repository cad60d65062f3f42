"""A folder of image files (any size) as uint8 (N, C, H, W); class labels from first-level sub-folder names."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from genlab.data.dataset import Dataset, subset_indices
from genlab.data.imaging import check_image_options, pil_to_chw
from genlab.errors import DataError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
EXIF_ORIENTATION = 0x0112
TRANSPOSED_ORIENTATIONS = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height
EXIF_IN_HEADER = frozenset({"JPEG", "MPO", "TIFF", "WEBP"})  # formats whose EXIF is read without decoding pixels


def image_files(root: Path) -> list[Path]:
    """Image files below root, sorted; hidden files and folders (.ipynb_checkpoints, ._x.png) are not data."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except Image.DecompressionBombError:
        limit = (Image.MAX_IMAGE_PIXELS or 0) * 2   # Pillow raises this past twice its limit (never when None)
        raise DataError(f"{path}: the image claims more than {limit:,} pixels (a decompression "
                        f"bomb?); expected an image of ordinary size") from None
    except (OSError, UnidentifiedImageError) as err:
        raise DataError(f"{path}: expected a readable image file ({err})") from None


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1 = upright) of camera formats; other formats are taken as stored."""
    if img.format not in EXIF_IN_HEADER:
        return 1
    try:
        return int(img.getexif().get(EXIF_ORIENTATION, 1))
    except (OSError, ValueError, SyntaxError):  # a damaged EXIF block: the pixels may still be fine
        return 1


def _header(path: Path) -> tuple[str, tuple[int, int]]:
    """(mode, (width, height)) as the picture is meant to be seen, i.e. after its EXIF orientation."""
    with _open(path) as img:
        width, height = img.size
        if _orientation(img) in TRANSPOSED_ORIENTATIONS:
            width, height = height, width
        return img.mode, (width, height)


def load_image_folder(root: Path, *, image_size: int | None, channels: int | None, limit: int | None,
                      seed: int) -> Dataset:
    """Images under `root`; if every image sits in a first-level sub-folder, those folder names are the classes.

    Each image is converted to `channels` (default: 1 if all are grey, else 3), its shorter side resized to
    `image_size` and the centre square cropped; without `image_size` all images must already share one size,
    which is kept (square or not).
    """
    check_image_options(image_size=image_size, channels=channels, where=str(root))
    files = image_files(root)
    if not files:
        raise DataError(f"{root}: expected image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder, "
                        "found none")
    in_subfolders = all(len(p.relative_to(root).parts) >= 2 for p in files)
    class_names = sorted({p.relative_to(root).parts[0] for p in files}) if in_subfolders else None
    keep = subset_indices(len(files), limit=limit, seed=seed)
    files = [files[i] for i in keep]

    headers = [_header(path) for path in files]  # (mode, size), read without decoding the pixels
    if channels is None:
        channels = 1 if all(mode in GREY_MODES for mode, _ in headers) else 3
    if image_size is None:
        sizes = {size for _, size in headers}
        if len(sizes) > 1:
            raise DataError(f"{root}: images have {len(sizes)} different sizes (e.g. {sorted(sizes)[:3]}); "
                            "set image_size to resize and centre-crop them")
        (width, height), = sizes
    else:
        width = height = image_size
    x = np.empty((len(files), channels, height, width), dtype=np.uint8)
    for i, path in enumerate(files):
        with _open(path) as img:
            try:
                upright = ImageOps.exif_transpose(img) if _orientation(img) != 1 else img
                x[i] = pil_to_chw(upright, channels=channels, size=image_size)
            except OSError as err:  # truncated or corrupt pixel data shows up only when decoding
                raise DataError(f"{path}: expected a readable image file ({err})") from None

    y = None
    if class_names is not None:
        index = {name: i for i, name in enumerate(class_names)}
        y = np.array([index[p.relative_to(root).parts[0]] for p in files], dtype=np.int64)
    return Dataset(x=x, y=y, name=root.name, kind="image",
                   num_classes=None if class_names is None else len(class_names),
                   source=f"image folder {root} ({len(files)} files)",
                   class_names=None if class_names is None else tuple(class_names))
