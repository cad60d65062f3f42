"""`genlab eval`: sample quality (FID, KID, IS, precision/recall) and likelihoods of a run, or of two image sets."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from genlab.cli.arguments import int_at_least, nonempty, nonnegative_int, output_file, positive_int
from genlab.errors import DataError, ModelInputError

METRICS = ("fid", "kid", "is", "pr", "dc", "bpd", "nll", "modes")

EPILOG = """\
metrics: fid, kid, is, pr (precision/recall, k=3), dc (density/coverage), and likelihoods where the family
has one: bpd (diffusion: variational bound in bits/dim on --ref images), nll (VAE: ELBO and IWAE nats);
modes: modes covered and share of high-quality samples of a run on a 2-D toy mixture (ring8, grid25).

examples:
  genlab eval runs/mnist --metrics fid,kid,pr --n 2000 --ref mnist:test --extractor classifier
  genlab eval runs/mnist --metrics fid --n 10000 --ref mnist:test           # standard FID (Inception)
  genlab eval runs/mnist --metrics bpd --n 256 --ref mnist:test
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
    p.add_argument("--metrics", default="fid", help="comma-separated: fid,kid,is,pr,dc,bpd,nll,modes (default fid)")
    p.add_argument("--n", type=int_at_least(2), default=2000, help="images to generate and read from each source")
    p.add_argument("--ref", type=nonempty, default=None, help="reference data, e.g. mnist:test (default: the run's data, test split)")
    p.add_argument("--real", type=nonempty, help="reference images: dataset name[:split], folder or .npz (with --fake)")
    p.add_argument("--fake", type=nonempty, help="images to judge: folder or .npz (with --real)")
    p.add_argument("--extractor", type=nonempty, default="inception",
                   help="inception (standard FID), classifier (genlab's MNIST net) or a path")
    p.add_argument("--batch-size", type=positive_int, default=100)
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--sampler", choices=["ddim", "ancestral"], help="diffusion sampler (default: the run's)")
    p.add_argument("--steps", type=positive_int, help="sampling steps")
    p.add_argument("--out", type=output_file, help="JSON file to write (default RUN/eval/<metrics>_<extractor>_n<N>.json)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run)


def parse_source(spec: str) -> tuple[str, str]:
    """'mnist:test' -> ('mnist', 'test'); 'cifar10:/data' -> ('cifar10:/data', 'test'); paths pass through."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail in ("train", "test"):
        return head, tail
    return spec, "test"


def load_images(spec: str) -> Any:
    """A dataset of uint8 images from a name[:split], folder or .npz."""
    from genlab.data import load_dataset

    name, split = parse_source(spec)
    ds = load_dataset(name, split=split)
    if ds.kind != "image":
        raise DataError(f"{spec} holds vectors; image metrics need images")
    return ds


def print_table(result: dict[str, Any]) -> None:
    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")


def run(args: argparse.Namespace) -> int:
    from genlab.metrics.evaluate import compute_metrics
    from genlab.metrics.features import get_extractor
    from genlab.metrics.statistics import StatisticsCache, stats_key
    from genlab.training.distributed import extract_sharded, process_device, process_rank
    from genlab.training.run import load_run

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    likelihoods = [m for m in metrics if m in ("bpd", "nll")]
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ModelInputError(f"unknown metric {unknown[0] if unknown else args.metrics!r} in --metrics; expected "
                              f"a comma-separated list of {', '.join(METRICS)}")
    sample_metrics = [m for m in metrics if m not in likelihoods and m != "modes"]
    if args.n < 2:
        raise ModelInputError(f"--n must be at least 2, got {args.n}")
    result: dict[str, Any] = {}
    t0 = time.perf_counter()
    if args.real or args.fake:
        if not (args.real and args.fake) or args.run_dir:
            raise ModelInputError("give either RUN, or both --real and --fake")
        if likelihoods or "modes" in metrics:
            raise ModelInputError("bpd/nll/modes need a run (a model), not two image sets")
        result = compute_metrics(load_images(args.fake), load_images(args.real), metrics=sample_metrics,
                                 extractor=args.extractor, n=args.n, batch_size=args.batch_size,
                                 progress=not args.quiet)
        out = Path(args.out) if args.out else None
    else:
        if not args.run_dir:
            raise ModelInputError("give a run folder, or --real and --fake")
        # sampling metrics run on this process's GPU when there is one; likelihoods stay on the CPU
        run_ = load_run(args.run_dir, device=None if not likelihoods else "cpu")
        ref_spec = args.ref or f"{run_.config.data.name}:test"
        result = {"run": str(run_.path), "step": run_.step, "ref": ref_spec}
        if sample_metrics:
            if run_.info.kind != "image":
                raise ModelInputError(f"{','.join(sample_metrics)} need an image model; this run generates vectors "
                                      "(--metrics modes measures a toy run)")
            ref = load_images(ref_spec)
            options = {k: v for k, v in dict(sampler=args.sampler, steps=args.steps).items() if v is not None}
            name, split = parse_source(ref_spec)
            extractor = get_extractor(args.extractor, device=process_device())
            # every process samples and extracts its share of the chunks; rank 0 computes and reports
            fake = extract_sharded(run_, args.n, extractor, batch_size=args.batch_size, seed=args.seed, **options)
            if process_rank()[0] != 0:
                return 0
            key = stats_key(dataset=name, split=split, extractor=extractor.name, resize=extractor.resize_policy,
                            n=args.n)
            result.update(compute_metrics(fake, ref, metrics=sample_metrics, extractor=extractor, n=args.n,
                                          batch_size=args.batch_size, ref_cache=StatisticsCache(), ref_key=key,
                                          progress=not args.quiet))
        if likelihoods:
            likelihood = getattr(run_.family, "likelihood", None)
            if likelihood is None:
                raise ModelInputError(f"the {run_.config.family} family has no likelihood (bpd/nll)")
            name, split = parse_source(ref_spec)
            from genlab.data import load_dataset
            ds = load_dataset(name, split=split, limit=args.n, seed=args.seed)
            result.update(likelihood(run_.models, torch.from_numpy(ds.x), batch_size=args.batch_size,
                                     seed=args.seed, progress=not args.quiet))
        if "modes" in metrics:
            if run_.info.kind != "vector":
                raise ModelInputError("modes (mode coverage) needs a run on a 2-D toy mixture (ring8, grid25); "
                                      "this run generates images")
            from genlab.gan.coverage import run_coverage
            cov = run_coverage(run_, n=args.n, seed=args.seed)
            result.update(modes_covered=cov.modes_covered, num_modes=cov.num_modes,
                          high_quality=round(cov.high_quality, 4))
        tag = "-".join(metrics) + (f"_{Path(args.extractor).stem}" if sample_metrics else "")
        out = Path(args.out) if args.out else run_.path / "eval" / f"{tag}_n{args.n}.json"
    result["seconds"] = round(time.perf_counter() - t0, 2)
    print_table(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"wrote {out}")
    return 0
