"""`genlab inpaint RUN --image X --mask M --method ...`: fill the masked pixels of images with a diffusion run."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from genlab.cli.arguments import add_old_spelling, nonempty, nonnegative_int, output_dir, positive_int

EPILOG = """\
masks: 1 = keep, 0 = fill. A PNG mask of the run's image size: white (grey >= 128) = keep, black = fill.
A named mask says what it fills: center (a central box of half the side), left-half, right-half, top-half,
bottom-half, border (everything outside the central box: uncropping).

methods (network calls per image, N = --sample-steps, default the run's diffusion.sample_steps):
  replace  any pixel-space diffusion run, no training: known pixels replaced by q(x_t|x_0) each step (N calls)
  repaint  replace + RePaint's jumps back (Lugmayr et al. 2022): N + (r-1) j ceil((N-j)/j) calls for
           --jump-length j, --resample r (default 5 and 5: 230 calls at N = 50; --resample 1 is replace)
  palette  a run trained with condition.kind = "masked" (Palette, Saharia et al. 2022), its own sampler (N calls)

examples:
  genlab inpaint runs/mnist --image mnist --mask left-half --method repaint --n 16 --out inpainted/
  genlab inpaint runs/mnist --image digit.png --mask center --method replace --n 8   # 8 fillings of one image
  genlab inpaint runs/mnist --image digits.npz --mask mask.png --method repaint --jump-length 10 --resample 10
  genlab train --config configs/palette_mnist.toml --out runs/palette          # Palette: train with masks...
  genlab inpaint runs/palette --image mnist --mask border --method palette     # ...then inpaint (uncropping)
Writes FOLDER/compare.png (rows: masked input | output | original), FOLDER/inpainted.png (the outputs) and
FOLDER/inpainted.npz (x: outputs, original, mask; uint8). The known pixels of every output are the input's.
"""


def add_parser(sub: Any) -> None:
    from genlab.diffusion.masks import MASK_NAMES

    p = sub.add_parser("inpaint", help="fill masked pixels of images with a diffusion run (replace, RePaint, Palette)",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Inpaint images with a trained diffusion run: the mask's black (0) pixels are "
                                   "filled, its white (1) pixels kept exactly.")
    p.add_argument("run_dir", metavar="RUN", help="run folder written by `genlab train` (a pixel-space diffusion run)")
    p.add_argument("--image", required=True, type=nonempty, metavar="X",
                   help="a PNG/JPEG, a folder of images, an .npz with x, or a built-in image set (its test split)")
    p.add_argument("--mask", required=True, type=nonempty, metavar="M",
                   help=f"a PNG (white = keep) or a named mask: {', '.join(MASK_NAMES)}")
    p.add_argument("--method", choices=["replace", "repaint", "palette"], default="repaint",
                   help="replace, repaint (default) or palette (a run trained with condition.kind = masked)")
    p.add_argument("--sample-steps", dest="steps", type=positive_int, metavar="N",
                   help="visited sampling steps (default: the run's diffusion.sample_steps)")
    add_old_spelling(p, "--steps", dest="steps", type=positive_int)
    p.add_argument("--jump-length", type=positive_int, help="RePaint: steps jumped back each time (default 5)")
    p.add_argument("--resample", type=positive_int, help="RePaint: passes over each jump (default 5; 1 = replace)")
    p.add_argument("--n", type=positive_int, default=16,
                   help="images taken from X (a single image: that many fillings of it); default 16")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the fillings (default 0)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="images filled per chunk")
    p.add_argument("--raw", action="store_true", help="use the raw weights instead of their EMA")
    p.add_argument("--out", type=output_dir, default=None,
                   help="folder for compare.png, inpainted.png and inpainted.npz (default RUN/inpaint)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from genlab.data import to_uint8
    from genlab.diffusion.inpaint import inpaint, load_images, method_options
    from genlab.diffusion.masks import check_known
    from genlab.errors import ModelInputError
    from genlab.training.run import load_run
    from genlab.viz import readable_scale, save_grid, save_strip

    run_ = load_run(args.run_dir, ema=not args.raw)
    if run_.info.kind != "image" or "known" not in run_.family.sample_options:
        raise ModelInputError(f"{args.run_dir} is a '{run_.config.family}' run of {run_.info.kind}s; inpainting "
                              "needs a diffusion run on images")
    kind = getattr(getattr(run_.family, "config", None), "condition", None)
    method_options(getattr(kind, "kind", "none"), args.method, jump_length=args.jump_length,
                   resample=args.resample)                   # a wrong combination fails before loading images
    known, _ = load_images(args.image, tuple(run_.info.shape), n=args.n)
    known, mask = check_known(known, args.mask, tuple(run_.info.shape), len(known))
    x = inpaint(run_, known, mask, method=args.method, seed=args.seed, steps=args.steps,
                jump_length=args.jump_length, resample=args.resample, batch_size=args.batch_size,
                progress=not args.quiet)
    if not bool(x.isfinite().all()):
        raise ModelInputError(f"inpainting with {args.run_dir} gave non-finite values; nothing written")
    out = Path(args.out) if args.out else run_.path / "inpaint"
    out.mkdir(parents=True, exist_ok=True)
    masked = known * mask                                     # unknown pixels shown as mid-grey (0 in [-1, 1])
    scale = readable_scale(x.shape[-2])
    save_strip([torch.stack([m, o, k]) for m, o, k in zip(masked, x, known, strict=True)], out / "compare.png",
               scale=scale, col_labels=["masked", "output", "original"])
    save_grid(x, out / "inpainted.png", scale=scale)
    np.savez_compressed(out / "inpainted.npz", x=to_uint8(x).numpy(), original=to_uint8(known).numpy(),
                        mask=(mask.expand(len(x), -1, -1, -1) > 0.5).numpy().astype(np.uint8))
    print(f"inpainted {len(x)} images ({args.method}); wrote {out / 'compare.png'} (masked input | output | "
          f"original), {out / 'inpainted.png'} and {out / 'inpainted.npz'}")
    return 0
