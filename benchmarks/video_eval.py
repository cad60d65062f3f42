"""Video diffusion numbers for docs/video.md: unconditional clips (per-frame classifier Frechet distance, identity
consistency) and continuation of held-out Moving MNIST clips (error against the true future vs copying the last
given frame), with CPU time and peak memory per clip; prints JSON.

    GENLAB_THREADS=1 .venv/bin/python benchmarks/video_eval.py RUN --part uncond --n 96 --steps 20 --gif u.gif
    ... --part continue --method mask --n 96; --method reconstruction --n 32; --method mask --frames 16 --n 16
    ... --part context --n 32     # does the x0 prediction of the unknown frames use the given ones? (mask runs)
    ... --part uncond --sampler ancestral --steps 50; --part context --t 100,200,300,400,500,700,900

Held-out clips come from MNIST's test digits with the run's Moving MNIST recipe (its data.name), stream --seed;
the reference statistics of the unconditional part are `--n-real` such clips.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import time
from typing import Any

import numpy as np
import torch


def held_out(run: Any, n: int, frames: int, seed: int) -> torch.Tensor:
    """n test clips of `frames` frames with the run's recipe, in [-1, 1]: (n, frames, 1, S, S)."""
    from genlab.data import to_float
    from genlab.data.builtin import load_mnist
    from genlab.data.moving_mnist import make_moving_mnist, parse_spec

    spec = dataclasses.replace(parse_spec(run.config.data.name), frames=frames)
    mnist = load_mnist("test")
    assert mnist.y is not None
    x, _, _ = make_moving_mnist(mnist.x, mnist.y, spec, n=n, seed=10_000 + seed)
    return to_float(torch.from_numpy(x))


@torch.no_grad()
def context_use(run: Any, truth: torch.Tensor, *, given: int, seed: int,
                steps: tuple[int, ...] = (300, 500, 700, 900)) -> dict[str, list[float]]:
    """Mean squared error of the x0 predicted for frames given+1.. of held-out clips truth (n, T, 1, S, S) at noise
    levels `steps`, fed the true first frames, another clip's first frames (the batch rolled by one), or none."""
    from genlab.diffusion.parametrization import coefficients

    net, family = run.models["model"], run.family
    denoiser = family.denoiser(net)
    n, frames = truth.shape[:2]
    mask = torch.zeros(n, frames, dtype=torch.bool)
    mask[:, :given] = True
    generator = torch.Generator().manual_seed(seed)
    clean = family.encode_frames(run.models, truth)        # latent runs: the frames' latents; errors in pixels
    out: dict[str, list[float]] = {"t": list(steps), "true": [], "other": [], "none": []}
    for step in steps:
        t = torch.full((n,), step, dtype=torch.long)
        alpha, sigma = coefficients(family.schedule, t, clean)
        x_t = (alpha * clean + sigma * torch.randn(clean.shape, generator=generator)).float()
        for key, known, m in (("true", clean, mask), ("other", clean.roll(1, 0), mask),
                              ("none", clean, torch.zeros_like(mask))):
            moved = family.moved_reference(run.models, truth.roll(int(key == "other"), 0), m)   # video.motion runs
            out_t = net(x_t, t, known, m, **({} if moved is None else {"moved": moved}))
            x0, _ = denoiser.split(out_t.float(), x_t, alpha=alpha.float(), sigma=sigma.float())
            x0 = family.decode(run.models, x0)
            out[key].append(float((x0[:, given:] - truth[:, given:]).pow(2).mean()))
    return out


def frame_agreement(labels: torch.Tensor, top: torch.Tensor) -> dict[str, float]:
    """Is identity lost per frame or by shape change? The share of frames read with confidence > 0.9, and how often
    neighbouring frames share a label: over all pairs, and over pairs where both frames are read confidently."""
    sure = top > 0.9
    same = labels[:, 1:] == labels[:, :-1]
    both = sure[:, 1:] & sure[:, :-1]
    return {"confident_frames": float(sure.float().mean()), "neighbours_same_label": float(same.float().mean()),
            "neighbours_same_label_both_confident": float((same & both).sum() / both.sum().clamp(min=1))}


