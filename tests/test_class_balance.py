"""The class-share split of the Frechet distance: weighted moments against numpy, and class one-hot features,
whose re-weighted mean is the target histogram by construction."""
from __future__ import annotations

import numpy as np
import pytest

from genlab.errors import ModelInputError
from genlab.metrics.class_balance import class_histogram, class_share_frechet, weighted_gaussian
from genlab.metrics.frechet import frechet_distance


def test_equal_weights_give_numpys_mean_and_covariance_and_integer_weights_repeat_rows():
    x = np.random.default_rng(0).normal(size=(7, 3))
    mu, sigma = weighted_gaussian(x, np.full(7, 2.5))
    np.testing.assert_allclose(mu, x.mean(0))
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False))
    w = np.array([1, 3, 1, 1, 2, 1, 1])
    repeated = np.repeat(x, w, axis=0)                 # weight 3 = that row three times (mean exactly)
    np.testing.assert_allclose(weighted_gaussian(x, w)[0], repeated.mean(0))


def test_reweighting_one_hot_features_moves_their_mean_to_the_target_histogram():
    ref_classes = np.array([0, 0, 1, 1, 2, 2, 2, 2])               # shares 1/4, 1/4, 1/2
    fake_classes = np.array([0, 0, 0, 1])                           # shares 3/4, 1/4, 0: class 2 dropped
    eye = np.eye(3)
    ref, fake = eye[ref_classes], eye[fake_classes]
    assert class_histogram(fake_classes, 3).tolist() == [0.75, 0.25, 0.0]
    out = class_share_frechet(fake, fake_classes, ref, ref_classes, 3)
    # the re-weighted reference set has the fake histogram as its mean; by hand: |mu_f - mu_r|^2 = 0.5^2 + 0.5^2
    mu = weighted_gaussian(ref, (np.array([0.75, 0.25, 0.0]) / np.array([0.25, 0.25, 0.5]))[ref_classes])[0]
    np.testing.assert_allclose(mu, [0.75, 0.25, 0.0])
    mu_r, s_r = weighted_gaussian(ref, np.ones(8))
    assert np.sum((mu - mu_r) ** 2) == pytest.approx(0.25 + 0.25)
    assert out["fd_class_shares"] >= 0.5 - 1e-9          # the mean term, plus a covariance term >= 0
    assert out["fd"] == pytest.approx(frechet_distance(fake.mean(0), np.cov(fake, rowvar=False), mu_r, s_r))


def test_balancing_a_generator_with_the_right_digits_in_wrong_shares_leaves_only_the_within_class_distance():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [4.0, 0.0]])
    ref_classes = np.repeat([0, 1], [500, 500])
    fake_classes = np.repeat([0, 1], [900, 100])                  # the right classes, 9:1 instead of 1:1
    ref = centres[ref_classes] + rng.normal(size=(1000, 2))
    fake = centres[fake_classes] + rng.normal(size=(1000, 2))
    out = class_share_frechet(fake, fake_classes, ref, ref_classes, 2)
    # by hand: means 1.6 apart in x (2.56), x variances 5 and 1 + 16 * 0.09: (sqrt 5 - sqrt 2.44)^2 = 0.45
    assert out["fd"] == pytest.approx(3.0, abs=0.3) and out["fd_class_shares"] == pytest.approx(3.0, abs=0.3)
    assert out["fd_class_balanced"] < 0.1                       # re-weighted, the two sets agree to sampling noise


def test_bad_class_vectors_are_refused():
    with pytest.raises(ModelInputError, match=r"classes in \[0, 2\]"):
        class_histogram(np.array([0, 3]), 3)
    with pytest.raises(ModelInputError, match="every class must occur"):
        class_share_frechet(np.eye(2), np.array([0, 1]), np.eye(2), np.array([0, 0]), 2)
