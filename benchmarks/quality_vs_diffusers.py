"""Sample quality at equal CPU budget: genlab's demo recipe against HF diffusers' DDPM recipe, same U-Net size.

Both train on MNIST for the same wall-clock seconds on the same machine (one after the other, 2 threads),
then draw --n samples with 50 DDIM steps from their EMA weights. Both sample sets are judged by the same
metrics: Frechet distance and precision/recall on genlab's MNIST-classifier features, the classifier score,
the share of samples the classifier reads as a digit with confidence > 0.9, and the standard FID (Inception)
on the same n. Prints JSON and writes the two 8x8 grids side by side for BENCHMARKS.md.

    .venv/bin/python benchmarks/quality_vs_diffusers.py --seconds 525 --n 1000     # needs `make peer`
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"


def judge(samples: np.ndarray, *, n: int, inception: bool) -> dict[str, float]:
    """The same metrics for any uint8 sample set (n, 1, 28, 28)."""
    from genlab.data import load_dataset
    from genlab.metrics.evaluate import compute_metrics
    from genlab.metrics.features import get_extractor

    ref = load_dataset("mnist", split="test")
    clf = get_extractor("classifier")
    out = compute_metrics(samples, ref, metrics=("fid", "is", "pr"), extractor=clf, n=n, progress=False)
    with torch.no_grad():
        _, logits = clf.features_and_logits(torch.from_numpy(samples[:n]))
    probs = logits.double().softmax(dim=1)
    result = {"classifier_fd": out["fd_classifier"], "classifier_score": out["classifier_score_mean"],
              "precision": out["precision"],
              "recall": out["recall"], "confident_share": float((probs.max(dim=1).values > 0.9).double().mean()),
              "digit_histogram": np.bincount(probs.argmax(dim=1).numpy(), minlength=10).tolist()}
    if inception:
        result["fid_inception"] = compute_metrics(samples, ref, metrics=("fid",), extractor="inception", n=n,
                                                  progress=False)["fid"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=525.0, help="training wall-clock budget of each side")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--out", default="runs/quality")
    ap.add_argument("--no-inception", action="store_true")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override genlab's demo recipe (like `genlab demo --set`), e.g. model.upsample=conv_resize")
    ap.add_argument("--genlab-run", help="judge this finished `genlab demo` run folder instead of training anew")
    a = ap.parse_args()
    from genlab.data import load_dataset, to_uint8
    from genlab.demo import SAMPLING_RESERVE, run_demo
    from genlab.training.run import load_run
    from genlab.viz import save_grid

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"seconds": a.seconds, "n": a.n, "threads": 2,
                                 "date": time.strftime("%Y-%m-%d %H:%M")}
    if not a.skip_peer:
        if not PEER_PYTHON.exists():
            sys.exit("error: the peer venv is missing; run `make peer` first")
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "mnist_train.npz"
            np.savez(data, x=load_dataset("mnist", split="train").x)
            proc = subprocess.run([str(PEER_PYTHON), str(ROOT / "benchmarks" / "peer_diffusers_quality.py"),
                                   "--data", str(data), "--seconds", str(a.seconds), "--n", str(a.n),
                                   "--out", str(out / "diffusers_samples.npz")],
                                  capture_output=True, text=True, check=True)
        peer = json.loads(proc.stdout.strip().splitlines()[-1])
        samples = np.load(out / "diffusers_samples.npz")["x"]
        save_grid(torch.from_numpy(samples[:64]), out / "diffusers_grid.png", nrow=8, scale=2)
        report["diffusers"] = {**peer, **judge(samples, n=a.n, inception=not a.no_inception)}

    if a.genlab_run:
        run_dir = Path(a.genlab_run)
        summary = json.loads((run_dir / "demo_summary.json").read_text())
    else:
        run_dir = out / "genlab"
        summary = run_demo(run_dir, minutes=(a.seconds + SAMPLING_RESERVE) / 60.0,
                           overrides=a.set, progress=False).summary
    run = load_run(run_dir)
    t0 = time.perf_counter()
    samples = torch.cat([to_uint8(run.sample(min(250, a.n - i), seed=100 + i)) for i in range(0, a.n, 250)]).numpy()
    sample_seconds = time.perf_counter() - t0
    save_grid(torch.from_numpy(samples[:64]), out / "genlab_grid.png", nrow=8, scale=2)
    report["genlab"] = {"steps": summary["steps"], "train_seconds": summary["train_seconds"],
                        "images_per_s": summary["train_images_per_s"], "final_loss": summary["final_loss"],
                        "sample_seconds": round(sample_seconds, 1), "samples_per_s": round(a.n / sample_seconds, 2),
                        **judge(samples, n=a.n, inception=not a.no_inception)}
    (out / "quality.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
