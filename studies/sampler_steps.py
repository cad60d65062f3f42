"""Study: sample quality against sampling steps for every registered sampler on one trained diffusion run.

`python studies/sampler_steps.py runs/demo --steps 5 10 20 50 --n 1000` draws n samples per (sampler, steps)
from the run's EMA network with the same seed, and prints JSON: classifier Frechet distance, precision and
recall against MNIST test (genlab's MNIST-classifier features), network calls per sample, the timestep spacing
used (each sampler's default for that many steps, `Sampler.spacing_for`, unless `--spacings` lists some to
compare) and seconds. `--spacings logsnr quadratic karras` scores every sampler on each of those spacings.
`--as-compare` draws and scores the samples exactly as a `genlab compare` row (genlab.compare.runner.sample_row's
seeds, genlab.compare.judge's reference and features), so its figures stand beside a compare report's.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

from genlab.compare.judge import judge
from genlab.compare.recipes import Row
from genlab.compare.runner import sample_row
from genlab.diffusion.samplers import SAMPLERS
from genlab.diffusion.timesteps import SCHEDULE_SPACINGS
from genlab.evaluation import evaluate_run
from genlab.training.run import load_run


def score_as_compare(run: Any, options: dict[str, Any], *, n: int, seed: int) -> dict[str, Any]:
    """FD, precision and recall of a `genlab compare` row sampled with `options` (its seeds and judge)."""
    samples, _, _ = sample_row(run, Row("study", options), n=n, seed=seed, budget=math.inf)
    out = judge(samples, data="mnist", kind="image", n=n)
    return {"fd_classifier": out["fd"], "precision": out["precision"], "recall": out["recall"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a trained diffusion run on 28x28 MNIST (e.g. runs/demo)")
    ap.add_argument("--samplers", nargs="+", choices=list(SAMPLERS),
                    default=[n for n, s in SAMPLERS.items() if not s.full_chain and not s.inputs])
    ap.add_argument("--steps", nargs="+", type=int, default=[5, 10, 20, 50])
    ap.add_argument("--spacings", nargs="+", choices=SCHEDULE_SPACINGS, default=[None],
                    help="timestep spacings to score (default: each sampler's own for the step count)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--as-compare", action="store_true", help="sample and score as a `genlab compare` row")
    a = ap.parse_args()
    run = load_run(a.run)
    d = run.family.config.diffusion
    rows = []
    for steps in a.steps:
        for name in a.samplers:
            for spacing in a.spacings:
                options = {"sampler": name, "steps": steps, **({"spacing": spacing} if spacing else {})}
                t0 = time.perf_counter()
                result = score_as_compare(run, options, n=a.n, seed=a.seed) if a.as_compare else evaluate_run(
                    run, metrics=["fid", "pr"], n=a.n, ref="mnist:test", extractor="classifier", batch_size=250,
                    seed=a.seed, sampler_options=options, progress=False)
                seconds = time.perf_counter() - t0
                rows.append({"sampler": name, "steps": steps,
                             "spacing": spacing or SAMPLERS[name].spacing_for(steps) or d.spacing,
                             "network_calls": SAMPLERS[name].network_calls(steps),
                             "classifier_fd": round(result["fd_classifier"], 2),
                             "precision": round(result["precision"], 3), "recall": round(result["recall"], 3),
                             "seconds": round(seconds, 1)})
                print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"run": a.run, "n": a.n, "seed": a.seed, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
