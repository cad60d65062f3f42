"""How `genlab compare` scores a set of samples: the same numbers for every row."""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from genlab.errors import DataError

if TYPE_CHECKING:
    from genlab.metrics.evaluate import ExtractedFeatures
    from genlab.metrics.features import FeatureExtractor


def judge(samples: np.ndarray, *, data: str, kind: str, n: int) -> dict[str, float | str]:
    """Quality and coverage of samples: FD/precision/recall on features (images) or mode coverage (toys).

    samples: uint8 images (n, C, H, W) or float vectors (n, D). Images are scored on genlab's MNIST
    classifier features for 28x28 grey images, Inception otherwise, against the test split where there is one.
    """
    from genlab.data import load_dataset
    from genlab.metrics.evaluate import compute_metrics, frechet_value

    if kind == "image":
        short, extractor, ref = _reference_pass(data, n)
        out = compute_metrics(samples, ref, metrics=("fid", "pr"), extractor=extractor, n=n, progress=False)
        return {"fd": frechet_value(out), "precision": float(out["precision"]), "recall": float(out["recall"]),
                "extractor": short}
    from genlab.data import toy_modes
    from genlab.metrics.frechet import frechet_distance
    from genlab.metrics.toy import mode_coverage

    ref_x = load_dataset(data, split="test", n_toy=n).x.astype(np.float64)
    result: dict[str, float | str] = {
        "fd": float(frechet_distance(samples.mean(0), np.cov(samples, rowvar=False),
                                     ref_x.mean(0), np.cov(ref_x, rowvar=False))), "extractor": "raw 2-D"}
    try:
        centres, std = toy_modes(data)
    except DataError:                      # no discrete modes (moons, swiss roll, checkerboard)
        return result
    cov = mode_coverage(samples, centres, std)
    result.update(modes_covered=cov.modes_covered, num_modes=cov.num_modes, high_quality=cov.high_quality)
    return result


@lru_cache(maxsize=2)
def _reference_pass(data: str, n: int) -> tuple[str, FeatureExtractor, ExtractedFeatures]:
    """The reference images' features, extracted once per (data, n) for every row of a comparison."""
    from genlab.data import load_dataset
    from genlab.metrics.evaluate import extract
    from genlab.metrics.features import get_extractor

    ref = load_dataset(data, split="test" if data in ("mnist", "digits") else "train")
    short = "classifier" if tuple(ref.x.shape[1:]) == (1, 28, 28) else "inception"
    extractor = get_extractor(short)
    return short, extractor, extract(ref, extractor, n=n, keep_features=True, desc="reference features", progress=False)


def clear_reference_cache() -> None:
    """Forget the reference features kept by `_reference_pass` (compare starts each comparison with this)."""
    _reference_pass.cache_clear()
