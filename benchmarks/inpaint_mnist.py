"""Inpainting MNIST test digits with half of each digit masked: replacement and RePaint on an unconditional run,
Palette on a run trained with the masked condition. Prints one JSON row per method and writes them (and a
picture: masked input | replace | RePaint | Palette | original) as they finish.

    PYTHONPATH=src python benchmarks/inpaint_mnist.py --demo-run runs/demo --palette-run runs/palette \\
        --n 200 --mask left-half --out benchmarks/results_inpaint_mnist.json --picture docs/img/inpaint_mnist.png

Scores, on the first n test digits: accuracy of genlab's MNIST classifier against the true labels, PSNR of the
filled region against the original (genlab.diffusion.superres.psnr on the hole's bounding box, which is the
hole for half and box masks; mean of per-image dB), and the classifier
Frechet distance of the completed digits to the 10,000 test digits (n-image statistics are biased upwards:
the originals' own FD at the same n is the floor, reported as the "original" row).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from genlab.data import load_dataset, to_float, to_uint8
from genlab.diffusion.inpaint import inpaint
from genlab.diffusion.masks import resolve_mask
from genlab.diffusion.repaint import repaint_calls
from genlab.diffusion.superres import psnr
from genlab.metrics.evaluate import compute_statistics
from genlab.metrics.features import ClassifierFeatures
from genlab.training.run import load_run
from genlab.viz import save_strip


def scores(x: torch.Tensor, original: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
           clf: ClassifierFeatures, ref: Any) -> dict[str, float]:
    """Accuracy, PSNR of the filled region and classifier FD of completed digits x (n, 1, 28, 28) in [-1, 1]."""
    images = to_uint8(x)
    with torch.no_grad():
        logits = torch.cat([clf.features_and_logits(chunk)[1] for chunk in images.split(500)])
    rows, cols = ((mask[0, 0] < 0.5).any(dim).nonzero().flatten() for dim in (1, 0))   # the hole's bounding box
    crop = (..., slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    region_psnr = psnr(x[crop], original[crop])        # the masked region itself for half and box masks
    fd = compute_statistics(images, clf, progress=False).frechet_distance(ref)
    return {"accuracy": float((logits.argmax(1) == labels).double().mean()),
            "psnr_masked_db": float(region_psnr.mean()), "classifier_fd": float(fd)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--demo-run", required=True)
    p.add_argument("--palette-run", required=True)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--mask", default="left-half")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--methods", default="replace,repaint,palette,replace_equal_calls")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--picture", type=Path)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (1 on shared cores)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    test = load_dataset("mnist", split="test")
    original = to_float(torch.as_tensor(test.x[:args.n]))
    labels = torch.as_tensor(test.y[:args.n]).long()
    mask = resolve_mask(args.mask, 28, 28)
    clf = ClassifierFeatures()
    ref = compute_statistics(torch.as_tensor(test.x), clf, progress=False)
    rows: list[dict[str, Any]] = []
    pictures = {"masked input": original * mask}

    def record(row: dict[str, Any], x: torch.Tensor) -> None:
        row.update(scores(x, original, labels, mask, clf, ref), n=args.n, mask=args.mask)
        rows.append(row)
        print(json.dumps(row), flush=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")

    record({"method": "masked input, hole black (no model)", "network_calls": 0, "seconds": 0.0},
           original * mask - (1 - mask))
    s, j, r = args.steps, 5, 5
    plans = {"replace": ("demo", dict(method="replace", steps=s), s),
             "repaint": ("demo", dict(method="repaint", steps=s, jump_length=j, resample=r),
                         repaint_calls(s, jump_length=j, resample=r)),
             "palette": ("palette", dict(method="palette", steps=s), s),
             "replace_equal_calls": ("demo", dict(method="replace", steps=repaint_calls(s, jump_length=j, resample=r)),
                                     repaint_calls(s, jump_length=j, resample=r))}
    runs = {"demo": load_run(args.demo_run), "palette": load_run(args.palette_run)}
    for name in args.methods.split(","):
        which, options, calls = plans[name]
        start = time.perf_counter()
        x = inpaint(runs[which], original, mask, seed=0, batch_size=250, **options)
        seconds = time.perf_counter() - start
        assert torch.equal(x[(mask > 0.5).expand_as(x)], original[(mask > 0.5).expand_as(x)])   # kept exactly
        record({"method": name, "run": str(runs[which].path), **{k: v for k, v in options.items() if k != "method"},
                "network_calls": calls, "seconds": round(seconds, 1)}, x)
        if name in ("replace", "repaint", "palette"):
            pictures[name] = x
    record({"method": "original (no model)", "network_calls": 0, "seconds": 0.0}, original)
    if args.picture:                       # columns: masked input | replace | repaint | palette | original
        pictures["original"] = original
        columns = [pictures[k] for k in ("masked input", "replace", "repaint", "palette", "original") if k in pictures]
        save_strip([torch.stack([c[i] for c in columns]) for i in range(min(8, args.n))], args.picture, scale=2)


if __name__ == "__main__":
    main()
