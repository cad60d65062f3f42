"""Bad input, careless or hostile: every case ends in one `error:` line and exit status 2 (130 for Ctrl-C), never a
traceback, never a wrong exit 0. A table of (command, bad input, expected error) run through the CLI's main in-process
on a tiny toy run built once; plus the checkpoint invariants (stale temporaries, log rows, finite weights) and a
slow SIGKILL-and-resume check of bit-exact resume."""
from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from genlab.cli.main import main
from genlab.errors import TrainingError
from genlab.training import session as session_module
from genlab.training.checkpoint import latest_checkpoint, save_checkpoint

# A tiny DDPM on the ring of 8 Gaussians: an MLP denoiser, a short chain, two steps, a checkpoint each step.
TINY = ["--set", "model.hidden=16", "--set", "model.layers=2", "--set", "diffusion.T=20",
        "--set", "diffusion.sample_steps=4", "--set", "train.checkpoint_every=1", "--set", "train.log_every=1",
        "--set", "data.limit=64", "--set", "train.threads=1", "--set", "train.warmup_steps=0",
        "--batch-size", "16", "--quiet"]
TRAIN = ["train", "ddpm", "--data", "ring8", *TINY]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    """(exit status, stderr lines, stdout) of one in-process call of genlab's main."""
    try:
        code = main(argv)
    except SystemExit as exit_:                  # argparse: --help, and our one-line parse errors
        code = int(exit_.code or 0)
    out = capsys.readouterr()
    return code, out.err.strip().splitlines(), out.out


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained two-step toy run, shared by the module (copy it before damaging it)."""
    run = tmp_path_factory.mktemp("base") / "ring"
    assert main([*TRAIN, "--steps", "2", "--out", str(run)]) == 0
    assert latest_checkpoint(run).name == "step_0000002"
    return run


# --- setups: each damages a copy of the run (or makes a bad file) and returns the names used in argv ----------

Setup = Callable[[Path, Path], None]


def _copy(ring: Path, tmp: Path) -> Path:
    shutil.copytree(ring, tmp / "run", symlinks=True)
    return tmp / "run"


def _edit_config(edit: Callable[[dict], None]) -> Setup:
    def setup(ring: Path, tmp: Path) -> None:
        path = _copy(ring, tmp) / "config.json"
        record = json.loads(path.read_text())
        edit(record)
        path.write_text(json.dumps(record))
    return setup


def _write(name: str, data: bytes | str | Callable[[Path], None]) -> Setup:
    """Replace a file of the newest checkpoint (trainer.json, optimizer.pt, ...) or of the run."""
    def setup(ring: Path, tmp: Path) -> None:
        run = _copy(ring, tmp)
        path = run / name if "/" in name else latest_checkpoint(run) / name
        if callable(data):
            data(path)
        elif isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    return setup


def _remove(name: str) -> Setup:
    def setup(ring: Path, tmp: Path) -> None:
        (latest_checkpoint(_copy(ring, tmp)) / name).unlink()
    return setup


class _Exploit:
    """A pickle that would run a shell command if unpickled without restrictions."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/genlab-pwned",))


def _malicious(path: Path) -> None:
    torch.save({"denoise": {"state": _Exploit()}}, path)


def _torch_bytes() -> bytes:
    """A valid torch.save file of an optimizer-like table, as bytes."""
    import io
    buf = io.BytesIO()
    torch.save({"denoise": {"state": {}, "param_groups": []}}, buf)
    return buf.getvalue()


def _nan_weights(ring: Path, tmp: Path) -> None:
    path = latest_checkpoint(_copy(ring, tmp)) / "weights.safetensors"
    tensors = load_file(str(path))
    meta = {"format": "genlab-checkpoint", "version": "1", "family": "ddpm", "step": "2"}
    save_file({k: torch.full_like(v, float("nan")) for k, v in tensors.items()}, str(path), metadata=meta)


