"""Metric math against closed forms: Frechet distance, Inception Score, KID, precision/recall, streaming stats,
toy modes."""
import numpy as np
import pytest
from scipy.stats import ortho_group

from genlab.errors import DataError, ModelInputError
from genlab.metrics.frechet import frechet_distance
from genlab.metrics.inception_score import inception_score
from genlab.metrics.kid import kernel_inception_distance
from genlab.metrics.precision_recall import density_coverage, precision_recall
from genlab.metrics.statistics import FeatureStatistics, RunningStatistics, StatisticsCache, stats_key
from genlab.metrics.toy import mode_coverage


def random_spd(rng, d, eig):
    q = ortho_group.rvs(d, random_state=rng)
    return (q * eig) @ q.T


# Frechet distance -----------------------------------------------------------------------------------------

def test_frechet_of_identical_statistics_is_zero():
    rng = np.random.default_rng(0)
    sigma = random_spd(rng, 20, rng.uniform(0.1, 3.0, 20))
    mu = rng.normal(size=20)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_frechet_of_identical_singular_statistics_is_zero():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 40))                      # 5 samples in 40 dims: covariance of rank 4
    mu, sigma = x.mean(0), np.cov(x, rowvar=False)
    value = frechet_distance(mu, sigma, mu, sigma)
    assert 0.0 <= value < 1e-6 * np.trace(sigma)


def test_frechet_is_symmetric():
    rng = np.random.default_rng(2)
    s1, s2 = random_spd(rng, 16, rng.uniform(0.2, 2, 16)), random_spd(rng, 16, rng.uniform(0.2, 2, 16))
    m1, m2 = rng.normal(size=16), rng.normal(size=16)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(frechet_distance(m2, s2, m1, s1), rel=1e-10)


def test_frechet_closed_form_commuting_covariances():
    # S1 = Q D1 Q^T, S2 = Q D2 Q^T commute, so d^2 = |mu1 - mu2|^2 + sum (sqrt(d1) - sqrt(d2))^2.
    rng = np.random.default_rng(3)
    q = ortho_group.rvs(12, random_state=rng)
    d1, d2 = rng.uniform(0.1, 4, 12), rng.uniform(0.1, 4, 12)
    m1, m2 = rng.normal(size=12), rng.normal(size=12)
    expected = ((m1 - m2) ** 2).sum() + ((np.sqrt(d1) - np.sqrt(d2)) ** 2).sum()
    assert frechet_distance(m1, (q * d1) @ q.T, m2, (q * d2) @ q.T) == pytest.approx(expected, rel=1e-10)


def test_frechet_closed_form_identity_against_any_covariance():
    # S1 = I: tr((S1 S2)^1/2) = sum sqrt(eig(S2)).
    rng = np.random.default_rng(4)
    eig = rng.uniform(0.01, 9, 30)
    s2 = random_spd(rng, 30, eig)
    expected = 30 + eig.sum() - 2 * np.sqrt(eig).sum()
    assert frechet_distance(np.zeros(30), np.eye(30), np.zeros(30), s2) == pytest.approx(expected, rel=1e-10)


def test_frechet_rejects_mismatched_sizes():
    with pytest.raises(ModelInputError, match="feature sizes differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ModelInputError, match="sigma1"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(ModelInputError, match="NaN"):
        frechet_distance(np.full(3, np.nan), np.eye(3), np.zeros(3), np.eye(3))


# Inception Score -------------------------------------------------------------------------------------------

def test_inception_score_of_uniform_predictions_is_one():
    mean, std = inception_score(np.full((200, 7), 1 / 7), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_of_confident_balanced_predictions_is_class_count():
    probs = np.eye(10)[np.arange(1000) % 10]
    assert inception_score(probs, splits=10, shuffle=False)[0] == pytest.approx(10.0, rel=1e-12)
    assert inception_score(probs, splits=1)[0] == pytest.approx(10.0, rel=1e-12)


def test_inception_score_two_class_closed_form():
    # Rows (p, 1-p) and (1-p, p) in equal numbers: marginal uniform, IS = exp(log 2 - H(p)).
    p = 0.8
    probs = np.array([[p, 1 - p], [1 - p, p]] * 50)
    entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    assert inception_score(probs, splits=1)[0] == pytest.approx(np.exp(np.log(2) - entropy), rel=1e-12)


def test_inception_score_rejects_logits_and_bad_splits():
    with pytest.raises(ModelInputError, match="softmax"):
        inception_score(np.random.default_rng(0).normal(size=(20, 5)), splits=2)
    with pytest.raises(ModelInputError, match="splits"):
        inception_score(np.full((5, 2), 0.5), splits=10)


# KID -------------------------------------------------------------------------------------------------------

def test_kid_linear_kernel_closed_form():
    # degree 1, gamma 1, coef0 0 and one subset holding every sample: the unbiased MMD^2 is
    # (|sum x|^2 - sum |x_i|^2) / (m (m-1)) + the same for y - 2 mean(x).mean(y).
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(60, 4)), rng.normal(size=(60, 4)) + 0.5
    m = len(x)

    def within(a):
        return (a.sum(0) @ a.sum(0) - (a * a).sum()) / (m * (m - 1))

    expected = within(x) + within(y) - 2 * x.mean(0) @ y.mean(0)
    mean, std = kernel_inception_distance(x, y, subsets=3, subset_size=m, degree=1, gamma=1.0, coef0=0.0)
    assert mean == pytest.approx(expected, rel=1e-10) and std == pytest.approx(0.0, abs=1e-12)


def test_kid_near_zero_for_same_distribution_and_positive_for_shifted():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    same, _ = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    shifted, _ = kernel_inception_distance(a, b + 1.0, subsets=20, subset_size=200)
    assert abs(same) < 0.05 * shifted and shifted > 0


def test_kid_errors():
    with pytest.raises(ModelInputError, match="feature sizes differ"):
        kernel_inception_distance(np.zeros((10, 3)), np.zeros((10, 4)), subset_size=5)
    with pytest.raises(ModelInputError, match="subset_size"):
        kernel_inception_distance(np.zeros((10, 3)), np.zeros((10, 3)), subset_size=50)


# Precision / recall, density / coverage --------------------------------------------------------------------

def test_precision_recall_of_identical_sets_is_one_and_far_sets_zero():
    x = np.random.default_rng(7).normal(size=(300, 6))
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)
    assert density_coverage(x, x + 100.0) == (0.0, 0.0)
    assert density_coverage(x, x).coverage == 1.0


