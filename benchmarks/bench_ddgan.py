"""DDGAN's numbers: quality of trained MNIST runs and sampling speed of DDGAN-T against DDIM-50; prints JSON.

Quality: n samples of each run judged by `genlab.compare.judge` (genlab's MNIST classifier features: Frechet
distance, precision, recall, against the test set). Speed: in this one process, at the same batch, threads and
precision, the DDGAN run's T-step chain and the diffusion run's DDIM-50 are timed in alternation, `--repeats`
times each, and the best of each is kept (the machine is shared: the best is the least disturbed).

    .venv/bin/python benchmarks/bench_ddgan.py --runs RUN_DDGAN RUN_GAN --speed RUN_DDGAN --ddim runs/demo_native
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any


def quality(run_dir: str, n: int, seed: int) -> dict[str, Any]:
    """FD / precision / recall of n samples of a run, plus its training step count."""
    from genlab.compare import judge
    from genlab.data import to_uint8
    from genlab.training.run import load_run

    run = load_run(run_dir)
    x = run.sample(n, seed=seed, batch_size=250)
    return {"run": run_dir, "family": run.config.family, "steps": run.step,
            **judge(to_uint8(x).numpy(), data=run.config.data.name, kind="image", n=n)}


def speed(ddgan_dir: str, ddim_dir: str, *, batch: int, repeats: int, precision: str) -> dict[str, Any]:
    """Best samples/s of each sampler over `repeats` alternating timings of one batch."""
    from genlab.training.run import load_run

    fast, slow = load_run(ddgan_dir), load_run(ddim_dir)
    best = {"ddgan": 0.0, "ddim50": 0.0}
    fast.sample(8, seed=0, precision=precision)                  # warm-up: kernels, allocator
    slow.sample(8, seed=0, precision=precision, sampler="ddim", steps=50)
    for r in range(repeats):
        t0 = time.perf_counter()
        fast.sample(batch, seed=r, batch_size=batch, precision=precision)
        best["ddgan"] = max(best["ddgan"], batch / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        slow.sample(batch, seed=r, batch_size=batch, precision=precision, sampler="ddim", steps=50, eta=0.0)
        best["ddim50"] = max(best["ddim50"], batch / (time.perf_counter() - t0))
    return {"batch": batch, "precision": precision, "repeats": repeats, "ddgan_T": fast.family.schedule.T,  # type: ignore[attr-defined]
            "ddgan_samples_per_s": best["ddgan"], "ddim50_samples_per_s": best["ddim50"],
            "ratio": best["ddgan"] / best["ddim50"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="*", default=[], help="image runs to judge")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--speed", help="a ddgan run to time against --ddim")
    p.add_argument("--ddim", default="runs/demo_native", help="a diffusion run, sampled with DDIM-50")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    a = p.parse_args()
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    out: dict[str, Any] = {"threads": torch.get_num_threads(),
                           "quality": [quality(r, a.n, a.seed) for r in a.runs]}
    if a.speed:
        out["speed"] = speed(a.speed, a.ddim, batch=a.batch, repeats=a.repeats, precision=a.precision)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
