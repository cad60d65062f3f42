"""Make tests/data/metrics_reference.npz: reference numbers from pytorch-fid 0.3.0 and torch-fidelity 0.4.0.

Run with the peer venv (`make peer`):  .venv-peer/bin/python tests/data/make_metrics_reference.py
Both packages import torchvision (and their feature extractors) at import time, which cannot import here,
so only their metric modules are loaded: the packages are registered as bare namespaces (their
`__init__` is skipped) and the modules that pull in torchvision are replaced by empty stubs.
Inputs are random but seeded; small dimensions keep the file small.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import torch


def bare_package(name: str) -> None:
    """Register package `name` without running its __init__, so its submodules import one by one."""
    spec = importlib.util.find_spec(name)
    pkg = types.ModuleType(name)
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = pkg


def stub(name: str, **attrs: object) -> None:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module


def unused(*args: object, **kwargs: object) -> None:
    raise RuntimeError("stubbed out: only the metric functions are used")


stub("torchvision")
stub("torchvision.transforms")
bare_package("pytorch_fid")
stub("pytorch_fid.inception", InceptionV3=types.SimpleNamespace(BLOCK_INDEX_BY_DIM={2048: 3}))
bare_package("torch_fidelity")
stub("torch_fidelity.utils", extract_featuresdict_from_input_id_cached=unused, create_feature_extractor=unused,
     resolve_feature_extractor=unused, resolve_feature_layer_for_metric=unused)

from pytorch_fid.fid_score import calculate_frechet_distance  # noqa: E402
from torch_fidelity.metric_isc import isc_features_to_metric  # noqa: E402
from torch_fidelity.metric_kid import kid_features_to_metric  # noqa: E402
from torch_fidelity.metric_prc import prc_features_to_metric  # noqa: E402


def gaussian_features(rng: np.random.Generator, n: int, d: int, shift: float) -> np.ndarray:
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ mixing + shift + np.abs(rng.normal(size=d))


def main() -> None:
    rng = np.random.default_rng(20240501)
    out: dict[str, np.ndarray] = {}

    # Frechet distance: a well-conditioned pair (n >> d) and a near-singular one (n < d).
    for case, n, d in [("fd", 400, 32), ("fd_few", 24, 32)]:
        a = gaussian_features(rng, n, d, 0.0)
        b = gaussian_features(rng, n + 7, d, 0.3)
        mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
        out.update({f"{case}_mu1": mu1, f"{case}_sigma1": s1, f"{case}_mu2": mu2, f"{case}_sigma2": s2})
        out[f"{case}_value"] = np.float64(calculate_frechet_distance(mu1, s1, mu2, s2))

    # Inception Score: torch-fidelity takes logits; genlab takes probabilities (softmax in float64).
    logits = rng.normal(size=(503, 12)) * 3.0
    res = isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=True, rng_seed=2020)
    out["is_logits"] = logits
    out["is_probs"] = torch.from_numpy(logits).softmax(dim=1).numpy()
    out["is_value"] = np.array([res["inception_score_mean"], res["inception_score_std"]])

    # KID: float64 features, torch-fidelity's subsets from RandomState(2020).
    f1 = gaussian_features(rng, 300, 16, 0.0)
    f2 = gaussian_features(rng, 250, 16, 0.2)
    kid_options = dict(kid_subsets=20, kid_subset_size=100, rng_seed=2020, verbose=False)
    res = kid_features_to_metric(torch.from_numpy(f1), torch.from_numpy(f2), **kid_options)
    out.update(kid_feats1=f1, kid_feats2=f2, kid_subsets=np.int64(20), kid_subset_size=np.int64(100))
    out["kid_value"] = np.array([res["kernel_inception_distance_mean"], res["kernel_inception_distance_std"]])

    # Precision/recall (k=3); torch-fidelity's features_1 are the generated ones, features_2 the real ones.
    real = rng.normal(size=(220, 8))
    fake = rng.normal(size=(180, 8)) * 1.2 + 0.3
    res = prc_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real), prc_neighborhood=3,
                                 prc_batch_size=10000, save_cpu_ram=False, verbose=False)
    out.update(prc_real=real, prc_fake=fake, prc_value=np.array([res["precision"], res["recall"]]))

    path = Path(__file__).with_name("metrics_reference.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    for key in sorted(k for k in out if k.endswith("_value")):
        print(key, out[key])


if __name__ == "__main__":
    main()
