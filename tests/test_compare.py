"""`genlab compare`: every recipe is a valid config, and the judge scores known sample sets correctly."""
from __future__ import annotations

import numpy as np
import pytest

from genlab.compare import RECIPES, compare, judge, recipe
from genlab.config import run_config_from_dict
from genlab.data import load_dataset, toy_modes


@pytest.mark.parametrize("family", sorted(RECIPES))
@pytest.mark.parametrize("kind, data", [("image", "mnist"), ("vector", "ring8")])
def test_every_recipe_is_a_valid_config(family, kind, data):
    cfg = run_config_from_dict(recipe(family, kind, data=data, seconds=10, seed=3))
    assert cfg.family == family and cfg.train.time_budget == 10 and cfg.train.seed == 3


def test_judge_scores_exact_toy_samples_as_perfect_and_a_collapsed_set_as_one_mode():
    exact = load_dataset("ring8", split="train", n_toy=2500, seed=1).x.astype(np.float64)
    good = judge(exact, data="ring8", kind="vector", n=2500)
    assert good["modes_covered"] == 8 and good["high_quality"] > 0.98 and good["fd"] < 0.05
    centres, std = toy_modes("ring8")
    collapsed = centres[0] + std * np.random.default_rng(0).standard_normal((2500, 2))
    bad = judge(collapsed, data="ring8", kind="vector", n=2500)
    assert bad["modes_covered"] == 1 and bad["fd"] > 1.0


def test_compare_runs_end_to_end_on_a_toy_set(tmp_path):
    results = compare(data="ring8", families=("vae",), seconds=3, n=200, out=tmp_path, progress=False)
    assert [r.family for r in results] == ["vae"] and results[0].samples.shape == (200, 2)
    assert (tmp_path / "compare.md").read_text().count("| vae |") == 1
    assert (tmp_path / "compare_trilemma.png").stat().st_size > 1000
