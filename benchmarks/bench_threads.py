"""Training throughput of the demo's network (configs/ddpm_mnist.toml) by process layout and precision; prints JSON.

Each measurement is a real `genlab train` run (the loop, data, optimiser, EMA) of --steps steps; its rate is
the median images/s of the log windows after the first (which pays kernel selection and warm-up). Layouts:
one process with the default threads (the cores it may use: 2 on a 2-core machine) against two data-parallel
processes (torchrun, gloo) with the default threads (1 each: the cores split among the local ranks), the
global batch the same (128); precisions fp32, bf16 and auto (what this machine resolves to).

    .venv/bin/python benchmarks/bench_threads.py                       # 3 repeats, about 15 min on 2 cores
    .venv/bin/python benchmarks/bench_threads.py --repeats 1 --steps 20   # a smoke test
    .venv/bin/python benchmarks/bench_threads.py --busy 2 --steps 16 --log-every 4   # beside 2 busy loops
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    return sorted(set(re.findall(r"\b(avx512_bf16|amx_bf16|avx2)\b", text)))


def measure(*, processes: int, precision: str, steps: int, log_every: int, threads: int | None = 0) -> dict:
    """One training run; its steady images/s (median of the log windows after the first) and its wall time.
    threads: per process; 0 = one process with every core (as GENLAB_THREADS), None = genlab's own default."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        args = ["train", "--config", str(ROOT / "configs" / "ddpm_mnist.toml"), "--out", str(out), "--quiet",
                "--steps", str(steps), "--precision", precision,
                "--set", f"train.log_every={log_every}", "--set", "train.checkpoint_every=1000000",
                "--set", "train.sample_every=0", "--set", "train.sample_n=1", "--set", "diffusion.sample_steps=1"]
        if processes == 1:
            cmd = [sys.executable, "-m", "genlab.cli.main", *args]
        else:
            cmd = [str(BIN / "torchrun"), "--nproc_per_node", str(processes), "--master_port", _free_port(),
                   "-m", "genlab.cli.main", *args]
        env = {k: v for k, v in os.environ.items() if k not in ("GENLAB_THREADS", "OMP_NUM_THREADS")}
        env["PYTHONPATH"] = str(ROOT / "src")
        if processes == 1 and threads is not None:
            env["GENLAB_THREADS"] = str(threads or _cores())
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"benchmark run failed ({' '.join(cmd[:4])} ...): {proc.stderr.strip()[-1500:]}")
        rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
        record = json.loads((out / "config.json").read_text())["genlab"]
    rates = [r["items_per_s"] for r in rows[1:]] or [rows[-1]["items_per_s"]]
    return {"images_per_s": round(statistics.median(rates), 1), "wall_s": round(wall, 1),
            "precision": record["precision"]["reason"], "threads": record.get("hardware", {}).get("threads")}


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def busy_machine(jobs: int, repeats: int, steps: int, log_every: int) -> dict:
    """Training beside `jobs` single-thread busy loops: every core, one thread, and genlab's default (which looks
    at the load when it starts), interleaved; median images/s of each."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(jobs)]
    try:
        time.sleep(2.0)
        cases = {"all_cores": 0, "one_thread": 1, "genlab_default": None}
        runs: dict[str, list[dict]] = {name: [] for name in cases}
        for _ in range(repeats):
            for name, threads in cases.items():
                runs[name].append(measure(processes=1, precision="auto", steps=steps, log_every=log_every,
                                          threads=threads))
    finally:
        for b in burners:
            b.kill()
    return {name: {"median_images_per_s": statistics.median(r["images_per_s"] for r in rs),
                   "images_per_s": [r["images_per_s"] for r in rs], "wall_s": [r["wall_s"] for r in rs],
                   "threads": [r["threads"] for r in rs]} for name, rs in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--log-every", type=int, default=8)
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument("--busy", type=int, default=0, metavar="K",
                    help="instead: train beside K single-thread busy loops (all cores, 1 thread, genlab's default)")
    a = ap.parse_args()
    if a.busy:
        result = {"busy_jobs": a.busy, "cores": _cores(), "flags": _cpu_flags(), "steps": a.steps,
                  "repeats": a.repeats, "results": busy_machine(a.busy, a.repeats, a.steps, a.log_every)}
        print(json.dumps(result, indent=2))
        if a.out:
            a.out.write_text(json.dumps(result, indent=2) + "\n")
        return
    cases = [("1x2_fp32", 1, "fp32"), ("1x2_bf16", 1, "bf16"), ("1x2_auto", 1, "auto"),
             ("2x1_fp32", 2, "fp32"), ("2x1_auto", 2, "auto")]
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in cases}
    for _ in range(a.repeats):                  # interleaved, so a load change falls on every case alike
        for name, processes, precision in cases:
            runs[name].append(measure(processes=processes, precision=precision, steps=a.steps,
                                      log_every=a.log_every))
    results = {name: {"median_images_per_s": statistics.median(r["images_per_s"] for r in rs),
                      "images_per_s": [r["images_per_s"] for r in rs], "precision": rs[0]["precision"]}
               for name, rs in runs.items()}
    report = {
        "machine": {"cpu": platform.processor() or platform.machine(), "flags": _cpu_flags(),
                    "cores": _cores(),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "config": "configs/ddpm_mnist.toml (mnist-1m-efficient U-Net, global batch 128)",
        "steps": a.steps, "log_every": a.log_every, "repeats": a.repeats, "results": results,
        "ratios": {
            "2x1_vs_1x2_fp32": round(results["2x1_fp32"]["median_images_per_s"]
                                     / results["1x2_fp32"]["median_images_per_s"], 2),
            "2x1_vs_1x2_auto": round(results["2x1_auto"]["median_images_per_s"]
                                     / results["1x2_auto"]["median_images_per_s"], 2),
            "bf16_vs_fp32_1x2": round(results["1x2_bf16"]["median_images_per_s"]
                                      / results["1x2_fp32"]["median_images_per_s"], 2),
        },
    }
    text = json.dumps(report, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
