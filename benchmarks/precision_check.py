"""bf16 autocast against fp32 on the demo recipe: training-loss curves and sample quality; prints JSON.

Compares two finished `quality_vs_diffusers.py --skip-peer` runs of the same recipe and seed, one in bf16
(the demo's precision) and one in fp32 with the same number of steps, so both see the same batches, t and noise:

    .venv/bin/python benchmarks/quality_vs_diffusers.py --seconds 466 --skip-peer --no-inception --out runs/prec/bf16
    .venv/bin/python benchmarks/quality_vs_diffusers.py --seconds 3000 --skip-peer --no-inception \\
        --out runs/prec/fp32 --set train.precision=fp32 --set train.steps=STEPS_OF_THE_BF16_RUN
    .venv/bin/python benchmarks/precision_check.py runs/prec/bf16 runs/prec/fp32

Noise of a logged loss (a mean over `log_every` steps) is estimated from the fp32 curve itself: the spread of
differences between neighbouring windows in the second half of training, divided by sqrt(2). "Within noise"
means the mean |bf16 - fp32| over those windows is below that spread.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np


def _curve(run: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = [json.loads(line) for line in (run / "genlab" / "log.jsonl").read_text().splitlines() if line.strip()]
    return np.array([r["step"] for r in rows]), np.array([r["loss"] for r in rows])


def compare(bf16: Path, fp32: Path) -> dict:
    steps_a, loss_a = _curve(bf16)
    steps_b, loss_b = _curve(fp32)
    n = min(len(steps_a), len(steps_b))
    if n < 8 or not np.array_equal(steps_a[:n], steps_b[:n]):
        raise SystemExit("error: the two runs must log the same steps (same recipe, log_every and train.steps)")
    late = slice(n // 2, n)
    noise = float(np.std(np.diff(loss_b[late])) / math.sqrt(2))
    gap = np.abs(loss_a[:n] - loss_b[:n])
    qa = json.loads((bf16 / "quality.json").read_text())["genlab"]
    qb = json.loads((fp32 / "quality.json").read_text())["genlab"]
    return {
        "steps": int(steps_a[n - 1]), "log_every": int(steps_a[1] - steps_a[0]),
        "late_window_noise": noise,
        "late_mean_abs_gap": float(gap[late].mean()), "late_max_abs_gap": float(gap[late].max()),
        "within_noise": bool(gap[late].mean() < noise),
        "late_mean_loss": {"bf16": float(loss_a[late].mean()), "fp32": float(loss_b[late].mean())},
        "classifier_fd": {"bf16": qa["classifier_fd"], "fp32": qb["classifier_fd"]},
        "fd_relative_gap": abs(qa["classifier_fd"] - qb["classifier_fd"]) / qb["classifier_fd"],
        "precision_recall": {"bf16": [qa["precision"], qa["recall"]], "fp32": [qb["precision"], qb["recall"]]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bf16", type=Path, help="output folder of the bf16 quality run")
    ap.add_argument("fp32", type=Path, help="output folder of the fp32 quality run with the same steps")
    a = ap.parse_args()
    print(json.dumps(compare(a.bf16, a.fp32), indent=2))


if __name__ == "__main__":
    main()