def _as_ldm(run: Path, autoencoder: Path) -> None:
    """Turn a copied ddpm run into an ldm run whose latent.autoencoder is `autoencoder`."""
    record = json.loads((run / "config.json").read_text())
    record["config"]["family"] = "ldm"
    record["config"]["latent"] = {"autoencoder": str(autoencoder), "scale_factor": 1.0, "posterior": "sample"}
    (run / "config.json").write_text(json.dumps(record))
    path = latest_checkpoint(run) / "weights.safetensors"
    save_file(load_file(str(path)), str(path), metadata={"format": "genlab-checkpoint", "family": "ldm", "step": "2"})


def _ldm_self(ring: Path, tmp: Path) -> None:
    run = _copy(ring, tmp)
    _as_ldm(run, run)


def _ldm_cycle(ring: Path, tmp: Path) -> None:
    a, b = _copy(ring, tmp), tmp / "other"
    shutil.copytree(a, b)
    _as_ldm(a, b)
    _as_ldm(b, a)


def _latest_outside(ring: Path, tmp: Path) -> None:
    (_copy(ring, tmp) / "checkpoints" / "latest").write_text("../../outside\n")


def _step_link_outside(ring: Path, tmp: Path) -> None:
    run = _copy(ring, tmp)
    outside = tmp / "outside"
    shutil.move(str(latest_checkpoint(run)), outside)
    (run / "checkpoints" / "step_0000002").symlink_to(outside, target_is_directory=True)


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height grey pixels (the pixel data is one empty row)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def _bomb_folder(ring: Path, tmp: Path) -> None:
    (tmp / "bombs").mkdir()
    (tmp / "bombs" / "a.png").write_bytes(_png_claiming(30000, 30000))
    (tmp / "bomb.png").write_bytes(_png_claiming(30000, 30000))


def _a_file(ring: Path, tmp: Path) -> None:
    (tmp / "file").write_text("not a folder\n")


def _ddgan_run(ring: Path, tmp: Path) -> None:
    """A one-step denoising diffusion GAN run on the toy ring at {run}."""
    assert main(["train", "ddgan", "--data", "ring8", "--steps", "1", "--batch-size", "16", "--quiet",
                 "--set", "model.hidden=16", "--set", "model.layers=1", "--set", "data.limit=32",
                 "--set", "train.threads=1", "--out", str(tmp / "run")]) == 0


