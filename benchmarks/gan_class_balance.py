"""Class histogram of a GAN run's samples and the share of its Frechet distance the class shares explain; JSON.

n EMA samples (seed 0) and the first n MNIST test images are labelled and embedded by genlab's MNIST
classifier (the features of `genlab eval --extractor classifier`); `genlab.metrics.class_balance` splits the
distance. `--step` scores an older checkpoint of the run (`load_run(RUN, step=S)`).

    .venv/bin/python benchmarks/gan_class_balance.py RUN [--step 6250] [--n 2000]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--step", type=int, default=None)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()

    from genlab.data import to_uint8
    from genlab.evaluation import load_images
    from genlab.metrics.class_balance import class_histogram, class_share_frechet
    from genlab.metrics.evaluate import extract
    from genlab.metrics.features import get_extractor
    from genlab.training.run import load_run

    run_dir = Path(args.run)
    run = load_run(run_dir, step=args.step)
    fake_images = to_uint8(run.sample(args.n, seed=0, batch_size=100))
    net = get_extractor("classifier")
    fake = extract(fake_images, net, keep_features=True, keep_probs=True, batch_size=100, progress=False)
    ref = extract(load_images("mnist:test"), net, n=args.n, keep_features=True, keep_probs=True, batch_size=100,
                  progress=False)
    p_fake, p_ref = fake.prob_matrix(), ref.prob_matrix()
    split = class_share_frechet(fake.feature_matrix(), p_fake.argmax(1), ref.feature_matrix(), p_ref.argmax(1), 10)
    print(json.dumps({"run": str(run_dir), "step": run.step, "n": args.n, **{k: round(v, 2) for k, v in split.items()},
                      "class_shares": np.round(class_histogram(p_fake.argmax(1), 10), 3).tolist(),
                      "reference_shares": np.round(class_histogram(p_ref.argmax(1), 10), 3).tolist(),
                      "unsure": round(float((p_fake.max(1) < 0.9).mean()), 3),
                      "reference_unsure": round(float((p_ref.max(1) < 0.9).mean()), 3)}))


if __name__ == "__main__":
    main()
