"""Evaluate a trained run (sample quality, likelihood, toy mode coverage) or two image sets: what `genlab eval` calls.

Sits above `genlab.metrics` (which knows images and features, not runs) and `genlab.training` (which knows
runs, not metrics): it loads the run, samples it sharded over the launched processes, and measures.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import torch

from genlab.errors import DataError, ModelInputError
from genlab.metrics.features import FeatureExtractor
from genlab.metrics.toy import ModeCoverage
from genlab.training.run import Run

if TYPE_CHECKING:
    from genlab.data.registry import Split
    from genlab.metrics.evaluate import Metric

SAMPLE_METRICS: tuple[str, ...] = ("fid", "kid", "is", "pr", "dc")
LIKELIHOODS: tuple[str, ...] = ("bpd", "nll")
METRICS: tuple[str, ...] = (*SAMPLE_METRICS, *LIKELIHOODS, "modes", "label_accuracy")
"""Everything `genlab eval --metrics` takes: sample metrics, likelihoods, toy mode coverage, and the label
accuracy of a class-conditional MNIST run."""


def parse_source(spec: str) -> tuple[str, Split]:
    """'mnist:test' -> ('mnist', 'test'); 'cifar10:/data' -> ('cifar10:/data', 'test'); paths pass through."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail == "train":
        return head, "train"
    if sep and tail == "test":
        return head, "test"
    return spec, "test"


def load_images(spec: str) -> Any:
    """A dataset of uint8 images from a name[:split], folder or .npz."""
    from genlab.data import load_dataset

    name, split = parse_source(spec)
    ds = load_dataset(name, split=split)
    if ds.kind != "image":
        raise DataError(f"{spec} holds vectors; image metrics need images")
    return ds


def _is_sample_metric(name: str) -> TypeGuard[Metric]:
    return name in SAMPLE_METRICS


def _split_metrics(metrics: Sequence[str], n: int) -> tuple[list[Metric], list[str]]:
    """(sample metrics, likelihoods) of the requested metrics, after checking them and n; "modes" is in neither."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ModelInputError(f"unknown metric {unknown[0] if unknown else ''!r} in --metrics; expected a "
                              f"comma-separated list of {', '.join(METRICS)}")
    if n < 2:
        raise ModelInputError(f"--n must be at least 2, got {n}")
    likelihoods = [m for m in metrics if m in LIKELIHOODS]
    return [m for m in metrics if _is_sample_metric(m)], likelihoods   # the known names, less bpd/nll/modes


def evaluate_images(fake: Any, real: Any, *, metrics: Sequence[str] = ("fid",), n: int = 2000,
                    extractor: FeatureExtractor | str = "inception", batch_size: int = 100,
                    progress: bool = True) -> dict[str, Any]:
    """Metrics of `fake` images against `real` ones; each a dataset name[:split], folder, .npz or uint8 array."""
    from genlab.metrics.evaluate import compute_metrics

    sample_metrics, _ = _split_metrics(metrics, n)
    run_only = [m for m in metrics if not _is_sample_metric(m)]
    if run_only:
        raise ModelInputError(f"{'/'.join(run_only)} need a run (a model), not two image sets")
    fake, real = (load_images(s) if isinstance(s, str) else s for s in (fake, real))
    return compute_metrics(fake, real, metrics=sample_metrics, extractor=extractor, n=n, batch_size=batch_size,
                           progress=progress)


def _sample_quality(run: Run, metrics: Sequence[Metric], *, n: int, ref: str, extractor: FeatureExtractor | str,
                    batch_size: int, seed: int, sampler_options: Mapping[str, Any],
                    progress: bool) -> dict[str, Any] | None:
    """FID & co of n samples of `run` against `ref`; every process samples its share, None on ranks other than 0."""
    from genlab.metrics.evaluate import compute_metrics
    from genlab.metrics.features import get_extractor
    from genlab.metrics.statistics import StatisticsCache, stats_key
    from genlab.sharding import extract_sharded, process_device, process_rank

    asked = f"metric{'s' if len(metrics) > 1 else ''} {','.join(metrics)} need{'' if len(metrics) > 1 else 's'}"
    if run.info.kind == "video":
        raise ModelInputError(f"{asked} an image model; this run generates videos (their "
                              "per-frame metrics: genlab.metrics.video, benchmarks/video_eval.py)")
    if run.info.kind != "image":
        raise ModelInputError(f"{asked} an image model; this run generates vectors "
                              "(--metrics modes measures a toy run)")
    ref_images = load_images(ref)
    if isinstance(extractor, str):
        extractor = get_extractor(extractor, device=process_device())
    fake = extract_sharded(run, n, extractor, batch_size=batch_size, seed=seed, **sampler_options)
    if process_rank()[0] != 0:
        return None
    name, split = parse_source(ref)
    key = stats_key(dataset=name, split=split, extractor=extractor.name, resize=extractor.resize_policy, n=n)
    return compute_metrics(fake, ref_images, metrics=metrics, extractor=extractor, n=n, batch_size=batch_size,
                           ref_cache=StatisticsCache(), ref_key=key, progress=progress)


def _likelihood(run: Run, *, n: int, ref: str, batch_size: int, seed: int, progress: bool) -> dict[str, Any]:
    """The family's likelihood (diffusion bits/dim, VAE ELBO/IWAE) on n seeded images of `ref`."""
    from genlab.data import load_dataset

    if not run.family.has_likelihood:
        raise ModelInputError(f"the {run.config.family} family has no likelihood (bpd/nll)")
    name, split = parse_source(ref)
    ds = load_dataset(name, split=split, limit=n, seed=seed)
    return run.family.likelihood(run.models, torch.from_numpy(ds.x), batch_size=batch_size, seed=seed,
                                 progress=progress)