# (id, argv ({ring}: the shared run, {run}: the damaged copy, {tmp}: this case's folder), setup, expected text)
CASES: list[tuple[str, list[str], Setup | None, str]] = [
    # --- train options -------------------------------------------------------------------------------------
    ("steps-negative", [*TRAIN, "--steps", "-5", "--out", "{tmp}/r"], None,
     "argument --steps: expected an integer >= 1"),
    ("steps-zero", [*TRAIN, "--steps", "0", "--out", "{tmp}/r"], None, "--steps: expected an integer >= 1, got '0'"),
    ("steps-word", [*TRAIN, "--steps", "many", "--out", "{tmp}/r"], None, "got 'many'"),
    ("lr-nan", [*TRAIN, "--lr", "nan", "--out", "{tmp}/r"], None, "--lr: expected a finite number > 0, got 'nan'"),
    ("lr-negative", [*TRAIN, "--lr", "-1", "--out", "{tmp}/r"], None, "--lr: expected a finite number > 0"),
    ("lr-inf", [*TRAIN, "--lr", "inf", "--out", "{tmp}/r"], None, "got 'inf'"),
    ("batch-zero", [*TRAIN, "--batch-size", "0", "--out", "{tmp}/r"], None, "--batch-size: expected an integer >= 1"),
    ("time-budget-negative", [*TRAIN, "--time-budget", "-1", "--out", "{tmp}/r"], None, "--time-budget"),
    ("seed-negative", [*TRAIN, "--seed", "-1", "--out", "{tmp}/r"], None, "--seed: expected an integer >= 0"),
    ("out-empty", [*TRAIN, "--out", ""], None, "--out: expected a folder, got ''"),
    ("out-is-a-file", [*TRAIN, "--out", "{tmp}/file"], _a_file, "is a file; expected a folder"),
    ("out-under-a-file", [*TRAIN, "--out", "{tmp}/file/run"], _a_file, "is a file, not a folder"),
    ("out-read-only", [*TRAIN, "--out", "/proc/genlab-run/r"], None, "is not writable"),
    ("data-empty", ["train", "ddpm", "--data", "", "--out", "{tmp}/r"], None, "--data: expected a non-empty value"),
    ("data-missing", ["train", "ddpm", "--data", "{tmp}/none.npz", "--out", "{tmp}/r"], None, "no such file"),
    ("precision-unknown", [*TRAIN, "--precision", "fp16", "--out", "{tmp}/r"], None, "invalid choice: 'fp16'"),
    ("no-family", ["train", "--out", "{tmp}/r"], None, "name a family"),
    ("data-bomb", ["train", "ddpm", "--data", "{tmp}/bombs", "--out", "{tmp}/r", "--quiet"], _bomb_folder,
     "decompression bomb"),
    # --- config values (--set) ---------------------------------------------------------------------------------
    *[(f"set-{key}={value}", [*TRAIN, "--set", f"{key}={value}", "--out", "{tmp}/r"], None, text)
      for key, value, text in [
        ("train.checkpoint_every", "0", "'train.checkpoint_every' = 0: expected a number >= 1"),
        ("train.log_every", "0", "'train.log_every' = 0: expected a number >= 1"),
        ("train.grad_accum", "0", "'train.grad_accum' = 0"),
        ("train.threads", "-1", "'train.threads' = -1: expected a number >= 0"),
        ("train.ema_decay", "nan", "'train.ema_decay' = nan: expected a finite number"),
        ("train.ema_decay", "1.0", "'train.ema_decay' = 1.0: expected a number >= 0 and < 1"),
        ("train.lr", "-0.1", "'train.lr' = -0.1: expected a number > 0"),
        ("train.lr", "true", "'train.lr' = True: expected float"),
        ("train.sample_n", "0", "'train.sample_n' = 0"),
        ("train.keep_checkpoints", "0", "'train.keep_checkpoints' = 0"),
        ("train.time_budget", "inf", "'train.time_budget' = inf: expected a finite number"),
        ("train.steps", "-5", "'train.steps' = -5: expected a number >= 0"),
        ("train.steps", "'many'", "'train.steps' = 'many': expected int"),
        ("train.grad_clip", "-1", "'train.grad_clip' = -1.0"),
        ("data.image_size", "100000", "'data.image_size' = 100000: expected a number >= 1 and <= 1024"),
        ("data.limit", "0", "'data.limit' = 0: expected a number >= 1"),
        ("data.split", "valid", "'data.split' = 'valid': expected one of 'train', 'test'"),
        ("model.heads", "0", "'model.heads' = 0: expected a number >= 1"),
        ("model.dropout", "2", "'model.dropout' = 2.0: expected a number >= 0 and < 1"),
        ("model.channels", "[32, -1]", "'model.channels' = [32, -1]: expected each item >= 1"),
        ("model.hidden", "0", "'model.hidden' = 0"),
        ("diffusion.sample_steps", "0", "'diffusion.sample_steps' = 0: expected a number >= 1 and <= diffusion.T"),
        ("diffusion.sample_steps", "500",
         "'diffusion.sample_steps' = 500: expected a number >= 1 and <= diffusion.T = 20"),
        ("diffusion.eta", "-1", "'diffusion.eta' = -1.0: expected a number >= 0"),
        ("diffusion.T", "0", "'diffusion.T' = 0"),
        ("condition.label_dropout", "1", "'condition.label_dropout' = 1.0"),
        ("condition.guidance", "nan", "'condition.guidance' = nan"),
    ]],
    ("batch-not-divisible", [*TRAIN, "--set", "train.grad_accum=3", "--out", "{tmp}/r"], None,
     "must be divisible by grad_accum"),
    ("gan-d-steps", ["train", "gan", "--data", "ring8", "--set", "gan.d_steps=0", "--out", "{tmp}/r"], None,
     "'gan.d_steps' = 0"),
    ("gan-betas", ["train", "gan", "--data", "ring8", "--set", "gan.betas=[0.5, 1.5]", "--out", "{tmp}/r"], None,
     "'gan.betas' = [0.5, 1.5]: expected each item >= 0 and < 1"),
    ("gan-d-lr-zero", ["train", "gan", "--data", "ring8", "--set", "gan.d_lr=0", "--out", "{tmp}/r"], None,
     "'gan.d_lr' = 0.0: expected a number > 0"),
    ("ddgan-T-one", ["train", "ddgan", "--data", "ring8", "--set", "ddgan.T=1", "--out", "{tmp}/r"], None,
     "'ddgan.T' = 1: expected a number >= 2 and <= 64"),
    ("ddgan-beta-max-below-min",
     ["train", "ddgan", "--data", "ring8", "--set", "ddgan.beta_max=0.05", "--out", "{tmp}/r"], None,
     "'ddgan.beta_max' = 0.05: expected a number > ddgan.beta_min = 0.1"),
    ("ddgan-conv-on-vectors", ["train", "ddgan", "--data", "ring8", "--set", "model.arch=conv", "--out", "{tmp}/r"],
     None, "model.arch = 'conv' needs images"),
    ("ddgan-lr", ["train", "ddgan", "--data", "ring8", "--lr", "0.1", "--out", "{tmp}/r"], None,
     "set ddgan.g_lr and ddgan.d_lr"),
    ("vae-c-zero", ["train", "vae", "--data", "ring8", "--set", "vae.c=0", "--out", "{tmp}/r"], None,
     "'vae.c' = 0.0: expected a number > 0"),
    ("vae-latent-zero", ["train", "vae", "--data", "ring8", "--set", "model.latent_dim=0", "--out", "{tmp}/r"], None,
     "'model.latent_dim' = 0"),
    ("vae-beta-negative", ["train", "vae", "--data", "ring8", "--set", "vae.beta=-1", "--out", "{tmp}/r"], None,
     "'vae.beta' = -1.0"),
    ("ldm-scale-negative", ["train", "ldm", "--data", "ring8", "--set", "latent.scale_factor=-1", "--out", "{tmp}/r"],
     None, "'latent.scale_factor' = -1.0"),
    # --- sample ------------------------------------------------------------------------------------------------
    ("sample-steps-zero", ["sample", "{ring}", "--sample-steps", "0"], None,
     "--sample-steps: expected an integer >= 1, got '0'"),
    ("sample-n-zero", ["sample", "{ring}", "--n", "0"], None, "--n: expected an integer >= 1"),
    ("sample-guidance-nan", ["sample", "{ring}", "--guidance", "nan"], None, "--guidance: expected a finite number"),
    ("sample-guidance-inf", ["sample", "{ring}", "--guidance", "inf"], None, "--guidance: expected a finite number"),
    ("sample-guidance-unconditional", ["sample", "{ring}", "--guidance", "2", "--out", "{tmp}/s.png"], None,
     "--guidance needs a conditional run"),
    ("sample-eta-nan", ["sample", "{ring}", "--eta", "nan"], None, "--eta: expected a finite number >= 0"),
    ("sample-batch-zero", ["sample", "{ring}", "--batch-size", "0"], None, "--batch-size: expected an integer >= 1"),
    ("sample-seed-negative", ["sample", "{ring}", "--seed", "-3"], None, "--seed: expected an integer >= 0"),
    ("sample-out-is-folder", ["sample", "{ring}", "--out", "{tmp}"], None, "is a folder; expected a file name"),
    ("sample-npz-under-file", ["sample", "{ring}", "--npz", "{tmp}/file/s.npz"], _a_file, "is a file, not a folder"),
    ("sample-out-empty", ["sample", "{ring}", "--out", ""], None, "--out: expected a file name, got ''"),
    ("sample-low-res-bomb", ["sample", "{ring}", "--low-res", "{tmp}/bomb.png"], _bomb_folder, "bomb.png"),
    ("sample-low-res-missing", ["sample", "{ring}", "--low-res", "{tmp}/none.png"], None, "none.png not found"),
    ("sample-nan-weights", ["sample", "{run}", "--n", "4", "--out", "{tmp}/s.png"], _nan_weights, "non-finite"),
    ("sample-ddgan-sampler", ["sample", "{run}", "--sampler", "dpmpp_2m"], _ddgan_run,
     "--sampler does not apply to {run}, a 'ddgan' run (it samples with its own T-step chain; it takes: --precision)"),
    ("sample-ddgan-label", ["sample", "{run}", "--label", "3"], _ddgan_run,
     "(it needs a class-conditional model; it takes: --precision)"),
    ("sample-missing-run", ["sample", "{tmp}/nothing"], None, "does not exist"),
    ("translate-ddpm-run", ["translate", "{ring}", "--in", "mnist-edges", "--out", "{tmp}/t"], None,
     "run, which cannot translate images; runs that can: pix2pix, cyclegan and image-conditioned diffusion"),
    ("translate-direction", ["translate", "{ring}", "--in", "x", "--direction", "up", "--out", "{tmp}/t"], None,
     "invalid choice: 'up'"),
    ("sample-repaint-without-known", ["sample", "{ring}", "--sampler", "repaint", "--out", "{tmp}/s.png"], None,
     "the 'repaint' sampler inpaints: give known images and a mask"),
    # --- inpaint (image runs: tests/test_inpaint.py) -------------------------------------------------------------
    ("inpaint-vector-run", ["inpaint", "{ring}", "--image", "digits", "--mask", "center", "--out", "{tmp}/i"], None,
     "inpainting needs a diffusion run on images"),
    ("inpaint-no-mask", ["inpaint", "{ring}", "--image", "digits"], None,
     "the following arguments are required: --mask"),
    ("inpaint-method-unknown", ["inpaint", "{ring}", "--image", "digits", "--mask", "center", "--method", "blend"],
     None, "argument --method: invalid choice: 'blend'"),
    ("inpaint-jump-zero", ["inpaint", "{ring}", "--image", "digits", "--mask", "center", "--jump-length", "0"], None,
     "--jump-length: expected an integer >= 1, got '0'"),
    ("inpaint-n-zero", ["inpaint", "{ring}", "--image", "digits", "--mask", "center", "--n", "0"], None,
     "--n: expected an integer >= 1"),
    ("inpaint-out-is-file", ["inpaint", "{ring}", "--image", "digits", "--mask", "center", "--out", "{tmp}/file"],
     _a_file, "is a file; expected a folder"),
    # --- eval, explore, compare, demo --------------------------------------------------------------------------
    ("eval-batch-zero", ["eval", "{ring}", "--batch-size", "0"], None, "--batch-size: expected an integer >= 1"),
    ("eval-n-zero", ["eval", "{ring}", "--n", "0"], None, "--n: expected an integer >= 2"),
    ("eval-unknown-metric", ["eval", "{ring}", "--metrics", "modes,bogus"], None, "unknown metric 'bogus'"),
    ("eval-image-metric-on-toy", ["eval", "{ring}", "--metrics", "fid"], None, "metric fid needs an image model"),
    ("eval-modes-two-sets", ["eval", "--real", "ring8", "--fake", "ring8", "--metrics", "modes"], None,
     "need a run"),
    ("eval-out-is-folder", ["eval", "{ring}", "--metrics", "modes", "--out", "{tmp}"], None, "is a folder"),
    ("explore-n-zero", ["explore", "{ring}", "samples", "--n", "0"], None, "--n: expected an integer >= 1"),
    ("explore-span-nan", ["explore", "{ring}", "traverse", "--span", "nan"], None,
     "--span: expected a finite number > 0"),
    ("compare-n-zero", ["compare", "--n", "0", "--out", "{tmp}/c"], None, "--n: expected an integer >= 2"),
    ("compare-budget-negative", ["compare", "--time-budget", "-1", "--out", "{tmp}/c"], None, "--time-budget"),
    ("compare-out-is-file", ["compare", "--out", "{tmp}/file"], _a_file, "is a file"),
    ("demo-budget-negative", ["demo", "--time-budget", "-1", "--out", "{tmp}/d"], None,
     "--time-budget: expected a finite number > 0"),
    ("demo-budget-zero", ["demo", "--time-budget", "0", "--out", "{tmp}/d"], None,
     "--time-budget: expected a finite number > 0"),
    ("demo-minutes-nan", ["demo", "--minutes", "nan", "--out", "{tmp}/d"], None, "got 'nan'"),
    # --- distill (the shared toy run is a ddpm with T = 20 and 4 DDIM steps: from_steps 4) ---------------------
    ("distill-to-steps-not-a-halving", ["distill", "{ring}", "--to-steps", "3", "--out", "{tmp}/d"], None,
     "--to-steps 3 is not --from-steps 4 halved k >= 1 times; expected one of: 2, 1"),
    ("distill-to-steps-zero", ["distill", "{ring}", "--to-steps", "0", "--out", "{tmp}/d"], None,
     "--to-steps: expected an integer >= 1"),
    ("distill-from-steps-over-T", ["distill", "{ring}", "--to-steps", "4", "--from-steps", "64", "--out", "{tmp}/d"],
     None, "--from-steps must be between 2 and the teacher's T = 20, got 64"),
    ("distill-teacher-missing", ["distill", "{tmp}/nothing", "--to-steps", "1", "--out", "{tmp}/d"], None,
     "teacher: run folder"),
    ("distill-teacher-not-diffusion", ["distill", "{run}", "--to-steps", "1", "--out", "{tmp}/d"],
     _edit_config(lambda r: r["config"].update(family="vae")),
     "is a 'vae' run; distillation needs a diffusion teacher: a run of family 'ddpm', 'distill', 'ldm', "
     "'distill_ldm'"),
    ("distill-teacher-gan", ["distill", "{run}", "--to-steps", "1", "--out", "{tmp}/d"],
     _edit_config(lambda r: r["config"].update(family="gan")), "is a 'gan' run; distillation needs a diffusion"),
    ("distill-guidance-unconditional", ["distill", "{ring}", "--to-steps", "1", "--guidance", "2", "--out",
                                        "{tmp}/d"], None, "--guidance needs a conditional teacher"),
    ("distill-lr-nan", ["distill", "{ring}", "--to-steps", "1", "--lr", "nan", "--out", "{tmp}/d"], None,
     "--lr: expected a finite number > 0"),
    # --- damaged run folders (read by sample) ------------------------------------------------------------------
    ("config-not-json", ["sample", "{run}"], _write("./config.json", "{not json"), "config.json is not valid JSON"),
    ("config-genlab-string", ["sample", "{run}"], _edit_config(lambda r: r.update(genlab="x")),
     "is not a genlab run config"),
    ("config-config-list", ["sample", "{run}"], _edit_config(lambda r: r.update(config=[])), "'config' is '[]'"),
    ("config-steps-string", ["sample", "{run}"], _edit_config(lambda r: r["config"]["train"].update(steps="x")),
     "config.json: config key 'train.steps' = 'x': expected int"),
    ("config-section-number", ["sample", "{run}"], _edit_config(lambda r: r["config"].update(model=3)),
     "config section 'model' must be a table"),
    ("config-data-info-shape", ["sample", "{run}"],
     _edit_config(lambda r: r["genlab"]["data_info"].update(shape="2")), "genlab.data_info"),
    ("config-family-number", ["sample", "{run}"], _edit_config(lambda r: r["config"].update(family=7)), "no 'family'"),
    ("config-sample-steps-zero", ["sample", "{run}"],
     _edit_config(lambda r: r["config"]["diffusion"].update(sample_steps=0)), "'diffusion.sample_steps' = 0"),
    ("weights-truncated", ["sample", "{run}"], _write("weights.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}"),
     "weights.safetensors"),
    ("latest-outside", ["sample", "{run}"], _latest_outside, "checkpoints/latest names '../../outside'"),
    ("step-link-outside", ["sample", "{run}"], _step_link_outside, "leads outside"),
    ("ldm-autoencoder-self", ["sample", "{run}"], _ldm_self, "latent.autoencoder leads back to a run being loaded"),
    ("ldm-autoencoder-cycle", ["sample", "{run}"], _ldm_cycle, "latent.autoencoder leads back to a run being loaded"),
    # --- damaged training state (read when resuming) -----------------------------------------------------------
    *[(f"resume-{name}", [*TRAIN, "--steps", "3", "--out", "{run}"], setup, text) for name, setup, text in [
        ("optimizer-random-bytes", _write("optimizer.pt", random.Random(0).randbytes(300)), "optimizer.pt is not a"),
        ("optimizer-malicious-pickle", _write("optimizer.pt", _malicious), "holding objects other than tensors"),
        ("optimizer-truncated-zip", _write("optimizer.pt", lambda p: p.write_bytes(_torch_bytes()[:200])),
         "optimizer.pt is not a"),
        ("optimizer-plain-pickle", _write("optimizer.pt", pickle.dumps({"denoise": {}})), "optimizer.pt"),
        ("optimizer-not-a-table", _write("optimizer.pt", lambda p: torch.save({"denoise": 3}, p)),
         "optimizer.pt is not a table of optimizer states"),
        ("optimizer-other-phase", _write("optimizer.pt", lambda p: torch.save({"G": {}}, p)),
         "has no state for the 'denoise' phase"),
        ("optimizer-wrong-state", _write("optimizer.pt", lambda p: torch.save({"denoise": {"state": {}}}, p)),
         "the 'denoise' optimizer state does not fit"),
        ("optimizer-missing", _remove("optimizer.pt"), "optimizer.pt is missing"),
        ("trainer-empty", _write("trainer.json", "{}"), "trainer.json has step = None"),
        ("trainer-step-word", _write("trainer.json", '{"step": "abc", "ema_updates": {"model": 2}}'),
         "has step = 'abc'"),
        ("trainer-step-fraction", _write("trainer.json", '{"step": 2.5, "ema_updates": {"model": 2}}'),
         "has step = 2.5"),
        ("trainer-ema-missing", _write("trainer.json", '{"step": 2, "ema_updates": {}}'), "no ema_updates for 'model'"),
        ("trainer-not-json", _write("trainer.json", "\x00\x01"), "trainer.json is not readable JSON"),
        ("config-changed", _edit_config(lambda r: r["config"]["model"].update(hidden=8)), "model.hidden = 8"),
    ]],
]


