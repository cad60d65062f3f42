"""Captions for MNIST digits from templates: the phrasings a text-conditioned model trains on, and held-out ones.

The only dataset-specific text in genlab: diffusion asks `training_captions` and `default_prompt` for its classes.
"""
from __future__ import annotations

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

TRAIN_TEMPLATES = (
    "a handwritten {word}",
    "the number {digit}",
    "{digit}",
    "the digit {word}",
    "a picture of a {word}",
    "{word}",
    "an image of the number {word}",
    "a {digit} written by hand",
)
"""Phrasings seen in training; a training item's caption is one of them, drawn per batch."""

HELD_OUT_TEMPLATES = (
    "a hand-drawn {word}",
    "digit {digit}",
    "someone wrote the number {word}",
    "the numeral {digit}",
)
"""Phrasings never seen in training: they test whether the sentence encoder carries the meaning over."""


def caption(digit: int, template: str) -> str:
    """The caption of `digit` (0..9) in `template`."""
    return template.format(word=WORDS[digit], digit=digit)


def caption_bank(templates: tuple[str, ...] = TRAIN_TEMPLATES) -> list[str]:
    """All captions, digit-major: index digit * len(templates) + k."""
    return [caption(d, t) for d in range(10) for t in templates]


def training_captions() -> tuple[list[str], int]:
    """Every class's training captions, class-major, and how many each class has (a text-conditioned run's bank)."""
    return caption_bank(TRAIN_TEMPLATES), len(TRAIN_TEMPLATES)


def default_prompt(label: int) -> str:
    """The caption a text-conditioned sampler uses for class `label` when no prompt is given."""
    return caption(label % len(WORDS), TRAIN_TEMPLATES[0])
