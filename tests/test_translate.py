"""Image-to-image translation: pix2pix and CycleGAN losses, the image pool, PatchGAN sizes, the built-in tasks'
known mappings, two-sided data through the loop (paired and unpaired, exact resume) and `genlab translate`."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from genlab.cli.main import main
from genlab.config import TrainConfig
from genlab.data.pairs import load_sides
from genlab.data.translation_tasks import (bottom_half_blanked, digits_as_mnist, dilate, edges, halves, low_res)
from genlab.training.checkpoint import latest_checkpoint
from genlab.training.loop import lr_factor
from genlab.training.objective import Batch, BatchRandom, DataInfo
from genlab.translate.cyclegan import CycleGANConfig, CycleGANFamily
from genlab.translate.losses import cycle_consistency
from genlab.translate.networks import PatchDiscriminator, UNetGenerator, patch_receptive_field
from genlab.translate.pool import ImagePool
from genlab.viz import save_side_by_side

TINY = ["--set", "train.threads=1", "--set", "train.warmup_steps=0", "--set", "train.log_every=1",
        "--set", "train.checkpoint_every=1", "--batch-size", "4", "--quiet"]
TINY_P2P = ["--set", "model.channels=4", "--set", "model.depth=2", "--set", "model.d_channels=4"]
TINY_CYC = ["--set", "model.channels=4", "--set", "model.blocks=1", "--set", "model.d_channels=4",
            "--set", "cyclegan.pool_size=3", "--set", "train.lr_schedule=linear-half"]


def _rng(seed: int, n: int) -> BatchRandom:
    return BatchRandom(torch.Generator().manual_seed(seed), global_size=n, start=0, size=n)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(latest_checkpoint(run) / "weights.safetensors"))


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err.strip()


# --- losses, pool, networks -----------------------------------------------------------------------------------

def test_cycle_and_identity_losses_are_zero_for_identity_generators():
    info = DataInfo(kind="image", shape=(1, 8, 8), b_shape=(1, 8, 8), paired=False)
    family = CycleGANFamily(CycleGANConfig(), data=info, train=TrainConfig())
    models = family.build_models()
    models.update(G_ab=nn.Identity(), G_ba=nn.Identity())
    a, b = torch.rand(3, 1, 8, 8) * 2 - 1, torch.rand(3, 1, 8, 8) * 2 - 1
    _, logs = family.loss("G", models, Batch(x=a, y=None, rng=_rng(0, 3), b=b))
    assert logs["cycle"] == 0.0 and logs["identity"] == 0.0
    cyc, _, _ = cycle_consistency(a, b, g_ab=lambda x: -x, g_ba=lambda x: -x)      # an involution cycles too
    assert float(cyc) == 0.0
    cyc, _, _ = cycle_consistency(a, b, g_ab=lambda x: x + 0.5, g_ba=lambda x: x)   # off by 0.5 on both cycles
    assert float(cyc) == pytest.approx(1.0)


def test_pool_returns_new_images_until_full_then_an_old_one_half_the_time():
    pool = ImagePool(size=50, shape=(1, 1, 1))
    for i in range(50):                                             # filling: every image comes straight back
        assert float(pool.query(torch.full((1, 1, 1, 1), float(i)), _rng(i, 1))) == i
    given, old = set(range(50)), 0
    for i in range(50, 4050):                                       # full: a stored image with probability 1/2
        new = torch.full((2, 1, 1, 1), float(i)) + torch.tensor([0.0, 0.5]).view(2, 1, 1, 1)
        out = pool.query(new, _rng(i, 2)).flatten().tolist()
        for sent, got in zip(new.flatten().tolist(), out, strict=True):
            old += got != sent
            assert got == sent or got in given                       # an image seen before, never a made-up one
            given.add(sent)
    # 8,000 fair coins: mean 4,000, sd 44.7; +-300 is 6.7 sd, and the seeds make the count fixed anyway
    assert abs(old - 4000) < 300


def test_patchgan_output_and_receptive_field_by_hand():
    # the paper's 70x70 PatchGAN on 256x256: 256 -> 128 -> 64 -> 32 (stride 2) -> 31 -> 30 (4x4, stride 1, pad 1)
    D = PatchDiscriminator(in_channels=6, channels=4, n_layers=3)
    assert D(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)
    assert patch_receptive_field(3) == 70          # 1 -> 4 -> 7 -> 16 -> 34 -> 70: rf' = (rf - 1) * stride + 4
    # genlab's default for 28x28: 28 -> 14 -> 13 -> 12, each of the 12x12 scores seeing a 16x16 patch
    assert PatchDiscriminator(in_channels=2, channels=4, n_layers=1)(torch.zeros(2, 2, 28, 28)).shape == (2, 1, 12, 12)
    assert patch_receptive_field(1) == 16 and patch_receptive_field(2) == 34


def test_unet_keeps_the_size_and_its_skips_carry_the_input():
    G = UNetGenerator(in_channels=1, out_channels=3, size=28, channels=4, depth=3, dropout=0.0).eval()
    x = torch.zeros(1, 1, 28, 28, requires_grad=True)
    out = G(x)
    assert out.shape == (1, 3, 28, 28) and float(out.detach().abs().max()) <= 1.0
    out[0, 0, 0, 0].backward()                       # the corner output depends on the corner input (first skip)
    assert float(x.grad.abs()[0, 0, :2, :2].sum()) > 0


def test_linear_half_schedule_holds_then_falls_linearly_to_zero():
    f = [lr_factor(s, steps=10, warmup=0, schedule="linear-half") for s in range(11)]
    assert f == pytest.approx([1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2, 0.0])


def test_side_by_side_grid_puts_items_in_rows_of_triplets(tmp_path):
    x = torch.zeros(5, 1, 4, 4, dtype=torch.uint8)
    path = save_side_by_side([x, x, x], tmp_path / "g.png", rows=2, padding=1)
    w, h = Image.open(path).size        # 2 rows; 3 groups of 3 cells + 2 blank cells = 11 cells of 5 px, +1
    assert (w, h) == (1 + 11 * 5, 1 + 2 * 5)


# --- the built-in tasks: the mappings are what the docs say ---------------------------------------------------

def test_known_mappings_by_hand():
    x = np.zeros((1, 1, 6, 6), dtype=np.uint8)
    x[0, 0, 2, 3] = 200
    thick = dilate(x)[0, 0]
    assert thick[1:4, 2:5].tolist() == [[200] * 3] * 3 and int(thick.sum()) == 9 * 200   # a dot -> its 3x3 square
    square = np.zeros((1, 1, 7, 7), dtype=np.uint8)
    square[0, 0, 1:6, 1:6] = 255
    e = edges(square)[0, 0]                  # dilate - erode: the 7x7 frame minus the 3x3 centre
    assert e[3, 3] == 0 and e[0, 0] == 255 and e[1, 1] == 255 and int((e > 0).sum()) == 49 - 9
    half = bottom_half_blanked(np.full((1, 1, 28, 28), 9, dtype=np.uint8))[0, 0]
    assert half[:14].min() == 9 and half[14:].max() == 0
    blocks = np.arange(16, dtype=np.uint8).reshape(1, 1, 4, 4) * 10
    assert low_res(blocks, factor=2)[0, 0].tolist() == [[25, 25, 45, 45], [25, 25, 45, 45],
                                                        [105, 105, 125, 125], [105, 105, 125, 125]]
    up = digits_as_mnist(np.full((2, 1, 8, 8), 255, dtype=np.uint8))
    assert up.shape == (2, 1, 28, 28) and up[0, 0, 4:24, 4:24].min() == 255 and up[0, 0, :4].max() == 0


def test_unpaired_thick_task_uses_disjoint_digits_and_its_test_split_is_the_true_mapping():
    ia, ib = halves(60_000)
    assert len(ia) == len(ib) == 30_000 and not set(ia.tolist()) & set(ib.tolist())
    test = load_sides("mnist-thick", split="test", limit=50)
    assert test.paired and np.array_equal(test.b.x, dilate(test.a.x)) and np.array_equal(test.a.y, test.b.y)


# --- two-sided data through the CLI and the loop ----------------------------------------------------------------

def _pairs_npz(path: Path, n: int = 12) -> Path:
    a = np.random.default_rng(0).integers(0, 256, (n, 1, 16, 16), dtype=np.uint8)
    np.savez(path, a=a, b=dilate(a))
    return path


def _png_folder(root: Path, n: int, *, prefix: str = "") -> Path:
    root.mkdir(parents=True)
    for i, img in enumerate(np.random.default_rng(n).integers(0, 256, (n, 16, 16), dtype=np.uint8)):
        Image.fromarray(img).save(root / f"{prefix}{i:02d}.png")
    return root


def test_pix2pix_trains_on_pairs_resumes_to_the_exact_step_and_translates(tmp_path, capsys):
    pairs = _pairs_npz(tmp_path / "pairs.npz")
    train = ["train", "pix2pix", "--data", str(pairs), *TINY, *TINY_P2P]
    assert main([*train, "--steps", "4", "--out", str(tmp_path / "full")]) == 0
    assert main([*train, "--steps", "2", "--out", str(tmp_path / "cut")]) == 0
    assert main([*train, "--steps", "4", "--out", str(tmp_path / "cut")]) == 0     # resumed from step 2
    full, cut = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert full.keys() == cut.keys() and all(torch.equal(full[k], cut[k]) for k in full)
    rows = [json.loads(line) for line in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and {"l1", "gan", "D(a,b)"} <= rows[-1].keys()
    out = tmp_path / "out"
    assert main(["translate", str(tmp_path / "full"), "--in", str(pairs), "--out", str(out)]) == 0
    assert len(list(out.glob("0*.png"))) == 12 and (out / "grid.png").is_file()
    scores = json.loads((out / "scores.json").read_text())
    assert scores["n"] == 12 and np.isfinite(scores["psnr"]) and 0 < scores["l1"] < 2


def test_l1_only_pix2pix_has_no_discriminator(tmp_path):
    run = tmp_path / "l1"
    assert main(["train", "pix2pix", "--data", str(_pairs_npz(tmp_path / "p.npz")), *TINY, *TINY_P2P,
                 "--set", "pix2pix.gan_weight=0", "--steps", "1", "--out", str(run)]) == 0
    assert not any(k.startswith("model.D.") for k in _weights(run)) and any(k.startswith("model.G.")
                                                                         for k in _weights(run))


def test_cyclegan_on_unpaired_folders_of_different_sizes_resumes_exactly_and_translates_both_ways(tmp_path, capsys):
    a, b = _png_folder(tmp_path / "A", 10), _png_folder(tmp_path / "B", 7, prefix="b")
    train = ["train", "cyclegan", "--data-a", str(a), "--data-b", str(b), *TINY, *TINY_CYC, "--steps", "4",
             "--set", "train.keep_checkpoints=4"]
    assert main([*train, "--out", str(tmp_path / "full")]) == 0
    assert main([*train, "--out", str(tmp_path / "cut")]) == 0
    for late in ("step_0000003", "step_0000004"):      # as if killed after step 2 (same steps: same lr schedule)
        shutil.rmtree(tmp_path / "cut" / "checkpoints" / late)
    (tmp_path / "cut" / "checkpoints" / "latest").write_text("step_0000002")
    assert main([*train, "--out", str(tmp_path / "cut")]) == 0
    full, cut = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert full.keys() == cut.keys() and all(torch.equal(full[k], cut[k]) for k in full)
    assert int(full["model.pool_a.count"]) == 3           # the pool is checkpointed state: full after 4 steps
    info = json.loads((tmp_path / "full" / "config.json").read_text())["genlab"]["data_info"]
    assert info["paired"] is False and info["b_shape"] == [1, 16, 16]
    for direction, source, n in (("a2b", a, 10), ("b2a", b, 7)):
        out = tmp_path / direction
        assert main(["translate", str(tmp_path / "full"), "--in", str(source), "--direction", direction,
                     "--out", str(out)]) == 0
        assert sorted(p.name for p in out.glob("*.png") if p.name != "grid.png") == sorted(
            p.name for p in source.glob("*.png")) and len(list(source.glob("*.png"))) == n


def test_folders_with_the_same_file_names_are_paired(tmp_path):
    a, b = _png_folder(tmp_path / "A", 5), _png_folder(tmp_path / "B", 5)
    assert load_sides(str(a), str(b)).paired
    assert not load_sides(str(a), str(_png_folder(tmp_path / "C", 5, prefix="c"))).paired


# --- one-line errors ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def p2p_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("p2p")
    run = tmp / "run"
    assert main(["train", "pix2pix", "--data", str(_pairs_npz(tmp / "p.npz")), *TINY, *TINY_P2P, "--steps", "1",
                 "--out", str(run)]) == 0
    return run


def _rgb_npz(path: Path, size: int) -> Path:
    np.savez(path, x=np.zeros((2, size, size, 3), dtype=np.uint8))
    return path


@pytest.mark.parametrize("case, argv, expected", [
    ("translate-channels", ["translate", "{run}", "--in", "{rgb16}", "--out", "{tmp}/o"],
     "images are 3x16x16 (channels x height x width), but {run} translates 1x16x16 images (a side)"),
    ("translate-size", ["translate", "{run}", "--in", "{grey20}", "--out", "{tmp}/o"], "translates 1x16x16"),
    ("translate-b2a-pix2pix", ["translate", "{run}", "--in", "{pairs}", "--direction", "b2a", "--out", "{tmp}/o"],
     "a pix2pix run translates a2b, not b2a"),
    ("eval-translation-run", ["eval", "{run}", "--metrics", "fid", "--n", "10"],
     "fid score generated samples, and a 'pix2pix' run does not sample"),
    ("sample-translation-run", ["sample", "{run}", "--n", "2", "--out", "{tmp}/s.png"],
     "a pix2pix run translates images instead of sampling them"),
    ("translate-in-missing", ["translate", "{run}", "--in", "{tmp}/none", "--out", "{tmp}/o"],
     "expected images to translate"),
    ("pix2pix-unpaired", ["train", "pix2pix", "--data-a", "{A}", "--data-b", "{C}", "--out", "{tmp}/r"],
     "pix2pix learns from aligned pairs, but these two sides are unpaired"),
    ("pix2pix-one-side", ["train", "pix2pix", "--data", "{A}", "--out", "{tmp}/r"],
     "pix2pix translates a -> b and needs two image sides"),
    ("ddpm-two-sides", ["train", "ddpm", "--data", "{pairs}", "--out", "{tmp}/r"],
     "'ddpm' runs train on one source; two image sides"),
    ("data-and-data-a", ["train", "cyclegan", "--data", "{A}", "--data-a", "{A}", "--out", "{tmp}/r"],
     "give --data or --data-a (the a side), not both"),
    ("cyclegan-size", ["train", "cyclegan", "--data-a", "{A}", "--data-b", "{C}", "--set", "data.image_size=14",
                       "--out", "{tmp}/r"], "the ResNet generators need sides divisible by 4"),
    ("pix2pix-train-lr", ["train", "pix2pix", "--data", "{pairs}", "--lr", "0.1", "--out", "{tmp}/r"],
     "is not used by pix2pix: set pix2pix.lr"),
])
def test_bad_translation_input_is_one_error_line(case, argv, expected, p2p_run, tmp_path, capsys):
    names = {"run": str(p2p_run), "tmp": str(tmp_path), "rgb16": str(_rgb_npz(tmp_path / "rgb.npz", 16)),
             "pairs": str(_pairs_npz(tmp_path / "pairs.npz")), "A": str(_png_folder(tmp_path / "A", 3)),
             "C": str(_png_folder(tmp_path / "C", 3, prefix="c"))}
    np.savez(tmp_path / "grey20.npz", x=np.zeros((2, 20, 20), dtype=np.uint8))
    names["grey20"] = str(tmp_path / "grey20.npz")
    code, err = _cli([a.format(**names) for a in argv], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert expected.format(**names) in err


def test_an_image_conditioned_diffusion_run_translates_what_its_sampler_draws_from_the_reduced_input(tmp_path):
    from genlab.training.run import load_run

    run_dir = tmp_path / "sr"
    assert main(["train", "ddpm", "--data", "digits", "--steps", "2", "--out", str(run_dir), "--quiet",
                 "--set", "condition.kind=image", "--set", "condition.low_res=2", "--set", "model.channels=[8, 8]",
                 "--set", "model.groups=4", "--set", "diffusion.T=20", "--set", "diffusion.sample_steps=3",
                 "--set", "train.batch_size=8", "--set", "train.threads=1"]) == 0
    images = np.random.default_rng(0).integers(0, 256, (5, 1, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "x.npz", x=images)
    assert main(["translate", str(run_dir), "--in", str(tmp_path / "x.npz"), "--out", str(tmp_path / "o")]) == 0
    written = sorted((tmp_path / "o").glob("0*.png"))
    assert len(written) == 5 and (tmp_path / "o" / "grid.png").is_file()
    run = load_run(run_dir)
    expected = run.sample(5, seed=0, low_res=torch.from_numpy(images).float() / 127.5 - 1.0)
    got = torch.from_numpy(np.array(Image.open(written[0]), dtype=np.uint8))
    assert torch.equal(got, ((expected[0, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
    assert main(["translate", str(run_dir), "--in", str(tmp_path / "x.npz"), "--direction", "b2a",
                 "--out", str(tmp_path / "o2")]) == 2