@pytest.mark.parametrize("case_id, argv, setup, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line_and_status_2(case_id, argv, setup, expected, ring_run, tmp_path, capsys):
    if "/proc/" in " ".join(argv) and not Path("/proc").is_dir():
        pytest.skip("needs /proc (a folder nobody may write)")
    if setup is not None:
        setup(ring_run, tmp_path)
    capsys.readouterr()
    argv = [a.replace("{ring}", str(ring_run)).replace("{run}", str(tmp_path / "run")).replace("{tmp}", str(tmp_path))
            for a in argv]
    code, err, _ = run_cli(argv, capsys)
    assert code == 2, err
    assert len(err) == 1, err
    expected = expected.replace("{run}", str(tmp_path / "run"))
    assert err[0].startswith("error: ") and expected in err[0], err[0]
    assert "Traceback" not in err[0]
    assert not Path("/tmp/genlab-pwned").exists()


def test_case_table_is_broad():
    assert len(CASES) >= 50 and len({c[0] for c in CASES}) == len(CASES)


# --- Ctrl-C ----------------------------------------------------------------------------------------------------

def test_ctrl_c_while_importing_is_one_line_and_130(monkeypatch, capsys):
    from genlab.cli import main as main_module

    def interrupted() -> None:
        raise KeyboardInterrupt
    monkeypatch.setattr(main_module, "build_parser", interrupted)
    code, err, _ = run_cli(["datasets"], capsys)
    assert code == 130 and err == ["interrupted"]


def test_one_ctrl_c_in_training_checkpoints_and_exits_130(ring_run, tmp_path, monkeypatch, capsys):
    real_build = session_module.build_family

    def build_and_interrupt(config, info):
        family = real_build(config, info)
        real_loss, calls = family.loss, {"n": 0}

        def loss(phase, models, batch):
            calls["n"] += 1
            if calls["n"] == 2:
                os.kill(os.getpid(), signal.SIGINT)        # what one Ctrl-C does: the loop stops at the step's end
            return real_loss(phase, models, batch)
        family.loss = loss
        return family
    monkeypatch.setattr(session_module, "build_family", build_and_interrupt)
    code, err, out = run_cli([*TRAIN, "--steps", "50", "--out", str(tmp_path / "r")], capsys)
    assert code == 130, err
    assert "stopped at step 2" in out and latest_checkpoint(tmp_path / "r").name == "step_0000002"


# --- checkpoint invariants -------------------------------------------------------------------------------------

def _log_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]


