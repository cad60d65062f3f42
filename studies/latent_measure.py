"""Study: what docs/latent.md reports: guidance against accuracy and Frechet distance, prompts, super-resolution, speed.

Scores use genlab's MNIST classifier (genlab.metrics, 99.5% on the test set): the share of samples it assigns
to the asked digit, and the Frechet distance between its 128-d features of samples and of MNIST test images.
`python studies/latent_measure.py guidance RUN` prints the table as JSON (see `--help`).
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from genlab.data.transforms import to_uint8
from genlab.training.run import Run, load_run


def reference_images(*, n: int, seed: int = 0, split: str = "test") -> tuple[Tensor, Tensor]:
    """n MNIST images (uint8 (n, 1, 28, 28)) and labels (n,) from `split`, a seeded subset."""
    from genlab.data import load_dataset
    ds = load_dataset("mnist", split=split, limit=n, seed=seed)
    return torch.from_numpy(ds.x), torch.from_numpy(ds.y).long()


def class_scores(images: Tensor, labels: Tensor, ref: Tensor) -> dict[str, float]:
    """Share of images (n, 1, 28, 28) in [-1, 1] classified as `labels` (n,), and their classifier Frechet
    distance to uint8 reference images `ref`."""
    from genlab.metrics.evaluate import compute_statistics
    from genlab.metrics.features import get_extractor

    extractor = get_extractor("classifier")
    fake = to_uint8(images)
    _, logits = extractor.features_and_logits(fake)
    share = (logits.argmax(dim=1) == labels).double().mean().item()
    fd = compute_statistics(fake, extractor, progress=False).frechet_distance(
        compute_statistics(ref, extractor, progress=False))
    return {"share_asked": round(share, 4), "frechet": round(fd, 3)}


def guidance_table(run: Run, scales: Sequence[float], *, n: int = 200, steps: int = 25, seed: int = 0,
                   ref_n: int = 2000, batch_size: int = 100) -> list[dict[str, Any]]:
    """One row per guidance scale w: share of samples classified as the asked class, Frechet distance, seconds.

    The same n labels (each digit n / 10 times) and the same initial noise are used at every w (paired).
    """
    ref, _ = reference_images(n=ref_n)
    labels = torch.arange(n) % 10
    rows = []
    for w in scales:
        t0 = time.perf_counter()
        x = torch.cat([run.sample(len(chunk), seed=seed + i, label=chunk, guidance=w, steps=steps)
                       for i, chunk in enumerate(labels.split(batch_size))])
        rows.append({"w": w, **class_scores(x, labels, ref), "seconds": round(time.perf_counter() - t0, 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def prompt_table(run: Run, *, guidance: float, per_digit: int = 20, steps: int = 25, seed: int = 0,
                 ref_n: int = 2000) -> list[dict[str, Any]]:
    """Share classified as the prompted digit, for the training phrasings and for held-out ones, at one w."""
    from genlab.text.captions import HELD_OUT_TEMPLATES, TRAIN_TEMPLATES, caption

    ref, _ = reference_images(n=ref_n)
    rows = []
    for name, templates in (("train phrasings", TRAIN_TEMPLATES), ("held-out phrasings", HELD_OUT_TEMPLATES)):
        each = max(1, per_digit // len(templates))           # images per (digit, phrasing)
        images, labels = [], []
        for d in range(10):
            for j, template in enumerate(templates):
                images.append(run.sample(each, seed=seed + 100 * d + j, prompt=caption(d, template),
                                         guidance=guidance, steps=steps))
                labels += [d] * each
        x = torch.cat(images)
        rows.append({"captions": name, "w": guidance, **class_scores(x, torch.tensor(labels), ref)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def super_resolution_table(run: Run, *, n: int = 200, k: int = 4, steps: int = 25, seed: int = 0) -> dict[str, Any]:
    """PSNR (dB) against the original test images: one sample of the model, the mean of k samples (an estimate
    of the posterior mean, which maximises PSNR), bicubic and nearest upsampling; and the consistency PSNR of the
    sample made small again against the low-resolution input."""
    from genlab.data import to_float
    from genlab.diffusion.conditioning import downsample_images, upsample_images
    from genlab.diffusion.superres import psnr

    ref, _ = reference_images(n=n, seed=seed + 1)
    original = to_float(ref)
    size, low_side = tuple(original.shape[2:]), run.family.config.condition.low_res
    low = downsample_images(original, low_side)
    t0 = time.perf_counter()
    draws = torch.stack([torch.cat([run.sample(len(chunk), seed=seed + 1000 * j + i, low_res=chunk, steps=steps)
                                    for i, chunk in enumerate(low.split(100))]) for j in range(k)])
    seconds = time.perf_counter() - t0
    return {"n": n, "k": k, "psnr_sample": round(psnr(draws[0], original).mean().item(), 2),
            "psnr_mean_of_k": round(psnr(draws.mean(0), original).mean().item(), 2),
            "psnr_bicubic": round(psnr(upsample_images(low, size).clamp(-1, 1), original).mean().item(), 2),
            "psnr_nearest": round(psnr(upsample_images(low, size, mode="nearest"), original).mean().item(), 2),
            "psnr_consistency": round(psnr(downsample_images(draws[0], low_side), low).mean().item(), 2),
            "ms_per_image": round(1000 * seconds / (n * k), 1)}


def speed(run: Run, *, batch_size: int = 64, train_iters: int = 10, n_sample: int = 50, steps: int = 50,
          repeats: int = 3) -> dict[str, float]:
    """Training throughput (items/s of forward + backward of the denoiser, codec included) and per-image
    sampling time (DDIM `steps`, guided at w = 3 when conditional, decoding included), best of `repeats`;
    both in float32 on the current torch threads."""
    from genlab.training.objective import Batch, BatchRandom

    fam, models = run.family, run.models
    x = torch.zeros(batch_size, *run.info.shape)
    y = torch.arange(batch_size) % 10
    conditional = fam.config.condition.kind == "class"
    train_s, sample_s = [], []
    for r in range(repeats):
        models["model"].train()
        t0 = time.perf_counter()
        for i in range(train_iters):
            rng = BatchRandom(torch.Generator().manual_seed(i), global_size=batch_size, start=0, size=batch_size)
            loss, _ = fam.loss("denoise", models, Batch(x=x, y=y, rng=rng))
            loss.backward()
        train_s.append(time.perf_counter() - t0)
        models["model"].zero_grad(set_to_none=True)
        models["model"].eval()
        t0 = time.perf_counter()
        run.sample(n_sample, seed=r, steps=steps, precision="fp32", **({"guidance": 3.0} if conditional else {}))
        sample_s.append(time.perf_counter() - t0)
    return {"train_items_per_s": round(batch_size * train_iters / min(train_s), 1),
            "sample_ms_per_image": round(1000 * min(sample_s) / n_sample, 2), "steps": steps,
            "parameters": sum(p.numel() for p in models["model"].parameters())}


def main(argv: list[str] | None = None) -> int:
    """Measure one table of a run and print it as JSON."""
    p = argparse.ArgumentParser(prog="python studies/latent_measure.py", description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["guidance", "prompts", "superres", "speed"])
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("--scales", default="0,1,2,3,5,7", help="guidance scales (comma-separated)")
    p.add_argument("--guidance", type=float, default=3.0, help="w for the prompt table")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    run = load_run(args.run_dir)
    if args.what == "guidance":
        out: Any = guidance_table(run, [float(s) for s in args.scales.split(",")], n=args.n, steps=args.steps)
    elif args.what == "prompts":
        out = prompt_table(run, guidance=args.guidance, per_digit=max(1, args.n // 10), steps=args.steps)
    elif args.what == "superres":
        out = super_resolution_table(run, n=args.n, steps=args.steps)
    else:
        out = speed(run, steps=args.steps)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
