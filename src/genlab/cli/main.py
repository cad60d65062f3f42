"""`genlab`: the command line. Each command is a thin layer over a library function of the same name."""
from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

DESCRIPTION = """\
genlab trains, samples, evaluates and compares deep generative models (DDPM/DDIM diffusion, VAEs, GANs)
on a CPU or many GPUs. Start with `genlab demo`: it trains a diffusion model on MNIST in about ten minutes
and writes pictures of what it learned.

examples:
  genlab demo                                         # train + sample on MNIST, bounded to ~10 min
  genlab datasets                                     # what data is available offline, and from where
  genlab train ddpm --data mnist --steps 3000 --out runs/mnist
  genlab train ddpm --config configs/ddpm_mnist.toml --set train.precision=bf16 --set diffusion.schedule=cosine
  genlab sample runs/mnist --n 64 --sampler ddim --sample-steps 50 --eta 0 --out grid.png
  genlab inpaint runs/mnist --image mnist --mask left-half --method repaint --out inpainted/
  genlab distill runs/mnist --to-steps 4 --out runs/mnist_4    # a 4-step student (progressive distillation)
  genlab train pix2pix --config configs/pix2pix_edges.toml --out runs/p2p       # image-to-image (also cyclegan)
  genlab translate runs/p2p --in mnist-edges --n 64 --out out/edges
  genlab info runs/mnist                              # family, data, steps, checkpoints, precision, evals
  genlab report runs/mnist runs/demo --out report.html  # curves, grids, evals: one self-contained page
  torchrun --nproc_per_node 2 -m genlab.cli.main train ddpm --data mnist --out runs/ddp
"""


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from genlab import __version__
    from genlab.cli import (compare, datasets, demo, distill, eval, explore, info, inpaint, report, sample,
                            train, translate)
    from genlab.cli.arguments import Parser

    parser = Parser(prog="genlab", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"genlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (train, sample, translate, inpaint, eval, explore, distill, compare, report, info, datasets,
                   demo):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `genlab` script: bad input ends with a one-line `error:` and exit status 2.

    Imports happen in here too, so Ctrl-C at any moment (even while torch loads) prints one line and exits 130.
    """
    try:
        return _parse_and_run(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


LIGHT_COMMANDS = frozenset({"info", "datasets", "report"})
"""Commands that run no network: they skip the thread choice (a 0.2 s look at the machine's load)."""


def _parse_and_run(argv: Sequence[str] | None) -> int:
    """Parse the command line and run the command; GenlabError becomes one `error:` line and status 2."""
    from genlab.errors import GenlabError

    try:
        args = build_parser().parse_args(argv)
        if args.command not in LIGHT_COMMANDS:
            from genlab.nn.runtime import tune_cpu
            tune_cpu()  # threads for the cores this process may use; keep freed activations (+16% sampling)
        return int(args.run(args) or 0)
    except GenlabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