def timed(fn: Any) -> tuple[Any, float]:
    """fn() and the CPU seconds it took in this process."""
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def main() -> None:
    from genlab.metrics.classifier import load_mnist_classifier
    from genlab.metrics.video import (clip_features, continuation_error, identity_consistency, label_spread,
                                      per_frame_frechet)
    from genlab.training.run import load_run
    from genlab.viz.video import save_gif, save_strip_png

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run")
    p.add_argument("--part", choices=["uncond", "continue", "context"], required=True)
    p.add_argument("--method", choices=["mask", "reconstruction"], default="mask")
    p.add_argument("--n", type=int, default=48)
    p.add_argument("--n-real", type=int, default=500)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--given", type=int, default=4)
    p.add_argument("--realign", action=argparse.BooleanOptionalAction, default=None,
                   help="--part continue, mask, video.motion runs: re-align the reference at every step")
    p.add_argument("--guidance", type=float, default=None, help="--part continue, mask: classifier-free guidance "
                   "towards the given frames (1: none)")
    p.add_argument("--frames", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampler", help="a registered sampler instead of the run's")
    p.add_argument("--t", default="300,500,700,900", help="noise levels of --part context, comma-separated")
    p.add_argument("--gif", help="also write these clips as GIF + strip PNG (the first 8)")
    args = p.parse_args()
    torch.set_num_threads(1)
    run = load_run(args.run)
    window = run.info.shape[0]
    frames = args.frames or window
    clf = load_mnist_classifier()
    out: dict[str, Any] = {"run": args.run, "step": run.step, "part": args.part, "n": args.n, "steps": args.steps,
                           "sampler": args.sampler or run.config.sections.diffusion.sampler, "frames": frames}
    extra = {"sampler": args.sampler} if args.sampler else {}
    if args.part == "uncond":
        clips, cpu = timed(lambda: run.sample(args.n, seed=args.seed, batch_size=args.batch_size, steps=args.steps,
                                              frames=frames, **extra))
        real = held_out(run, args.n_real, frames, args.seed + 1)
        other = held_out(run, args.n, frames, args.seed + 2)
        f_real, _, _ = clip_features(clf, real)
        f_fake, labels, top = clip_features(clf, clips)
        f_other, labels_other, top_other = clip_features(clf, other)
        out.update(fd_per_frame=per_frame_frechet(f_real, f_fake), fd_real_vs_real=per_frame_frechet(f_real, f_other),
                   identity_consistency=identity_consistency(labels),
                   identity_consistency_real=identity_consistency(labels_other),
                   confidence=float(top.mean()), confidence_real=float(top_other.mean()), **label_spread(labels),
                   real_spread=label_spread(labels_other), **frame_agreement(labels, top),
                   real_agreement=frame_agreement(labels_other, top_other))
    elif args.part == "context":
        truth = held_out(run, args.n, window, args.seed)
        levels = tuple(int(v) for v in args.t.split(","))
        out["x0_mse_unknown_frames"], cpu = timed(lambda: context_use(run, truth, given=args.given, seed=args.seed,
                                                                      steps=levels))
        out["mse_copy_last"] = float((truth[:, args.given:] - truth[:, args.given - 1:args.given]).pow(2).mean())
        clips = truth
    else:
        truth = held_out(run, args.n, frames, args.seed)
        context = truth[:, :args.given]
        clips, cpu = timed(lambda: run.sample(args.n, seed=args.seed, batch_size=args.batch_size, steps=args.steps,
                                              context=context, frames=frames, method=args.method, **extra,
                                              **({} if args.guidance is None else {"guidance": args.guidance}),
                                              **({} if args.realign is None else {"realign": args.realign})))
        out.update(method=args.method, given=args.given, guidance=args.guidance, realign=args.realign,
                   **continuation_error(clips[:, args.given:], truth[:, args.given:], context[:, -1]))
        out["context_exact"] = bool(torch.equal(clips[:, :args.given], context))
        copy = torch.cat([context, context[:, -1:].expand(-1, frames - args.given, -1, -1, -1)], dim=1)
        _, true_labels, _ = clip_features(clf, truth)
        for name, seq in (("", clips), ("_copy_last", copy), ("_real", truth)):   # the last two check the metric
            _, labels, top = clip_features(clf, seq)
            kept = float((labels[:, args.given:] == true_labels[:, :1]).float().mean())
            out.update({f"identity_consistency{name}": identity_consistency(labels),
                        f"confidence{name}": float(top.mean()), f"label_kept{name}": kept})
    out.update(cpu_seconds_per_clip=cpu / args.n,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, batch_size=args.batch_size)
    if args.gif:
        save_gif(clips[:8], args.gif, nrow=8, scale=2)
        save_strip_png(clips[:8], args.gif.rsplit(".", 1)[0] + ".png", scale=2)
    print(json.dumps(out, default=lambda v: float(np.asarray(v))))


if __name__ == "__main__":
    main()
