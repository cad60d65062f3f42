"""`genlab translate RUN --in IMAGES --out FOLDER`: translate images with a pix2pix or CycleGAN run."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genlab.cli.arguments import nonempty, output_dir, positive_int

EPILOG = """\
IMAGES is a folder of pictures, an .npz with `x` (uint8 images), an .npz with `a` and `b` (pairs: the other
side is the target), or a built-in task (mnist-edges, mnist-half, mnist-lowres, mnist-thick, digits-mnist:
its test split, with targets where the task is paired). Each output is written as a PNG under FOLDER (named
after its input), with grid.png: input | output | target side by side for the first --grid items, and the
PSNR and L1 against the targets printed where there are targets. Images must already have the run's size
and channels. An image-conditioned diffusion run (condition.kind = "image", super-resolution) translates too:
each input is reduced to the run's condition.low_res, as in training, and a sample is drawn from that.

examples:
  genlab translate runs/p2p_edges --in mnist-edges --n 64 --out out/edges
  genlab translate runs/cyc_digits --in digits-mnist --n 64 --out out/digits      # digits -> MNIST
  genlab translate runs/cyc_digits --in my_mnist_pngs/ --direction b2a --out out/back
  genlab translate runs/sr_mnist --in mnist --n 64 --out out/sr    # diffusion super-resolution of 7x7 versions
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("translate", help="translate images with a pix2pix or CycleGAN run", epilog=EPILOG,
                       description="Translate images a -> b (or b -> a) with a trained image-to-image run.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN", help="run folder written by `genlab train pix2pix|cyclegan`, or an "
                   "image-conditioned diffusion run")
    p.add_argument("--in", dest="images", type=nonempty, required=True, metavar="IMAGES",
                   help="folder of images, .npz, or a built-in task (its test split)")
    p.add_argument("--out", type=output_dir, required=True, metavar="FOLDER",
                   help="folder for the translated images (the inputs' names), grid.png (input | output | target) "
                        "and scores.json")
    p.add_argument("--direction", choices=["a2b", "b2a"], default="a2b",
                   help="a2b (default) or b2a (CycleGAN runs translate both ways)")
    p.add_argument("--n", type=positive_int, help="translate only the first N images (default: all)")
    p.add_argument("--grid", type=positive_int, default=48, help="items shown in grid.png (default 48)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="images translated per chunk")
    p.add_argument("--raw", action="store_true", help="use the raw weights instead of their EMA")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genlab.training.run import load_run
    from genlab.translate.writing import translate_to_folder

    run_ = load_run(args.run_dir, ema=not args.raw)
    report = translate_to_folder(run_, args.images, Path(args.out), direction=args.direction, n=args.n,
                                 grid=args.grid, batch_size=args.batch_size)
    print(f"wrote {report['n']} translations ({args.direction}) and {report['grid']} to {args.out}")
    if "psnr" in report:
        print(f"against the targets: PSNR {report['psnr']:.2f} dB, L1 {report['l1']:.4f} (images in [-1, 1])")
    return 0
