"""Benchmark genlab's metrics; prints JSON.

- feature extraction images/s: FID Inception (default_1.pt, 299x299) and the MNIST classifier, on MNIST test
- 2048-d Frechet distance: genlab's eigh-based trace vs pytorch-fid's `scipy.linalg.sqrtm` path (that path
  is re-run here with scipy directly, as pytorch-fid 0.3.0's calculate_frechet_distance does it), median of runs

Usage: .venv/bin/python benchmarks/bench_metrics.py [--inception-images 32] [--repeats 5] [--threads 0]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import numpy as np
import scipy.linalg
import torch

from genlab.metrics.features import ClassifierFeatures, InceptionFeatures
from genlab.metrics.frechet import frechet_distance


def sqrtm_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid 0.3.0's computation: trace of scipy.linalg.sqrtm(S1 S2), with its singular-product fallback."""
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    covmean = covmean.real
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def median_seconds(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def images_per_s(extractor, x: torch.Tensor, batch_size: int, repeats: int) -> float:
    extractor(x[:2])                                            # warm-up (TorchScript profiling runs)
    seconds, _ = median_seconds(lambda: [extractor(b) for b in x.split(batch_size)], repeats)
    return len(x) / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inception-images", type=int, default=32)
    ap.add_argument("--classifier-images", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--skip-features", action="store_true", help="only time the Frechet distance")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from genlab.data import load_dataset

    x = torch.from_numpy(load_dataset("mnist", split="test").x)
    print("timing ...", file=sys.stderr)
    out: dict[str, object] = {"torch_threads": torch.get_num_threads(), "machine": platform.machine(),
                              "processor_count": __import__("os").cpu_count()}
    if not args.skip_features:
        out["classifier_images_per_s"] = images_per_s(ClassifierFeatures(), x[:args.classifier_images], 500,
                                                      args.repeats)
        out["inception_images_per_s"] = images_per_s(InceptionFeatures(), x[:args.inception_images], 16, args.repeats)
        out["inception_images"] = args.inception_images

    rng = np.random.default_rng(0)
    fd = {}
    for label, n in [("well_conditioned_n4096", 4096), ("singular_n500", 500)]:
        a = rng.normal(size=(n, 2048)) @ (rng.normal(size=(2048, 2048)) / 45) + 0.3
        b = rng.normal(size=(n, 2048)) @ (rng.normal(size=(2048, 2048)) / 45)
        stats = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
        t_genlab, v_genlab = median_seconds(lambda stats=stats: frechet_distance(*stats), args.repeats)
        t_scipy, v_scipy = median_seconds(lambda stats=stats: sqrtm_frechet_distance(*stats), args.repeats)
        fd[label] = {"genlab_s": t_genlab, "scipy_sqrtm_s": t_scipy, "speedup": t_scipy / t_genlab,
                     "genlab_value": v_genlab, "scipy_value": float(v_scipy),
                     "relative_difference": abs(v_genlab - v_scipy) / abs(v_scipy)}
    out["frechet_2048d"] = fd
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
