"""`genlab train FAMILY`: build a run config from defaults, a TOML file, flags and --set overrides, then train."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genlab.cli.arguments import (nonempty, nonnegative_float, nonnegative_int, output_dir, positive_float,
                                   positive_int)
from genlab.config import RunConfig, apply_overrides, load_toml, run_config_from_dict, set_value
from genlab.errors import ConfigError
from genlab.families import family_names

EPILOG = """\
Settings are layered: the family's defaults, then --config FILE (TOML with [data], [train] and the family's
sections, e.g. [model] and [diffusion] for ddpm), then the shortcut flags, then each --set section.key=value.
An unknown key is an error that lists the valid ones. Running the same command again on the same --out
resumes from the last checkpoint at the exact step; Ctrl-C saves a checkpoint before exiting.

examples:
  genlab train ddpm --data mnist --steps 3000 --out runs/mnist
  genlab train ddpm --data ring8 --steps 2000 --out runs/ring      # vectors: an MLP denoiser
  genlab train ddpm --config configs/ddpm_mnist.toml --set train.precision=bf16 --set train.lr=1e-3
  genlab train ddpm --data mnist --set condition.kind=class --out runs/cfg   # classifier-free guidance
  genlab train vae --data mnist --tracker tensorboard --out runs/vae  # then: tensorboard --logdir runs
  genlab train ldm --data mnist --autoencoder runs/ldm_ae --out runs/ldm    # latent diffusion
  genlab train pix2pix --data mnist-edges --set train.warmup_steps=0 --out runs/p2p   # paired: edges -> digit
  genlab train cyclegan --config configs/cyclegan_digits.toml --out runs/cyc   # unpaired: digits <-> MNIST
  genlab train cyclegan --data-a photos/ --data-b paintings/ --set data.image_size=64 --out runs/cyc2
Image-to-image data (pix2pix, cyclegan): --data names a built-in task (see `genlab datasets`) or an .npz with
arrays a and b; or --data-a A --data-b B name the two sides (folders with the same file names are paired).
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train a model (ddpm, ...) into a run folder",
                       description="Train a generative model into a run folder (config, checkpoints, log, samples).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("family", nargs="?", help=f"model family: {', '.join(family_names())} (or from --config)")
    p.add_argument("--config", type=nonempty, help="TOML config file")
    p.add_argument("--data", type=nonempty, help="dataset: a built-in name (see `genlab datasets`) or a path")
    p.add_argument("--data-a", type=nonempty, metavar="SOURCE", help="image-to-image: the a side (data.name)")
    p.add_argument("--data-b", type=nonempty, metavar="SOURCE", help="image-to-image: the b side (data.b)")
    p.add_argument("--steps", type=positive_int, help="optimiser steps (train.steps)")
    p.add_argument("--batch-size", type=positive_int, help="global batch size (train.batch_size)")
    p.add_argument("--lr", type=positive_float, help="peak learning rate (train.lr)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], help="bf16 autocast, fp32, or auto: bf16 where "
                   "the CPU/GPU has native bf16, fp32 for vector data (train.precision, default auto)")
    p.add_argument("--time-budget", type=nonnegative_float, metavar="SECONDS",
                   help="stop cleanly (checkpoint saved) after this many seconds, wall or CPU as --budget-clock "
                        "says (train.time_budget; 0: no limit)")
    p.add_argument("--budget-clock", choices=["wall", "cpu"],
                   help="what --time-budget counts: wall seconds (default) or this process's CPU seconds")
    p.add_argument("--seed", type=nonnegative_int, help="seed of everything random (train.seed)")
    p.add_argument("--autoencoder", type=nonempty, metavar="RUN",
                   help="ldm, vdm: the trained conv_map VAE run (latent.autoencoder)")
    p.add_argument("--arch", help="network: unet|mlp (ddpm), mlp|conv (vae), dcgan|mlp (gan) (model.arch)")
    p.add_argument("--loss", help="gan: minimax|nonsaturating|wgan-gp|lsgan|hinge (gan.loss)")
    p.add_argument("--tracker", choices=["none", "tensorboard"],
                   help="tensorboard: also write TensorBoard events to OUT/tensorboard (train.tracker; needs "
                        "genlab[tensorboard])")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set diffusion.schedule=cosine (repeatable)")
    p.add_argument("--out", type=output_dir, required=True, help="run folder to create, or to resume")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Layer defaults < --config < flags < --set into a checked RunConfig."""
    values: dict[str, Any] = load_toml(args.config) if args.config else {}
    family = args.family or values.get("family")
    if family is None:
        raise ConfigError(f"name a family (one of: {', '.join(family_names())}) or give --config with family = ...")
    if args.family and values.get("family") not in (None, args.family):
        raise ConfigError(f"--config {args.config} is for family '{values['family']}', not '{args.family}'")
    values["family"] = family
    if args.data is not None and args.data_a is not None:
        raise ConfigError("give --data or --data-a (the a side), not both")
    flags = {"data.name": args.data if args.data is not None else args.data_a, "data.b": args.data_b,
             "train.steps": args.steps, "train.batch_size": args.batch_size,
             "train.lr": args.lr, "train.precision": args.precision, "train.time_budget": args.time_budget,
             "train.budget_clock": args.budget_clock,
             "train.seed": args.seed, "latent.autoencoder": args.autoencoder,
             "model.arch": args.arch, "gan.loss": args.loss, "train.tracker": args.tracker}
    for key, value in flags.items():
        if value is not None:
            set_value(values, key, value)
    values = apply_overrides(values, list(args.set))
    return run_config_from_dict(values)


STOPPED = {"done": "trained to", "time_budget": "time budget: stopped at", "interrupted": "Ctrl-C: stopped at"}


def run(args: argparse.Namespace) -> int:
    from genlab.training.loop import train

    config = config_from_args(args)
    result = train(config, Path(args.out), progress=not args.quiet)
    if result.main_process and config.family == "classifier":
        from genlab.classifier.export import export_classifier
        weights = Path(args.out) / "mnist_classifier.safetensors"
        info = export_classifier(args.out, weights)
        print(f"test accuracy {info['test_accuracy']:.4f}; weights for `--extractor {weights}` written to {weights}")
    if result.main_process and not (result.stopped == "done" and result.items_per_s == 0):  # 0: already complete
        tc = config.train
        clock = f" wall (budget {tc.time_budget:g} CPU-seconds)" if tc.budget_clock == "cpu" and tc.time_budget else ""
        print(f"{result.run_dir}: {STOPPED[result.stopped]} step {result.step} of {tc.steps} in "
              f"{result.seconds:.0f} s{clock}, {result.items_per_s:.0f} items/s, last loss {result.last_loss:.4g}")
        if result.stopped != "done":
            print("checkpoint saved; run the same command again to resume")
    return 130 if result.stopped == "interrupted" else 0
