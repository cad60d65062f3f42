"""Stream images through a feature extractor and compute the requested metrics: what `genlab eval` calls.

Images arrive as a Dataset (uint8 `x`), an array/tensor, or any iterable of batches (uint8, or float in
[-1, 1] as samplers return them). FID needs only the running mean and covariance, so its memory stays
flat in N; KID and precision/recall/density/coverage need the feature vectors themselves (N x dim floats,
never the images).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from genlab.data.transforms import to_uint8
from genlab.errors import DataError, ModelInputError
from genlab.metrics.features import FeatureExtractor, as_uint8_images, get_extractor
from genlab.metrics.inception_score import inception_score
from genlab.metrics.kid import kernel_inception_distance
from genlab.metrics.precision_recall import density_coverage, precision_recall
from genlab.metrics.statistics import FeatureStatistics, RunningStatistics, StatisticsCache

Metric = Literal["fid", "kid", "is", "pr", "dc"]
METRICS: tuple[str, ...] = ("fid", "kid", "is", "pr", "dc")
_NEEDS_FEATURES = {"kid", "pr", "dc"}


def result_keys(extractor_name: str) -> dict[str, str]:
    """What each metric is called in results, by the features it was computed on: only Inception-v3 pool3
    features give FID, IS and KID; any other extractor gives a Frechet distance, a score and a kernel distance
    named after it ({"fid": "fd_classifier", "is": "classifier_score", "kid": "kd_classifier"} for genlab's
    MNIST classifier). Mean/std pairs append _mean and _std to the "is" and "kid" names."""
    if extractor_name.startswith("inception"):
        return {"fid": "fid", "is": "is", "kid": "kid"}
    tag = "classifier" if extractor_name == "genlab-mnist-classifier" else extractor_name.removeprefix("torchscript-")
    return {"fid": f"fd_{tag}", "is": f"{tag}_score", "kid": f"kd_{tag}"}


def frechet_value(result: dict[str, Any]) -> float:
    """The Frechet distance of a result written by any genlab version (old results call every one 'fid')."""
    keys = [k for k in result if k == "fid" or (k.startswith("fd_") and isinstance(result[k], (int, float)))]
    if not keys:
        raise DataError(f"no Frechet distance in this result (keys: {', '.join(result)})")
    return float(result[keys[0]])


def checked_uint8(x: Tensor) -> Tensor:
    """uint8 images as they are; float images checked to lie in [-1, 1] (1% slack) and quantised as a PNG would be."""
    if x.dtype == torch.uint8:
        return x
    if not x.is_floating_point():
        raise ModelInputError(f"images must be uint8 in [0, 255] or float in [-1, 1], got dtype {x.dtype}")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1.01 or hi > 1.01 or not np.isfinite([lo, hi]).all():
        raise ModelInputError(f"float images must lie in [-1, 1], got values in [{lo:.3g}, {hi:.3g}]")
    return to_uint8(x)


def iter_batches(source: Any, *, batch_size: int, n: int | None = None) -> Iterator[Tensor]:
    """uint8 batches (b, C, H, W) from a Dataset, array, tensor or iterable of batches, stopping after n images."""
    if hasattr(source, "x") and not isinstance(source, Tensor):          # genlab.data.Dataset
        source = source.x
    if isinstance(source, (np.ndarray, Tensor)):
        source = torch.as_tensor(source)
        chunks: Iterable[Any] = source.split(batch_size)
    else:
        chunks = source
    seen = 0
    for chunk in chunks:
        if isinstance(chunk, (tuple, list)):                               # (x, y) pairs from a loader
            chunk = chunk[0]
        chunk = checked_uint8(torch.as_tensor(chunk))
        if n is not None:
            chunk = chunk[: n - seen]
        if len(chunk):
            yield as_uint8_images(chunk)
        seen += len(chunk)
        if n is not None and seen >= n:
            return


@dataclass
class ExtractedFeatures:
    """What one pass over a source produced: running statistics, and features/probs when asked for."""

    stats: RunningStatistics
    features: list[np.ndarray] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)

    def feature_matrix(self) -> np.ndarray:
        return np.concatenate(self.features)

    def prob_matrix(self) -> np.ndarray:
        return np.concatenate(self.probs)


def extract(source: Any, extractor: FeatureExtractor, *, n: int | None = None, batch_size: int = 50,
            keep_features: bool = False, keep_probs: bool = False, desc: str = "features",
            progress: bool = True) -> ExtractedFeatures:
    """One streaming pass: features of every batch into running statistics (and kept, if asked)."""
    out = ExtractedFeatures(RunningStatistics(extractor.dim))
    sized = hasattr(source, "__len__") and not isinstance(source, Iterator)
    total = n if n is not None else (len(source) if sized else None)
    with torch.no_grad(), tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False) as bar:
        for images in iter_batches(source, batch_size=batch_size, n=n):
            feats, logits = extractor.features_and_logits(images)
            out.stats.update(feats)
            if keep_features:
                out.features.append(feats.numpy().astype(np.float32))
            if keep_probs:
                if logits is None:
                    raise ModelInputError(f"metric 'is' needs class probabilities, but the {extractor.name} "
                                          "extractor has no classifier head; use --extractor classifier")
                out.probs.append(logits.double().softmax(dim=1).numpy())
            bar.update(len(images))
    if out.stats.n < 2:
        raise DataError(f"need at least 2 images for {desc}, got {out.stats.n}")
    return out


def compute_statistics(source: Any, extractor: FeatureExtractor | str = "inception", *, n: int | None = None,
                       batch_size: int = 50, progress: bool = True) -> FeatureStatistics:
    """Streaming mean and covariance of the features of a source (memory flat in N)."""
    extractor = get_extractor(extractor) if isinstance(extractor, str) else extractor
    return extract(source, extractor, n=n, batch_size=batch_size, progress=progress).stats.result()


def _reference_features(ref: Any, extractor: FeatureExtractor, *, n: int | None, batch_size: int,
                        metrics: Sequence[Metric], progress: bool) -> ExtractedFeatures:
    """The reference pass: `ref` itself when the caller extracted it already (compare's judge), else one pass."""
    keep = bool(_NEEDS_FEATURES & set(metrics))
    if isinstance(ref, ExtractedFeatures):
        if keep and not ref.features:
            raise ModelInputError("the reference was extracted without features; metrics "
                                  f"{sorted(_NEEDS_FEATURES & set(metrics))} need them (keep_features=True)")
        return ref
    return extract(ref, extractor, n=n, batch_size=batch_size, keep_features=keep, desc="reference features",
                   progress=progress)


def compute_metrics(fake: Any, ref: Any = None, *, metrics: Sequence[Metric] = ("fid",),
                    extractor: FeatureExtractor | str = "inception", n: int | None = None, batch_size: int = 50,
                    ref_cache: StatisticsCache | None = None, ref_key: str | None = None,
                    kid_subsets: int = 100, kid_subset_size: int = 1000, pr_k: int = 3, dc_k: int = 5,
                    progress: bool = True) -> dict[str, float | int | str]:
    """Metrics of `fake` images against `ref` images, as {name: value}; sources are uint8 (N, C, H, W) or batches.

    Either source may also be an `ExtractedFeatures` pass made with the same extractor (read as it is, not
    capped by `n`).

    `metrics`: "fid" (Frechet distance on the extractor's features), "kid", "is" (Inception/classifier score
    of `fake`; the result keys name the features, see `result_keys`), "pr" (precision, recall, k=3), "dc"
    (density, coverage, k=5). `n` caps the images read from each source. With `ref_cache` and `ref_key`, the
    reference statistics are read from / written to the cache (used when only "fid"/"is" are asked, as the
    others need reference features).
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ModelInputError(f"unknown metrics {unknown}; expected some of {', '.join(METRICS)}")
    extractor = get_extractor(extractor) if isinstance(extractor, str) else extractor
    need_ref = any(m != "is" for m in metrics)
    if need_ref and ref is None:
        raise DataError("metrics other than 'is' need reference images (ref), got none")
    keep = bool(_NEEDS_FEATURES & set(metrics))
    fake_pass = fake if isinstance(fake, ExtractedFeatures) else extract(   # already extracted (sharded)
        fake, extractor, n=n, batch_size=batch_size, keep_features=keep, keep_probs="is" in metrics,
        desc="fake features", progress=progress)
    name = result_keys(extractor.name)
    result: dict[str, float | int | str] = {"extractor": extractor.name, "n_fake": fake_pass.stats.n}
    if "is" in metrics:
        result[f"{name['is']}_mean"], result[f"{name['is']}_std"] = inception_score(fake_pass.prob_matrix(),
                                                                                  splits=10)
    if not need_ref:
        return result

    def reference_pass() -> ExtractedFeatures:
        return _reference_features(ref, extractor, n=n, batch_size=batch_size, metrics=metrics, progress=progress)

    if ref_cache is not None and ref_key is not None and not keep:
        ref_stats = ref_cache.get_or_compute(ref_key, lambda: reference_pass().stats.result())
        ref_pass = None
    else:
        ref_pass = reference_pass()
        ref_stats = ref_pass.stats.result()
    result["n_ref"] = ref_stats.n
    if "fid" in metrics:
        result[name["fid"]] = fake_pass.stats.result().frechet_distance(ref_stats)
    if keep and ref_pass is not None:   # keep never reads the cache, so the reference pass ran
        fake_feats, ref_feats = fake_pass.feature_matrix(), ref_pass.feature_matrix()
        if "kid" in metrics:
            size = min(kid_subset_size, len(fake_feats), len(ref_feats))
            result[f"{name['kid']}_mean"], result[f"{name['kid']}_std"] = kernel_inception_distance(
                fake_feats, ref_feats, subsets=kid_subsets, subset_size=size)
            result["kid_subset_size"] = size      # below kid_subset_size: not comparable with published KIDs
        if "pr" in metrics:
            result["precision"], result["recall"] = precision_recall(ref_feats, fake_feats, k=pr_k)
        if "dc" in metrics:
            result["density"], result["coverage"] = density_coverage(ref_feats, fake_feats, k=dc_k)
    return result
