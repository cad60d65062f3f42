"""Study: sample quality against sampling steps for every registered sampler on one trained diffusion run.

`python studies/sampler_steps.py runs/demo --steps 5 10 20 50 --n 1000` draws n samples per (sampler, steps)
from the run's EMA network with the same seed, and prints JSON: classifier Frechet distance, precision and
recall against MNIST test (genlab's MNIST-classifier features), network calls per sample and samples/s.
"""
from __future__ import annotations

import argparse
import json
import time

from genlab.diffusion.samplers import SAMPLERS
from genlab.evaluation import evaluate_run
from genlab.training.run import load_run


def calls(name: str, steps: int) -> int:
    """Network evaluations per sample: Heun's corrector doubles all but the last step."""
    return 2 * steps - 1 if name == "heun" else steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a trained diffusion run on 28x28 MNIST (e.g. runs/demo)")
    ap.add_argument("--samplers", nargs="+", default=[n for n in SAMPLERS if n != "ancestral"])
    ap.add_argument("--steps", nargs="+", type=int, default=[5, 10, 20, 50])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    run = load_run(a.run)
    rows = []
    for steps in a.steps:
        for name in a.samplers:
            t0 = time.perf_counter()
            result = evaluate_run(run, metrics=["fid", "pr"], n=a.n, ref="mnist:test", extractor="classifier",
                                  batch_size=250, seed=a.seed, sampler_options={"sampler": name, "steps": steps},
                                  progress=False)
            seconds = time.perf_counter() - t0
            rows.append({"sampler": name, "steps": steps, "network_calls": calls(name, steps),
                         "classifier_fd": round(result["fd_classifier"], 2), "precision": round(result["precision"], 3),
                         "recall": round(result["recall"], 3), "seconds": round(seconds, 1)})
            print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"run": a.run, "n": a.n, "seed": a.seed, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
