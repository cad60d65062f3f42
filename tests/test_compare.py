"""`genlab compare`: every recipe is a valid config, the judge scores known sample sets correctly, and the
comparison's rows, network-call counts and sampling budget behave as documented."""
from __future__ import annotations

import json

import numpy as np
import pytest

from genlab.cli.main import main
from genlab.compare import ENTRIES, RECIPES, Row, compare, judge, network_calls, recipe
from genlab.config import run_config_from_dict
from genlab.data import load_dataset, toy_modes
from genlab.errors import ConfigError
from genlab.training.run import load_run


@pytest.mark.parametrize("family", sorted(RECIPES))
@pytest.mark.parametrize("kind, data", [("image", "mnist"), ("vector", "ring8")])
def test_every_recipe_is_a_valid_config(family, kind, data):
    cfg = run_config_from_dict(recipe(family, kind, data=data, seconds=10, seed=3))
    assert cfg.family == family and cfg.train.time_budget == 10 and cfg.train.seed == 3


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_every_entry_has_a_recipe_and_valid_overrides(name):
    entry = ENTRIES[name]
    for kind, data in (("image", "mnist"), ("vector", "ring8")):
        cfg = run_config_from_dict(recipe(entry.family, kind, data=data, seconds=10, seed=0,
                                          overrides=entry.overrides))
        assert cfg.family == entry.family
    assert entry.rows and len({r.label for r in entry.rows}) == len(entry.rows)


def test_judge_scores_exact_toy_samples_as_perfect_and_a_collapsed_set_as_one_mode():
    exact = load_dataset("ring8", split="train", n_toy=2500, seed=1).x.astype(np.float64)
    good = judge(exact, data="ring8", kind="vector", n=2500)
    assert good["modes_covered"] == 8 and good["high_quality"] > 0.98 and good["fd"] < 0.05
    centres, std = toy_modes("ring8")
    collapsed = centres[0] + std * np.random.default_rng(0).standard_normal((2500, 2))
    bad = judge(collapsed, data="ring8", kind="vector", n=2500)
    assert bad["modes_covered"] == 1 and bad["fd"] > 1.0


def test_judge_extracts_the_image_reference_once_and_scores_the_reference_itself_as_perfect():
    from genlab.compare.judge import _reference_pass, clear_reference_cache
    from genlab.metrics.evaluate import compute_metrics

    _reference_pass.cache_clear()
    real = load_dataset("mnist", split="test").x[:300]
    first = judge(real, data="mnist", kind="image", n=300)
    shifted = np.roll(real, 3, axis=3)                      # digits moved 3 px: a worse set, same reference
    second = judge(shifted, data="mnist", kind="image", n=300)
    info = _reference_pass.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert abs(first["fd"]) < 1e-6 and first["precision"] == first["recall"] == 1.0
    assert first["extractor"] == "classifier"
    direct = compute_metrics(shifted, load_dataset("mnist", split="test"), metrics=("fid", "pr"),
                             extractor="classifier", n=300, progress=False)    # the uncached path
    assert second["fd"] == pytest.approx(float(direct["fd_classifier"]), rel=1e-9) and second["fd"] > 1.0
    assert (second["precision"], second["recall"]) == (direct["precision"], direct["recall"])
    clear_reference_cache()                                  # what compare() does first: the next judge reads anew
    assert _reference_pass.cache_info().currsize == 0


def test_compare_runs_end_to_end_on_a_toy_set(tmp_path):
    results = compare(data="ring8", families=("vae", "ddgan2"), seconds=3, n=200, out=tmp_path, progress=False,
                      log=lambda _: None)
    assert [r.label for r in results] == ["vae", "ddgan T=2"] and results[0].samples.shape == (200, 2)
    assert [r.calls for r in results] == [1, 2] and results[0].samples_per_s > 0
    assert load_run(tmp_path / "ddgan2").config.sections.ddgan.T == 2
    assert (tmp_path / "compare.md").read_text().count("| vae |") == 1
    assert (tmp_path / "compare_trilemma.png").stat().st_size > 1000
    record = json.loads((tmp_path / "compare.json").read_text())
    assert record["results"][0]["label"] == "vae" and "samples" not in record["results"][0]
    page = (tmp_path / "compare.html").read_text()           # the same on one self-contained page
    assert "<title>genlab compare on ring8</title>" in page and 'id="compare-1-table"' in page
    assert "<td>vae</td>" in page and page.count('src="data:image/png;base64,') >= 2 and "<script" not in page


def test_diffusion_rows_count_their_network_calls_and_respect_the_sampling_budget(tmp_path):
    lines: list[str] = []
    results = compare(data="ring8", families=("ddpm",), seconds=3, n=300, out=tmp_path, progress=False,
                      sample_seconds=1e-6, log=lines.append)
    labels = [r.label for r in results]
    assert labels == [r.label for r in ENTRIES["ddpm"].rows]
    run = load_run(tmp_path / "ddpm")
    T = run.config.sections.diffusion.T
    calls = {r.label: r.calls for r in results}
    assert calls["ddpm ancestral"] == T and calls["ddim 50"] == 50 and calls["dpm-solver++ 5"] == 5
    assert network_calls(run, Row("heun", {"sampler": "heun", "steps": 10})) == 19
    # a budget no row can meet: every row keeps its measured speed and says why it has no quality numbers
    assert all(not r.metrics and r.samples is None and "sampling budget" in r.note for r in results)
    assert all(r.samples_per_s > 0 for r in results)
    assert sum("samples/s" in line for line in lines) == len(results) and "training steps" in lines[0]
    assert "sampling budget" in (tmp_path / "compare.md").read_text()
    with pytest.raises(ConfigError, match="already holds a run"):         # never a silent resume on a new budget
        compare(data="ring8", families=("ddpm",), seconds=3, n=300, out=tmp_path, progress=False)


def test_unknown_repeated_or_orphaned_entries_are_one_line_errors(tmp_path):
    cases = [(("ddpm", "dpm"), "compare knows"), (("gan", "gan"), "twice"), (("distill",), "list ddpm too")]
    for families, needle in cases:
        with pytest.raises(ConfigError, match=needle):
            compare(data="ring8", families=families, seconds=1, n=10, out=tmp_path, progress=False)


def test_compare_cli_rejects_an_unknown_entry(tmp_path, capsys):
    assert main(["compare", "--data", "ring8", "--families", "vae,diffusion", "--out", str(tmp_path / "c")]) == 2
    assert "compare knows" in capsys.readouterr().err
