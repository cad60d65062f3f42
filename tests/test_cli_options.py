"""One spelling and one meaning per option across `genlab` commands (issue 16): the agreed names, walked over
every subcommand's parser, and the former spellings that still parse."""
from __future__ import annotations

import argparse

import pytest

from genlab.cli.main import build_parser

TIME_BUDGETS = {"--time-budget", "--distill-time-budget", "--sample-time-budget", "--stage-time-budget"}
WRITES_FILES = {"train", "sample", "translate", "inpaint", "eval", "explore", "distill", "compare", "report", "demo"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _listed(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The options --help shows (former spellings are hidden)."""
    return {o: a for a in parser._actions if a.help != argparse.SUPPRESS for o in a.option_strings
            if o not in ("-h", "--help")}


def test_the_command_list_is_the_one_this_test_knows():
    assert set(_commands()) == WRITES_FILES | {"info", "datasets"}


def test_a_time_budget_is_spelled_time_budget_and_counts_seconds():
    seen = set()
    for name, parser in _commands().items():
        for option, action in _listed(parser).items():
            assert "seconds" not in option and "minutes" not in option, f"genlab {name} {option}"
            if option.endswith("time-budget"):
                seen.add(option)
                assert action.metavar == "SECONDS" and "second" in action.help, f"genlab {name} {option}"
    assert seen == TIME_BUDGETS


def test_steps_are_optimiser_steps_and_sampling_steps_are_sample_steps():
    for name, parser in _commands().items():
        listed = _listed(parser)
        if "--steps" in listed:
            assert name == "train" and "optimiser" in listed["--steps"].help
        if "--sampler" in listed or name == "inpaint":
            assert "--sample-steps" in listed, f"genlab {name}"


def test_every_command_that_writes_files_documents_its_out():
    for name, parser in _commands().items():
        listed = _listed(parser)
        if name not in WRITES_FILES:
            assert "--out" not in listed
            continue
        out = listed["--out"]
        assert out.required or "default" in out.help, f"genlab {name} --out: say what is written where by default"


def test_every_listed_option_says_what_it_does():
    for name, parser in _commands().items():
        for option, action in _listed(parser).items():
            assert action.help and action.help.strip(), f"genlab {name} {option} has no help"


@pytest.mark.parametrize("argv, dest, value", [
    (["demo", "--minutes", "3"], "time_budget", 180.0),
    (["compare", "--seconds", "5"], "time_budget", 5.0),
    (["compare", "--distill-seconds", "7"], "distill_time_budget", 7.0),
    (["compare", "--sample-seconds", "9"], "sample_time_budget", 9.0),
    (["distill", "teacher", "--to-steps", "4", "--seconds-per-stage", "11", "--out", "{tmp}/s"],
     "stage_time_budget", 11.0),
    (["sample", "run", "--steps", "7"], "steps", 7),
    (["eval", "run", "--steps", "7"], "steps", 7),
    (["inpaint", "run", "--image", "mnist", "--mask", "center", "--steps", "7"], "steps", 7),
    (["explore", "run", "interpolate", "--steps", "7"], "steps", 7),
])
def test_former_spellings_still_parse_to_the_new_option(argv, dest, value, tmp_path):
    args = build_parser().parse_args([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert getattr(args, dest) == value


def test_the_new_spellings_parse_and_old_defaults_hold():
    parse = build_parser().parse_args
    assert parse(["demo"]).time_budget == 600.0                     # the former --minutes 10
    assert parse(["demo", "--time-budget", "90"]).time_budget == 90.0
    assert parse(["sample", "run", "--sample-steps", "4"]).steps == 4
    assert parse(["explore", "run", "traverse", "--points", "5"]).steps == 5
    c = parse(["compare"])
    assert (c.time_budget, c.distill_time_budget, c.sample_time_budget) == (120.0, None, 600.0)
