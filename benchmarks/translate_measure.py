"""Measure image-to-image runs on a built-in task's test split; prints JSON (the tables of docs/translate.md).

For every run: PSNR (dB) and L1 of a -> b against the true b where the test split is paired (the identity map
input -> input as the baseline); for CycleGAN runs the cycle L1 |G_ba(G_ab(a)) - a|; where the b side is MNIST,
the share of translations genlab's MNIST classifier gives the source's label and the classifier Frechet
distance to MNIST test, each beside the untranslated inputs as the baseline.

Usage: PYTHONPATH=src python benchmarks/translate_measure.py --task TASK [--n 1000] RUN [RUN ...]
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from genlab.data import load_dataset, to_float, to_uint8
from genlab.data.pairs import load_sides
from genlab.diffusion.superres import psnr
from genlab.metrics.features import ClassifierFeatures
from genlab.metrics.frechet import frechet_distance
from genlab.training.run import load_run
from genlab.translate.inference import translate_images

MNIST_B = ("digits-mnist", "mnist-edges", "mnist-half", "mnist-lowres")


def classifier_scores(x: torch.Tensor, y: torch.Tensor, extractor: ClassifierFeatures,
                      ref: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """Label agreement and classifier Frechet distance to the reference statistics of uint8 images x (N, 1, 28, 28)."""
    feats, logits = [], []
    for chunk in x.split(500):
        with torch.no_grad():
            f, lg = extractor.features_and_logits(chunk)
        feats.append(f.double())
        logits.append(lg)
    f = torch.cat(feats).numpy()
    pred = torch.cat(logits).argmax(1)
    return {"label_agreement": float((pred == y).float().mean()),
            "frechet_distance": frechet_distance(f.mean(0), np.cov(f, rowvar=False), *ref)}


def measure(run_dir: str, task: str, n: int, extractor: ClassifierFeatures,
            ref: tuple[np.ndarray, np.ndarray] | None) -> dict[str, object]:
    """The numbers of one run on the first n test items of `task`."""
    run = load_run(run_dir)
    sides = load_sides(task, split="test")
    a = torch.from_numpy(sides.a.x[:n])
    fake = translate_images(run, a, direction="a2b")
    row: dict[str, object] = {"run": run_dir, "family": run.config.family, "step": run.step, "n": len(a)}
    if sides.paired:
        b = to_float(torch.from_numpy(sides.b.x[:n]))
        row.update(psnr=float(psnr(fake, b).mean()), l1=float((fake - b).abs().mean()),
                   psnr_input=float(psnr(to_float(a), b).mean()), l1_input=float((to_float(a) - b).abs().mean()))
    if run.config.family == "cyclegan":
        back = translate_images(run, to_uint8(fake), direction="b2a")
        row["cycle_l1"] = float((back - to_float(a)).abs().mean())
    if task in MNIST_B and ref is not None and sides.a.y is not None:
        y = torch.from_numpy(sides.a.y[:n])
        row["translated"] = classifier_scores(to_uint8(fake), y, extractor, ref)
        row["input"] = classifier_scores(a, y, extractor, ref)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--task", required=True)
    p.add_argument("--n", type=int, default=1000)
    args = p.parse_args()
    torch.set_num_threads(1)
    extractor = ClassifierFeatures()
    ref = None
    if args.task in MNIST_B:
        test = torch.from_numpy(load_dataset("mnist", split="test").x)
        f = torch.cat([extractor(chunk).double() for chunk in test.split(1000)]).numpy()
        ref = (f.mean(0), np.cov(f, rowvar=False))
    print(json.dumps([measure(r, args.task, args.n, extractor, ref) for r in args.runs], indent=1))


if __name__ == "__main__":
    main()
