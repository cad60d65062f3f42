"""Config parsing: strict keys, typed values, layered overrides, one-line errors."""
from __future__ import annotations

import pytest

from genlab.config import (apply_overrides, load_toml, parse_override, run_config_from_dict, set_value)
from genlab.errors import ConfigError


def test_defaults_and_sections():
    cfg = run_config_from_dict({"family": "ddpm"})
    assert cfg.train.steps > 0 and cfg.data.name == "mnist"
    assert cfg.sections.diffusion.schedule == "linear"
    assert cfg.sections.model.channels == (32, 64, 64)


def test_override_values_are_typed_from_toml():
    values = apply_overrides({"family": "ddpm"}, ["train.steps=7", "train.lr=1e-3", "model.channels=[32, 32]",
                                                   "diffusion.schedule=cosine", "diffusion.clip_x0=false"])
    cfg = run_config_from_dict(values)
    assert cfg.train.steps == 7 and cfg.train.lr == pytest.approx(1e-3)
    assert cfg.sections.model.channels == (32, 32)
    assert cfg.sections.diffusion.schedule == "cosine" and cfg.sections.diffusion.clip_x0 is False


def test_int_is_accepted_for_float_but_not_the_reverse():
    assert run_config_from_dict({"family": "ddpm", "train": {"lr": 1}}).train.lr == 1.0
    with pytest.raises(ConfigError, match="train.steps"):
        run_config_from_dict({"family": "ddpm", "train": {"steps": 1.5}})


@pytest.mark.parametrize("values, fragment", [
    ({"family": "ddpm", "train": {"stepz": 3}}, "unknown config key 'train.stepz'"),
    ({"family": "ddpm", "diffusion": {"schedule": "quadratic"}}, "expected one of 'linear'"),
    ({"family": "ddpm", "wobble": {}}, "unknown config key 'wobble'"),
    ({"family": "nope"}, "unknown family 'nope'"),
    ({"train": {}}, "no 'family'"),
    ({"family": "ddpm", "train": 3}, "must be a table"),
    ({"family": "ddpm", "train": {"precision": "fp16"}}, "'fp32', 'bf16'"),
])
def test_bad_configs_say_what_is_wrong(values, fragment):
    with pytest.raises(ConfigError, match=fragment) as err:
        run_config_from_dict(values)
    assert "\n" not in str(err.value)


def test_parse_override_reads_bare_words_as_strings():
    assert parse_override("data.name=mnist") == (["data", "name"], "mnist")
    assert parse_override("data.name=/tmp/my data.npz") == (["data", "name"], "/tmp/my data.npz")
    assert parse_override("train.steps=12") == (["train", "steps"], 12)
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("train.steps")


def test_set_value_refuses_to_descend_into_a_value():
    values = {"train": {"steps": 3}}
    with pytest.raises(ConfigError, match="not a section"):
        set_value(values, "train.steps.x", 1)


def test_load_toml_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nsteps = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(bad)
    good = tmp_path / "good.toml"
    good.write_text('family = "ddpm"\n[train]\nsteps = 5\n[diffusion]\nschedule = "sigmoid"\n')
    cfg = run_config_from_dict(load_toml(good))
    assert cfg.train.steps == 5 and cfg.sections.diffusion.schedule == "sigmoid"


def test_shipped_configs_parse():
    from pathlib import Path
    for path in sorted((Path(__file__).parents[1] / "configs").glob("*.toml")):
        cfg = run_config_from_dict(load_toml(path))
        assert cfg.family
