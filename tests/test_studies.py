"""studies/: the scripts behind the docs' tables still import against the library and answer --help."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import pytest

STUDIES = Path(__file__).parents[1] / "studies"


def load_study(name: str) -> ModuleType:
    """Import studies/<name>.py by path (studies/ is not a package and not installed)."""
    spec = importlib.util.spec_from_file_location(f"studies_{name}", STUDIES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["gan_coverage", "latent_measure"])
def test_study_scripts_answer_help(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        load_study(name).main(["--help"])
    assert exit_.value.code == 0 and "usage:" in capsys.readouterr().out


def test_latent_figures_imports():
    assert callable(load_study("latent_figures").plot_guidance)


def test_gan_coverage_table_groups_seeds_with_mean_and_std():
    rows = [{"data": "ring8", "loss": "hinge", "tools": "pack2", "steps": 10, "batch_size": 4, "d_steps": 1, "of": 8,
             "modes": m, "high_quality": hq, "cpu_seconds": 1.0} for m, hq in ((2, 0.5), (4, 0.7))]
    study = load_study("gan_coverage")
    table = study.markdown_table(rows)
    assert "| ring8 | hinge | pack2 | 4 (k=1) | 10 | 3.0 +- 1.4 of 8 | 60.0 +- 14.1% | 2 | 1 |" in table
    assert study.tool_overrides("pack3+sn", inputs_per_batch=100) == [
        "gan.pack=3", "model.d_spectral_norm=true", "train.batch_size=300"]


def test_gan_coverage_presets_exist_and_name_mixtures_with_modes():
    from genlab.data import toy_modes

    study = load_study("gan_coverage")
    assert set(study.PRESETS) == {"ring8", "grid25", "grid25-pacgan"}
    for data, preset in study.PRESETS.items():
        assert (study.CONFIGS / preset).is_file()
        centres, std = toy_modes(data)
        assert centres.shape == ((8, 2) if data == "ring8" else (25, 2))
    assert toy_modes("grid25-pacgan")[1] == 0.05 and toy_modes("grid25")[1] == 0.02


def test_gan_coverage_published_rows_follow_the_mixture_shape():
    table = load_study("gan_coverage").published_table(["grid25-pacgan"])
    assert "| PacGAN paper (std 0.05) | grid25-pacgan | PacGAN2 | 23.8 | 91% |" in table
    assert "VEEGAN paper (std 0.02)" in table and "ring8" not in table


def test_gan_coverage_trains_grid25_pacgan_and_draws_its_figure(tmp_path):
    study = load_study("gan_coverage")
    tiny = ["model.hidden=[8]", "model.d_hidden=[8]", "train.log_every=1"]
    row = study.train_and_measure("grid25-pacgan", "hinge", "pack2", seed=0, out=tmp_path, steps=2, cpu_budget=60,
                                  inputs_per_batch=4, extra=tiny, n=100)
    assert (row["steps"], row["of"], row["batch_size"]) == (2, 25, 8)
    title = study.coverage_figure(tmp_path / "grid25-pacgan_hinge_pack2_s0", tmp_path / "fig.png", n=100)
    assert title.startswith("grid25-pacgan, step 2: ") and "/25 modes" in title
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    diag = study.diagnose(tmp_path / "grid25-pacgan_hinge_pack2_s0", n=100)
    assert diag["high_quality"] + diag["halo"] + diag["between"] == pytest.approx(1.0)
    assert sum(diag[f"share_{lo:g}-{hi:g}std"] for lo, hi in study.BANDS) == pytest.approx(1.0)
    assert math.isfinite(diag["d_real"]) and math.isfinite(diag["d_fake"])


def test_gan_coverage_worker_ends_itself_when_its_study_is_gone():
    import subprocess
    import sys

    code = (f"import importlib.util as u; s = u.spec_from_file_location('g', {str(STUDIES / 'gan_coverage.py')!r}); "
            "m = u.module_from_spec(s); s.loader.exec_module(m); "
            "m._exit_with_parent(-1, every=0.01); print('still running')")     # -1: never this process's parent
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "still running" not in done.stdout


def test_gan_grid25_coverage_config_is_the_study_recipe_it_documents():
    import dataclasses
    import tomllib

    from genlab.config import apply_overrides, run_config_from_dict

    study = load_study("gan_coverage")
    recipe = ["model.hidden=[128,128,128]", "model.d_hidden=[128,128,128]", "gan.betas=[0.5,0.999]",
              "train.lr_schedule=cosine", "model.d_fourier=0.5", "gan.r1=0.1", "model.g_fourier=1.0", "gan.g_lr=1e-3",
              "gan.d_lr=1e-3", "model.d_fourier_per_sample=true", "model.g_skip=2.83"]    # docs/gan.md, third round
    preset = tomllib.loads((study.CONFIGS / study.PRESETS["grid25-pacgan"]).read_text())
    overrides = ["data.name=grid25-pacgan", "gan.pack=1", *study.tool_overrides("pack2", inputs_per_batch=100),
                 "train.steps=20000", *recipe]
    from_study = run_config_from_dict(apply_overrides(preset, overrides))
    from_file = run_config_from_dict(tomllib.loads((study.CONFIGS / "gan_grid25_coverage.toml").read_text()))
    assert dataclasses.asdict(from_file) == dataclasses.asdict(from_study)
