"""genlab's metric functions against numbers made by pytorch-fid 0.3.0 and torch-fidelity 0.4.0.

The reference file is made by tests/data/make_metrics_reference.py in the peer venv; the peers are never
imported here.
"""
from pathlib import Path

import numpy as np
import pytest

from genlab.metrics.frechet import frechet_distance
from genlab.metrics.inception_score import inception_score
from genlab.metrics.kid import kernel_inception_distance
from genlab.metrics.precision_recall import precision_recall

REF = Path(__file__).parent / "data" / "metrics_reference.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(REF, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("case", ["fd", "fd_few"])
def test_frechet_distance_matches_pytorch_fid(ref, case):
    value = frechet_distance(ref[f"{case}_mu1"], ref[f"{case}_sigma1"], ref[f"{case}_mu2"], ref[f"{case}_sigma2"])
    assert value == pytest.approx(float(ref[f"{case}_value"]), rel=1e-6)


def test_inception_score_matches_torch_fidelity(ref):
    mean, std = inception_score(ref["is_probs"], splits=10)
    assert mean == pytest.approx(ref["is_value"][0], rel=1e-6)
    assert std == pytest.approx(ref["is_value"][1], rel=1e-6)


def test_kid_matches_torch_fidelity_on_same_subsets(ref):
    mean, std = kernel_inception_distance(ref["kid_feats1"], ref["kid_feats2"], subsets=int(ref["kid_subsets"]),
                                          subset_size=int(ref["kid_subset_size"]), seed=2020)
    assert mean == pytest.approx(ref["kid_value"][0], rel=1e-6)
    assert std == pytest.approx(ref["kid_value"][1], rel=1e-6)


def test_precision_recall_matches_torch_fidelity(ref):
    precision, recall = precision_recall(ref["prc_real"], ref["prc_fake"], k=3)
    # torch-fidelity averages in float32; 1e-6 still pins the count
    assert precision == pytest.approx(ref["prc_value"][0], abs=1e-6)
    assert recall == pytest.approx(ref["prc_value"][1], abs=1e-6)