def test_resume_removes_stale_temporaries_and_replayed_log_rows(ring_run, tmp_path, capsys):
    run = _copy(ring_run, tmp_path)
    stale = run / "checkpoints" / ".tmp-step_0000003-4242"
    stale.mkdir()
    (stale / "weights.safetensors").write_bytes(b"half written")
    with open(run / "log.jsonl", "a") as f:                # logged by a process killed before its checkpoint
        f.write(json.dumps({"step": 3, "loss": 1.0}) + "\n" + json.dumps({"step": 4, "loss": 1.0}) + "\n")
    code, err, _ = run_cli([*TRAIN, "--steps", "4", "--out", str(run)], capsys)
    assert code == 0, err
    assert not stale.exists()
    assert _log_steps(run) == [1, 2, 3, 4]


def test_non_finite_weights_are_never_checkpointed(tmp_path, monkeypatch, capsys):
    from genlab.training.ema import EMA

    real_update, calls = EMA.update, {"n": 0}

    def update_then_poison(self, module):
        calls["n"] += 1
        if calls["n"] == 2:                                # the update of step 2 leaves inf in the weights
            with torch.no_grad():
                next(module.parameters()).fill_(float("inf"))
        real_update(self, module)
    monkeypatch.setattr(EMA, "update", update_then_poison)
    code, err, _ = run_cli([*TRAIN, "--steps", "4", "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and len(err) == 1
    assert "non-finite by step 2" in err[0] and "not checkpointed" in err[0] and "step_0000001" in err[0]
    assert "last good" not in err[0]
    assert latest_checkpoint(tmp_path / "r").name == "step_0000001"


def test_save_checkpoint_refuses_nan(tmp_path):
    with pytest.raises(TrainingError, match=r"\(model\.w\).*none yet"):
        save_checkpoint(tmp_path, step=1, family="ddpm", tensors={"model.w": torch.tensor([1.0, float("nan")])},
                        optimizers={}, trainer_state={"ema_updates": {}})
    assert not (tmp_path / "checkpoints" / "step_0000001").exists()


def test_eval_modes_reports_coverage_of_a_toy_run(ring_run, tmp_path, capsys):
    out = tmp_path / "modes.json"
    code, err, text = run_cli(["eval", str(ring_run), "--metrics", "modes", "--n", "200", "--out", str(out)], capsys)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["num_modes"] == 8 and 0 <= result["modes_covered"] <= 8 and 0.0 <= result["high_quality"] <= 1.0
    assert "modes_covered" in text


# --- kill -9 at random moments, resume: the same weights as an uninterrupted run -------------------------------

@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bit_exact(tmp_path):
    steps, kills = 400, 20
    cmd = [sys.executable, "-m", "genlab.cli.main", *TRAIN, "--steps", str(steps), "--set", "train.checkpoint_every=3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*cmd, "--out", str(tmp_path / "whole")], check=True, env=env, capture_output=True)
    rng = random.Random(12)
    killed = tmp_path / "killed"
    log = killed / "log.jsonl"
    done_kills = 0
    for target in sorted(rng.sample(range(1, steps - 10), kills)):   # kill once the run has logged this step
        proc = subprocess.Popen([*cmd, "--out", str(killed)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while proc.poll() is None and not (log.exists() and _last_step(log) >= target):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.05))                         # anywhere in a step or a checkpoint write
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            done_kills += 1
        proc.wait()
    done = subprocess.run([*cmd, "--out", str(killed)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done_kills >= kills // 2
    a = load_file(str(latest_checkpoint(tmp_path / "whole") / "weights.safetensors"))
    b = load_file(str(latest_checkpoint(killed) / "weights.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert _log_steps(killed) == list(range(1, steps + 1))
    assert not list((killed / "checkpoints").glob(".tmp-*"))


def _last_step(log: Path) -> int:
    """The last complete row's step of a log being written (0 when none)."""
    for line in reversed(log.read_text().splitlines()):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError):
            continue
    return 0