def test_precision_recall_hand_computed_1d():
    # Reals 0..4 with k=1 have radius 1; fakes 0.5 and 10 have radius 9.5 each.
    real, fake = np.arange(5.0)[:, None], np.array([[0.5], [10.0]])
    assert precision_recall(real, fake, k=1) == (0.5, 1.0)
    # Density: 0.5 lies in the balls of 0 and 1 (2 balls), 10 in none: 2 / (k * M) = 1.0; coverage: 2 of 5 balls.
    assert density_coverage(real, fake, k=1) == (1.0, 0.4)


def test_precision_recall_independent_of_block_size():
    rng = np.random.default_rng(8)
    real, fake = rng.normal(size=(257, 5)), rng.normal(size=(190, 5)) * 1.3
    assert precision_recall(real, fake, batch_size=7) == precision_recall(real, fake, batch_size=4096)
    assert density_coverage(real, fake, batch_size=7) == pytest.approx(density_coverage(real, fake, batch_size=4096))


# Streaming statistics and the cache ------------------------------------------------------------------------

def test_running_statistics_equal_numpy_on_the_full_set():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(1001, 12)) * rng.uniform(0.5, 3, 12) + 1e3    # large mean, as with raw features
    acc = RunningStatistics(12)
    for chunk in np.array_split(x, [1, 50, 51, 400, 999]):
        acc.update(chunk)
    assert acc.n == len(x)
    np.testing.assert_allclose(acc.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(acc.covariance, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-9)


def test_running_statistics_memory_flat_in_n():
    def state_bytes(acc):
        return sum(v.nbytes for v in vars(acc).values() if isinstance(v, np.ndarray))

    rng = np.random.default_rng(10)
    small, large = RunningStatistics(64), RunningStatistics(64)
    small.update(rng.normal(size=(10, 64)))
    for _ in range(200):
        large.update(rng.normal(size=(100, 64)))
    assert large.n == 20_000
    assert state_bytes(small) == state_bytes(large) == (64 + 64 * 64) * 8


def test_running_statistics_errors():
    acc = RunningStatistics(4)
    with pytest.raises(ModelInputError, match=r"\(B, 4\)"):
        acc.update(np.zeros((3, 5)))
    acc.update(np.zeros((1, 4)))
    with pytest.raises(ModelInputError, match="at least 2"):
        _ = acc.covariance


def test_statistics_cache_computes_once_and_reuses(tmp_path):
    cache = StatisticsCache(tmp_path)
    key = stats_key(dataset="mnist", split="test", extractor="inception-v3", resize="bilinear-299")
    stats = FeatureStatistics(mu=np.arange(3.0), sigma=np.eye(3) * 2, n=7)
    first = cache.get_or_compute(key, lambda: stats)

    def must_not_run():
        raise AssertionError("recomputed despite the cache")

    second = cache.get_or_compute(key, must_not_run)
    assert second.n == 7 and np.array_equal(second.mu, stats.mu) and np.array_equal(second.sigma, first.sigma)
    assert key != stats_key(dataset="mnist", split="train", extractor="inception-v3", resize="bilinear-299")
    (tmp_path / "broken.npz").write_bytes(b"not an npz")
    with pytest.raises(DataError, match="broken.npz"):
        FeatureStatistics.load(tmp_path / "broken.npz")


# Toy mode coverage -----------------------------------------------------------------------------------------

def test_mode_coverage_ring():
    angles = 2 * np.pi * np.arange(8) / 8
    centres = 2 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    rng = np.random.default_rng(11)
    std = 0.02
    all_modes = centres[np.arange(2500) % 8] + std * rng.normal(size=(2500, 2))
    res = mode_coverage(all_modes, centres, std)
    assert res.modes_covered == 8 and res.high_quality > 0.95
    half = centres[np.arange(2500) % 4] + std * rng.normal(size=(2500, 2))
    assert mode_coverage(half, centres, std).modes_covered == 4
    # 19 good samples on mode 0 and the rest far off: below PacGAN's 20-of-2500 threshold, nothing covered.
    sparse = np.concatenate([centres[:1] + np.zeros((19, 2)), np.full((2481, 2), 50.0)])
    res = mode_coverage(sparse, centres, std)
    assert res.modes_covered == 0 and res.high_quality == pytest.approx(19 / 2500)
