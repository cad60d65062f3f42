"""Errors genlab raises for bad input: each carries a one-line message saying what was wrong and what was expected."""
from __future__ import annotations


class GenlabError(Exception):
    """Base class: the CLI prints `error: <message>` and exits with status 2, no traceback."""


class DataError(GenlabError):
    """A data source is missing, malformed or of the wrong shape."""


class ConfigError(GenlabError):
    """A config file or `--set` override names an unknown key or holds a bad value."""


class CheckpointError(GenlabError):
    """A checkpoint is missing, corrupt, from another family, or not a genlab checkpoint."""


class TrainingError(GenlabError):
    """Training cannot go on (NaN loss, divergence); the last good checkpoint is kept."""


class ModelInputError(GenlabError):
    """A tensor handed to a model or metric has the wrong shape, range or size."""
