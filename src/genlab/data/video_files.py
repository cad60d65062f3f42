"""User videos: animated GIFs, a folder of GIFs, a folder of frame folders (each a clip), uint8 (N, T, C, H, W)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from genlab.data.dataset import Dataset
from genlab.data.imaging import pil_to_chw
from genlab.errors import DataError

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
VIDEO_PREFIX = "video:"     # `video:FOLDER` reads a folder of frame folders or of GIFs


def clips_to_ntchw(x: np.ndarray, *, where: str) -> np.ndarray:
    """uint8 clips (N, T, C, H, W) or (N, T, H, W, C) with C in {1, 3} -> (N, T, C, H, W)."""
    if x.ndim == 5 and x.shape[2] in (1, 3):
        return np.ascontiguousarray(x)
    if x.ndim == 5 and x.shape[4] in (1, 3):
        return np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3))
    raise DataError(f"{where}: expected uint8 clips (N, T, C, H, W) or (N, T, H, W, C) with C = 1 or 3, "
                    f"got shape {x.shape}")


def read_gif(path: Path) -> np.ndarray:
    """Every frame of an animated GIF as uint8 (T, C, H, W); grey when all frames are grey, else RGB."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.format != "GIF":
                raise DataError(f"{path}: expected a GIF file, found {im.format or 'another format'}")
            rgb = np.stack([pil_to_chw(f, channels=3, size=None) for f in ImageSequence.Iterator(im)])
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"{path}: expected a GIF file, could not read it as an image ({type(err).__name__})") from None
    grey = bool((rgb[:, 0] == rgb[:, 1]).all() and (rgb[:, 1] == rgb[:, 2]).all())
    return np.ascontiguousarray(rgb[:, :1]) if grey else rgb


def read_frame_folder(folder: Path, *, grey: bool) -> np.ndarray:
    """The image files of `folder`, in name order, as one clip uint8 (T, C, H, W)."""
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: a clip folder needs frame images ({', '.join(FRAME_SUFFIXES)}), found none")
    frames = []
    for f in files:
        try:
            with Image.open(f) as im:
                frames.append(pil_to_chw(im, channels=1 if grey else 3, size=None))
        except (UnidentifiedImageError, OSError):
            raise DataError(f"{f}: expected an image file, could not read it") from None
    sizes = {fr.shape for fr in frames}
    if len(sizes) > 1:
        raise DataError(f"{folder}: every frame of a clip must have one size, found {sorted(sizes)}")
    return np.stack(frames)


def stack_clips(clips: list[np.ndarray], names: list[str], *, where: str) -> np.ndarray:
    """Clips (T, C, H, W) of one length and size -> (N, T, C, H, W); a one-line error naming the odd one out."""
    if not clips:
        raise DataError(f"{where}: expected at least one clip, found none")
    first = clips[0].shape
    for clip, name in zip(clips, names, strict=True):
        if clip.shape != first:
            raise DataError(f"{where}: every clip must have the first clip's (T, C, H, W) = {first}; "
                            f"{name} has {clip.shape}")
    return np.stack(clips)


def load_video_source(spec: str) -> Dataset:
    """`file.gif` (one clip), or `video:FOLDER` holding GIFs or frame folders (one clip each, name order)."""
    path = Path(spec.removeprefix(VIDEO_PREFIX)).expanduser()
    if path.is_file():
        x = read_gif(path)[None]
        return Dataset(x=x, y=None, name=path.stem, kind="video", num_classes=None, source=f"GIF {path}")
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder; expected a GIF, or video:FOLDER of GIFs or frame folders")
    gifs = sorted(p for p in path.iterdir() if p.suffix.lower() == ".gif")
    folders = sorted(p for p in path.iterdir() if p.is_dir())
    if gifs and not folders:
        clips, names = [read_gif(g) for g in gifs], [g.name for g in gifs]
    elif folders and not gifs:
        grey = all(_folder_is_grey(f) for f in folders)
        clips, names = [read_frame_folder(f, grey=grey) for f in folders], [f.name for f in folders]
    else:
        raise DataError(f"{path}: expected either .gif files or frame folders (one clip each), "
                        f"found {len(gifs)} GIFs and {len(folders)} folders")
    return Dataset(x=stack_clips(clips, names, where=str(path)), y=None, name=path.name, kind="video",
                   num_classes=None, source=f"{len(clips)} clips in {path}")


def _folder_is_grey(folder: Path) -> bool:
    """Whether the first frame of a clip folder is a one-channel image."""
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        return True
    try:
        with Image.open(files[0]) as im:
            return im.mode in ("L", "1", "I;16")
    except OSError:
        return True
