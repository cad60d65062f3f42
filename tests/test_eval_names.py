"""`genlab eval` names what it computed: FID/IS/KID only on Inception features; extractor, n and KID subsets stated."""
from __future__ import annotations

import pytest

from genlab.cli.eval import describe
from genlab.errors import DataError
from genlab.metrics.evaluate import frechet_value, result_keys


def test_only_inception_features_give_fid_is_and_kid():
    assert result_keys("inception-v3-tf-2015-12-05-pool3") == {"fid": "fid", "is": "is", "kid": "kid"}
    assert result_keys("genlab-mnist-classifier") == {"fid": "fd_classifier", "is": "classifier_score",
                                                      "kid": "kd_classifier"}
    assert result_keys("torchscript-mynet")["fid"] == "fd_mynet"


def test_old_and_new_results_both_give_their_frechet_distance():
    assert frechet_value({"fid": 3.5, "extractor": "genlab-mnist-classifier"}) == 3.5      # written before the names
    assert frechet_value({"fd_classifier": 2.0, "n_fake": 10}) == 2.0
    with pytest.raises(DataError, match="no Frechet distance"):
        frechet_value({"precision": 0.5})


def test_output_states_extractor_n_and_warns_on_small_kid_subsets():
    line = describe({"extractor": "genlab-mnist-classifier", "n_fake": 300, "n_ref": 300, "kid_subset_size": 300,
                     "fd_classifier": 1.0, "kd_classifier_mean": 0.1})
    assert "genlab-mnist-classifier features" in line and "n = 300 generated, 300 reference" in line
    assert line.startswith("Frechet distance (fd_classifier), kernel distance (kd_classifier_mean) on ")
    assert "note: KID used subsets of 300" in line and "score" not in line
    assert "note" not in describe({"extractor": "inception-v3-tf-2015-12-05-pool3", "n_fake": 5000, "fid": 3.0})
    assert describe({"bpd": 1.2}) == ""
