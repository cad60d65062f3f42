"""`genlab explore RUN WHAT`: pictures and numbers of a trained VAE's latent space
(thin layer over genlab.vae.explore)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from genlab.cli.arguments import add_old_spelling, nonempty, nonnegative_int, output_file, positive_float, positive_int

EPILOG = """\
what:
  samples      decoder means of z ~ N(0, I)                         (--n, --temperature)
  reconstruct  originals above their reconstructions                (--n)
  interpolate  rows a -> b between encoded test items               (--pairs, --points, --slerp)
  traverse     one latent dimension per row, swept over [-s, s]     (--dims, --span, --points, --item)
  manifold     the decoded n x n grid of a 2-D latent               (--n)
  scatter      encoded test items coloured by label                 (--n)
  attribute    items plus the mean-code difference of --label      (--label, --n)
  units        active units (Cov_x E_q[z] > 0.01), printed as JSON
  likelihood   ELBO and IWAE bound in nats per test item, as JSON   (--k, --n)
GAN runs (genlab train gan) offer samples, interpolate (between random latents), and:
  arithmetic   z + s * (mean z of boldest - mean z of thinnest samples), one row per z   (--n, --label)
  classes      a conditional GAN's grid, one row per label, shared latents per column  (--n per row)

examples:
  genlab explore runs/vae_mnist samples --out samples.png
  genlab explore runs/vae_mnist interpolate --slerp --pairs 6 --points 12
  genlab explore runs/vae_mnist_2d manifold --n 20
  genlab explore runs/vae_mnist attribute --label 1
  genlab explore runs/vae_mnist likelihood --k 50
Pictures go to RUN/explore/WHAT.png unless --out is given; items come from the run's test split (or --data).
"""

WHATS = ("samples", "reconstruct", "interpolate", "traverse", "manifold", "scatter", "attribute", "units",
         "likelihood", "arithmetic", "classes")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("explore", help="latent-space pictures and likelihoods of a VAE run", epilog=EPILOG,
                       description="Explore a trained VAE (or plain autoencoder) run: samples, reconstructions, "
                                   "interpolations, traversals, the 2-D manifold, label scatter, attribute vectors, "
                                   "active units and ELBO/IWAE nats.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN", help="run folder written by `genlab train vae` (or `ae`)")
    p.add_argument("what", choices=WHATS, metavar="WHAT", help=" | ".join(WHATS))
    p.add_argument("--out", type=output_file,
                   help="picture to write (default RUN/explore/WHAT.png; units and likelihood print JSON instead)")
    p.add_argument("--n", type=positive_int, help="how many items (samples 64, reconstruct 16, manifold 20 per side, "
                                         "scatter 5000, attribute 6, likelihood: all test items)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="which items and which noise (default 0)")
    p.add_argument("--data", type=nonempty, help="dataset to take items from (default: the run's own, test split)")
    p.add_argument("--split", choices=["train", "test"], default="test",
                   help="which split items come from (default test)")
    p.add_argument("--temperature", type=positive_float, default=1.0, help="samples: prior standard deviation")
    p.add_argument("--pairs", type=positive_int, default=4, help="interpolate: number of rows")
    p.add_argument("--points", dest="steps", type=positive_int, metavar="N",
                   help="interpolate/traverse: points along each row (default 10 / 9)")
    add_old_spelling(p, "--steps", dest="steps", type=positive_int)
    p.add_argument("--slerp", action="store_true", help="interpolate: spherical instead of linear path")
    p.add_argument("--dims", type=nonnegative_int, nargs="+",
                   help="traverse: latent dimensions (default: the 10 most active)")
    p.add_argument("--span", type=positive_float, default=3.0,
                   help="traverse: sweep each coordinate over [-span, span]")
    p.add_argument("--item", type=nonnegative_int, help="traverse: index of the item whose code is held fixed")
    p.add_argument("--label", type=nonnegative_int, help="attribute: the label whose vector is added")
    p.add_argument("--k", type=positive_int, default=50, help="likelihood: importance samples of the IWAE bound")
    p.add_argument("--scale", type=positive_int, help="enlarge pictures this many times, nearest neighbour (default: "
                                                       "to at least 56 px, e.g. 2 for MNIST)")
    p.add_argument("--raw", action="store_true", help="use the raw weights instead of their EMA")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genlab.errors import ConfigError
    from genlab.training.run import load_run
    from genlab.vae import explore
    from genlab.vae.likelihood import evaluate_likelihood
    from genlab.vae.runs import as_vae_run
    from genlab.viz import readable_scale

    loaded = load_run(args.run_dir, ema=not args.raw)
    if args.scale is None:
        args.scale = readable_scale(loaded.info.shape[-2] if loaded.info.kind == "image" else 1)
    if loaded.config.family == "gan":
        from genlab.gan.explore import explore_command
        return explore_command(loaded, args)
    run_ = as_vae_run(loaded)
    what = args.what
    common = dict(split=args.split, data=args.data)
    if what in ("units", "likelihood"):
        if what == "units":
            result = explore.run_active_units(run_, **common)
        else:
            result = evaluate_likelihood(run_, args.data, k=args.k, n=args.n, seed=args.seed, split=args.split,
                                         progress=True)
        print(json.dumps(result))
        return 0
    out = Path(args.out) if args.out else run_.path / "explore" / f"{what}.png"
    n = {} if args.n is None else {"n": args.n}
    scale = {"scale": args.scale} if what != "scatter" else {}
    if what == "samples":
        path = explore.save_prior_samples(run_, out, seed=args.seed, temperature=args.temperature, **n, **scale)
    elif what == "reconstruct":
        path = explore.save_reconstructions(run_, out, seed=args.seed, **common, **n, **scale)
    elif what == "interpolate":
        path = explore.save_interpolation(run_, out, pairs=args.pairs, steps=args.steps or 10,
                                          method="slerp" if args.slerp else "linear", seed=args.seed, **common, **scale)
    elif what == "traverse":
        path = explore.save_traversal(run_, out, dims=args.dims, span=args.span, steps=args.steps or 9,
                                      item=args.item, seed=args.seed, **common, **scale)
    elif what == "manifold":
        path = explore.save_manifold(run_, out, **n, **scale)
    elif what == "scatter":
        path = explore.save_scatter(run_, out, **common, **n)
    else:
        if args.label is None:
            raise ConfigError("attribute needs --label, e.g. --label 1 (the label whose mean code is added)")
        path = explore.save_attribute(run_, out, label=args.label, seed=args.seed, **common, **n, **scale)
    print(f"wrote {path}")
    return 0
