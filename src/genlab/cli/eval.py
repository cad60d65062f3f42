"""`genlab eval`: sample quality (FID, KID, IS, precision/recall) and likelihoods of a run, or of two image sets."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from genlab.cli.arguments import add_old_spelling, int_at_least, nonempty, nonnegative_int, output_file, positive_int
from genlab.errors import ModelInputError


KID_SUBSET = 1000       # compute_metrics' kid_subset_size: KID as Binkowski et al. 2018 report it

EPILOG = """\
metrics: fid, kid, is, pr (precision/recall, k=3), dc (density/coverage), and likelihoods where the family
has one: bpd (diffusion: variational bound in bits/dim on --ref images), nll (VAE: ELBO and IWAE nats);
modes: modes covered and share of high-quality samples of a run on a 2-D toy mixture (ring8, grid25);
label_accuracy: share of a class-conditional MNIST run's samples (labels 0..9 in turn) that genlab's MNIST
classifier assigns to the asked digit, overall and per class.
Results are named after the features they were computed on: fid, is_mean, kid_mean on Inception-v3 (the
standard numbers); fd_classifier, classifier_score_mean, kd_classifier_mean on genlab's MNIST classifier
(fd_<name> etc. for a TorchScript extractor). The output states the extractor and n. KID below n = 1000
uses smaller subsets and says so.

examples:
  genlab eval runs/mnist --metrics fid,kid,pr --n 2000 --ref mnist:test --extractor classifier
  genlab eval runs/mnist --metrics fid --n 10000 --ref mnist:test           # standard FID (Inception)
  genlab eval runs/mnist --metrics bpd --n 256 --ref mnist:test
  genlab eval runs/gan_mnist_cond --metrics fid,label_accuracy --extractor classifier   # share of the asked digit
  genlab eval runs/mnist --metrics fid --extractor classifier --n 1000 --sample-steps 4 --spacing trailing
  genlab eval --real mnist:test --fake samples.npz --metrics fid
  torchrun --nproc_per_node 2 -m genlab.cli.main eval runs/mnist --metrics fid --n 10000   # 2 processes