def evaluate_run(run_or_path: Run | str | Path, *, metrics: Sequence[str] = ("fid",), n: int = 2000,
                 ref: str | None = None, extractor: FeatureExtractor | str = "inception", batch_size: int = 100,
                 seed: int = 0, sampler_options: Mapping[str, Any] | None = None,
                 progress: bool = True, step: int | None = None) -> dict[str, Any]:
    """Sample metrics (fid, kid, is, pr, dc), likelihoods (bpd, nll) and toy mode coverage (modes) of a run.

    `ref` defaults to the run's data, test split. Under torchrun / accelerate launch every process samples its
    share of the chunks; rank 0 gets the result and the other ranks an empty dict. A run given as a path is
    loaded on this process's device, or on the CPU when a likelihood is asked for, from its newest checkpoint or
    the one of `step`.
    """
    sample_metrics, likelihoods = _split_metrics(metrics, n)
    if isinstance(run_or_path, Run):
        run = run_or_path
    else:
        from genlab.training.run import load_run

        run = load_run(run_or_path, device=None if not likelihoods else "cpu", step=step)
    if sample_metrics and not run.family.can_sample:
        raise ModelInputError(f"{', '.join(sample_metrics)} score generated samples, and a '{run.config.family}' "
                              "run does not sample (image-to-image runs: `genlab translate` scores translations)")
    ref = ref or f"{run.config.data.name}:test"
    result: dict[str, Any] = {"run": str(run.path), "step": run.step, "ref": ref, "seed": seed,
                              **({} if isinstance(run_or_path, Run) else {"weights": "ema"}),
                              **dict(sampler_options or {})}
    if sample_metrics:
        quality = _sample_quality(run, sample_metrics, n=n, ref=ref, extractor=extractor, batch_size=batch_size,
                                  seed=seed, sampler_options=dict(sampler_options or {}), progress=progress)
        if quality is None:
            return {}
        result.update(quality)
    from genlab.sharding import process_rank

    if process_rank()[0] != 0:        # launched: the rest is computed once, by rank 0, which reports it
        return {}
    if likelihoods:
        result.update(_likelihood(run, n=n, ref=ref, batch_size=batch_size, seed=seed, progress=progress))
    if "modes" in metrics:
        if run.info.kind != "vector":
            raise ModelInputError("modes (mode coverage) needs a run on a 2-D toy mixture (ring8, grid25); "
                                  "this run generates images")
        cov = run_coverage(run, n=n, seed=seed, **dict(sampler_options or {}))
        result.update(modes_covered=cov.modes_covered, num_modes=cov.num_modes, high_quality=round(cov.high_quality, 4))
    if "label_accuracy" in metrics:
        result.update(run_label_accuracy(run, n=n, seed=seed, batch_size=batch_size,
                                         **dict(sampler_options or {})))
    return result


def run_label_accuracy(run: Run, *, n: int = 2000, seed: int = 0, batch_size: int = 100,
                       **sampler_options: Any) -> dict[str, Any]:
    """Share of n samples of a class-conditional MNIST run that genlab's classifier assigns to the asked label
    (labels cycle 0..9), overall and per class; see `genlab.metrics.label_accuracy`."""
    from genlab.labels import class_labels
    from genlab.metrics.classifier import load_mnist_classifier
    from genlab.metrics.label_accuracy import label_accuracy

    k = run.info.num_classes
    if not k or "label" not in run.family.sample_options:
        raise ModelInputError(f"label_accuracy needs a class-conditional run; {run.path} ({run.config.family}) "
                              "does not sample by label")
    if tuple(run.info.shape) != (1, 28, 28) or k != 10:
        raise ModelInputError(f"label_accuracy uses genlab's MNIST classifier: it needs 10 classes of 1x28x28 "
                              f"images, this run makes {k} classes of {'x'.join(map(str, run.info.shape))}")
    labels = class_labels(None, n, k)                   # 0..K-1 cycling, as every conditional family draws them
    images = run.sample(n, seed=seed, batch_size=batch_size, label=labels, **sampler_options)
    return label_accuracy(images, labels, load_mnist_classifier(), num_classes=k)


def run_coverage(run: Run, *, n: int = 2500, seed: int = 0, **sampler_options: Any) -> ModeCoverage:
    """Modes covered by n samples of a trained toy run (on ring8 or grid25; VEEGAN / PacGAN protocol)."""
    from genlab.data import toy_modes
    from genlab.metrics.toy import mode_coverage

    centres, std = toy_modes(run.config.data.name)
    x = run.sample(n, seed=seed, **sampler_options)
    return mode_coverage(x.numpy(), centres, std)
