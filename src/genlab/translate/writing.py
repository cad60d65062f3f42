"""Translating a source of images into a folder: one PNG per output, a side-by-side grid, scores against targets."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from genlab.data.transforms import to_float, to_uint8
from genlab.diffusion.superres import psnr
from genlab.files import write_json_atomic
from genlab.training.run import Run
from genlab.translate.family import Direction
from genlab.translate.inference import translate_images, translator
from genlab.translate.inputs import read_inputs
from genlab.viz import readable_scale, save_side_by_side


def translate_to_folder(run: Run, images: str, out: Path, *, direction: Direction = "a2b", n: int | None = None,
                        grid: int = 48, batch_size: int = 256) -> dict[str, Any]:
    """Translate `images` (see genlab.translate.inputs) into `out`: <name>.png each, grid.png (input | output |
    target), scores.json with mean PSNR (dB) and L1 against the targets where there are any; returns the scores."""
    translator(run, direction)                                  # a run that cannot translate fails before reading
    inputs = read_inputs(images, direction=direction, n=n)
    fake = translate_images(run, inputs.x, direction=direction, batch_size=batch_size, where=images)
    out.mkdir(parents=True, exist_ok=True)
    pixels = to_uint8(fake).numpy()
    for name, img in zip(inputs.names, pixels, strict=True):
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)).save(path)
    columns = [inputs.x[:grid], fake[:grid]]
    report: dict[str, Any] = {"n": len(fake), "direction": direction, "run": str(run.path), "images": images}
    if inputs.target is not None:
        columns.append(inputs.target[:grid])
        target = to_float(inputs.target)
        if target.shape == fake.shape:
            report.update(psnr=float(psnr(fake, target).mean()), l1=float((fake - target).abs().mean()))
    report["grid"] = str(save_side_by_side(columns, out / "grid.png", rows=min(16, max(1, int(np.ceil(grid / 3)))),
                                           scale=readable_scale(fake.shape[-2]),
                                           names=["input", "output", "target"][:len(columns)]))
    write_json_atomic(out / "scores.json", report)
    return report