Samples are drawn in chunks (memory stays flat), seeded by --seed (the same samples for any number of
processes); the results are printed as a table and written as JSON beside the run (RUN/eval/*.json).
Reference statistics are cached and reused.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help="measure a run's samples (FID, KID, IS, P/R) or likelihood", epilog=EPILOG,
                       description="Evaluate a run's samples against reference images, or two image sets.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", nargs="?", metavar="RUN", help="run folder (omit with --real/--fake)")
    p.add_argument("--metrics", default="fid",
                   help="comma-separated: fid,kid,is,pr,dc,bpd,nll,modes,label_accuracy (default fid)")
    p.add_argument("--n", type=int_at_least(2), default=2000, help="images to generate and read from each source")
    p.add_argument("--ref", type=nonempty, default=None,
                   help="reference data, e.g. mnist:test (default: the run's data, test split)")
    p.add_argument("--real", type=nonempty, help="reference images: dataset name[:split], folder or .npz (with --fake)")
    p.add_argument("--fake", type=nonempty, help="images to judge: folder or .npz (with --real)")
    p.add_argument("--extractor", type=nonempty, default="inception",
                   help="inception (standard FID), classifier (genlab's MNIST net) or a path")
    p.add_argument("--batch-size", type=positive_int, default=100,
                   help="images generated and read per chunk (default 100)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the samples (default 0)")
    p.add_argument("--step", type=nonnegative_int, help="the run's checkpoint of this step (default: the newest)")
    p.add_argument("--sampler", metavar="NAME", help="diffusion sampler (default: the run's; see `genlab sample -h`)")
    p.add_argument("--sample-steps", dest="steps", type=positive_int, metavar="N",
                   help="sampling steps (default: the run's diffusion.sample_steps)")
    add_old_spelling(p, "--steps", dest="steps", type=positive_int)
    from genlab.diffusion.timesteps import SCHEDULE_SPACINGS
    p.add_argument("--spacing", choices=SCHEDULE_SPACINGS,
                   help="timestep spacing (default: as `genlab sample`)")
    p.add_argument("--out", type=output_file,
                   help="JSON file to write (default RUN/eval/<metrics>_<extractor>_n<N>.json)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def print_table(result: dict[str, Any]) -> None:
    """Print {name: value} as two aligned columns."""
    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")


def describe(result: dict[str, Any]) -> str:
    """One line saying what was computed on what: the extractor's features, n generated and n reference items."""
    if "extractor" not in result:
        return ""
    from genlab.metrics.evaluate import result_keys

    names = result_keys(str(result["extractor"]))
    labels = {names["fid"]: "Frechet distance", f"{names['is']}_mean": "score",
              f"{names['kid']}_mean": "kernel distance", "precision": "precision/recall", "density": "density/coverage"}
    what = ", ".join(f"{label} ({key})" if key not in ("precision", "density") else label
                     for key, label in labels.items() if key in result) or "metrics"
    line = (f"{what} on {result['extractor']} features; n = {result.get('n_fake')} generated"
            + (f", {result['n_ref']} reference" if "n_ref" in result else ""))
    if result.get("kid_subset_size", KID_SUBSET) < KID_SUBSET:
        line += (f"\nnote: KID used subsets of {result['kid_subset_size']} (n is below {KID_SUBSET}); its value is not "
                 f"comparable with KIDs published on subsets of {KID_SUBSET}; use --n {KID_SUBSET} or more")
    return line


def run(args: argparse.Namespace) -> int:
    from genlab.evaluation import LIKELIHOODS, evaluate_images, evaluate_run
    from genlab.files import write_json_atomic

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    t0 = time.perf_counter()
    if args.real or args.fake:
        if not (args.real and args.fake) or args.run_dir:
            raise ModelInputError("give either RUN, or both --real and --fake")
        result = evaluate_images(args.fake, args.real, metrics=metrics, n=args.n, extractor=args.extractor,
                                 batch_size=args.batch_size, progress=not args.quiet)
        out = Path(args.out) if args.out else None
    else:
        if not args.run_dir:
            raise ModelInputError("give a run folder, or --real and --fake")
        options = {k: v for k, v in dict(sampler=args.sampler, steps=args.steps, spacing=args.spacing).items()
                   if v is not None}
        result = evaluate_run(args.run_dir, metrics=metrics, n=args.n, ref=args.ref, extractor=args.extractor,
                              batch_size=args.batch_size, seed=args.seed, sampler_options=options,
                              progress=not args.quiet, step=args.step)
        if not result:                                   # another rank of a launched job: rank 0 reports
            return 0
        features = any(m not in (*LIKELIHOODS, "modes") for m in metrics)       # metrics that read an extractor
        inception = str(result.get("extractor", "inception")).startswith("inception")
        tag = "-".join(m if inception or m != "fid" else "fd" for m in metrics) \
            + (f"_{Path(args.extractor).stem}" if features else "")
        tag += "".join(f"_{key}{value}" for key, value in options.items())     # e.g. _samplerheun_steps10
        tag += f"_step{args.step}" if args.step is not None else ""
        out = Path(args.out) if args.out else Path(result["run"]) / "eval" / f"{tag}_n{args.n}.json"
    result["seconds"] = round(time.perf_counter() - t0, 2)
    print_table(result)
    line = describe(result)
    if line:
        print(line)
    if out is not None:
        write_json_atomic(out, result, default=str)
        print(f"wrote {out}")
    if args.run_dir and out is not None:
        from genlab.training.tracker import log_eval_result
        note = log_eval_result(args.run_dir, out.stem, result)       # a run trained with train.tracker
        if note:
            print(note)
    return 0
