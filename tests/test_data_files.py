"""User data made in the test: image folders, .npz, idx(.gz) pairs, CSV and CIFAR-10 binary batches."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from genlab.data import load_dataset
from genlab.errors import DataError

# ---------------------------------------------------------------- image folders


def _solid(path, size, color, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_image_folder_with_classes_and_mixed_sizes(tmp_path):
    _solid(tmp_path / "cat" / "a.png", (40, 30), (255, 0, 0))
    _solid(tmp_path / "cat" / "b.png", (20, 20), (0, 0, 255, 0), mode="RGBA")  # fully transparent -> white
    _solid(tmp_path / "dog" / "c.jpg", (50, 64), 100, mode="L")
    ds = load_dataset(str(tmp_path), image_size=16)
    assert ds.x.shape == (3, 3, 16, 16) and ds.x.dtype == np.uint8 and ds.kind == "image"
    assert ds.y.tolist() == [0, 0, 1] and ds.num_classes == 2 and ds.class_names == ("cat", "dog")
    assert np.all(ds.x[0].transpose(1, 2, 0) == [255, 0, 0])
    assert np.all(ds.x[1] == 255)
    assert np.all(np.abs(ds.x[2].astype(int) - 100) <= 1)  # grey JPEG repeated to RGB
    grey = load_dataset(str(tmp_path), image_size=8, channels=1)
    assert grey.x.shape == (3, 1, 8, 8)
    assert abs(int(grey.x[0, 0, 4, 4]) - round(0.299 * 255)) <= 1  # ITU-R 601-2 luma of pure red


def test_image_folder_centre_crop_keeps_the_middle(tmp_path):
    stripes = np.zeros((10, 30, 3), dtype=np.uint8)
    stripes[:, :10, 0] = 255
    stripes[:, 10:20, 1] = 255
    stripes[:, 20:, 2] = 255
    Image.fromarray(stripes).save(tmp_path / "wide.png")
    ds = load_dataset(str(tmp_path), image_size=10)
    assert ds.y is None and ds.x.shape == (1, 3, 10, 10)
    assert np.all(ds.x[0].transpose(1, 2, 0) == [0, 255, 0])


def test_image_folder_needs_image_size_when_sizes_differ(tmp_path):
    _solid(tmp_path / "a.png", (8, 8), 0, mode="L")
    _solid(tmp_path / "b.png", (9, 9), 0, mode="L")
    with pytest.raises(DataError, match="image_size"):
        load_dataset(str(tmp_path))
    same = tmp_path / "same"
    for i in range(4):
        _solid(same / f"{i}.png", (6, 6), 10 * i, mode="L")
    ds = load_dataset(str(same))
    assert ds.x.shape == (4, 1, 6, 6) and sorted(ds.x[:, 0, 0, 0].tolist()) == [0, 10, 20, 30]
    assert load_dataset(str(same), limit=2).x.shape == (2, 1, 6, 6)


def test_image_folder_train_test_and_bad_files(tmp_path):
    _solid(tmp_path / "train" / "0" / "a.png", (4, 4), 1, mode="L")
    _solid(tmp_path / "train" / "1" / "b.png", (4, 4), 2, mode="L")
    _solid(tmp_path / "test" / "1" / "c.png", (4, 4), 3, mode="L")
    assert load_dataset(str(tmp_path)).x[:, 0, 0, 0].tolist() == [1, 2]
    assert load_dataset(str(tmp_path), split="test").x[:, 0, 0, 0].tolist() == [3]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="x.png"):
        load_dataset(str(broken))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="found none"):
        load_dataset(str(empty))


# ---------------------------------------------------------------- npz


def test_npz_layouts(tmp_path):
    rng = np.random.default_rng(0)
    nchw = rng.integers(0, 256, (5, 3, 6, 7), dtype=np.uint8)
    np.savez(tmp_path / "nchw.npz", x=nchw, y=np.array([0, 1, 2, 1, 0]))
    np.savez(tmp_path / "nhwc.npz", x=nchw.transpose(0, 2, 3, 1))
    np.savez(tmp_path / "nhw.npz", x=nchw[:, 0])
    a = load_dataset(str(tmp_path / "nchw.npz"))
    assert np.array_equal(a.x, nchw) and a.y.tolist() == [0, 1, 2, 1, 0] and a.num_classes == 3
    assert np.array_equal(load_dataset(str(tmp_path / "nhwc.npz")).x, nchw)
    assert np.array_equal(load_dataset(str(tmp_path / "nhw.npz")).x, nchw[:, :1])
    vec = rng.normal(size=(9, 4))
    np.savez(tmp_path / "vec.npz", x=vec)
    v = load_dataset(str(tmp_path / "vec.npz"))
    assert v.kind == "vector" and v.x.dtype == np.float32 and np.allclose(v.x, vec, atol=1e-6) and v.y is None


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "noxy.npz", images=np.zeros((2, 1, 4, 4), np.uint8))
    with pytest.raises(DataError, match="'x'"):
        load_dataset(str(tmp_path / "noxy.npz"))
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="npz"):
        load_dataset(str(tmp_path / "obj.npz"))
    np.savez(tmp_path / "fimg.npz", x=np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(DataError, match="uint8 images"):
        load_dataset(str(tmp_path / "fimg.npz"))
    np.savez(tmp_path / "bady.npz", x=np.zeros((3, 2)), y=np.array([0, 1]))
    with pytest.raises(DataError, match="labels"):
        load_dataset(str(tmp_path / "bady.npz"))
    (tmp_path / "junk.npz").write_bytes(b"nonsense")
    with pytest.raises(DataError, match="junk.npz"):
        load_dataset(str(tmp_path / "junk.npz"))
    with pytest.raises(DataError, match="no such file"):
        load_dataset(str(tmp_path / "missing.npz"))


# ---------------------------------------------------------------- idx


def _idx_bytes(arr: np.ndarray) -> bytes:
    """The IDX layout written out by hand: 0, 0, type 0x08, ndim, big-endian dims, then the bytes."""
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_idx_pair(tmp_path, gz):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8)
    suffix = ".gz" if gz else ""

    def write(path, data):
        with (gzip.open if gz else open)(path, "wb") as f:
            f.write(data)

    write(tmp_path / f"train-images-idx3-ubyte{suffix}", _idx_bytes(images))
    write(tmp_path / f"train-labels-idx1-ubyte{suffix}", _idx_bytes(labels))
    for spec in (tmp_path / "train", tmp_path / f"train-images-idx3-ubyte{suffix}", tmp_path):
        ds = load_dataset(str(spec))
        assert ds.x.shape == (6, 1, 5, 4) and np.array_equal(ds.x[:, 0], images)
        assert ds.y.tolist() == [3, 1, 4, 1, 5, 9] and ds.num_classes == 10
    with pytest.raises(DataError, match="t10k-images"):
        load_dataset(str(tmp_path), split="test")


def test_idx_errors(tmp_path):
    good = _idx_bytes(np.zeros((2, 3, 3), np.uint8))
    (tmp_path / "a-images-idx3-ubyte").write_bytes(b"\x08\x03" + good[2:])
    with pytest.raises(DataError, match="magic"):
        load_dataset(str(tmp_path / "a-images-idx3-ubyte"))
    (tmp_path / "b-images-idx3-ubyte").write_bytes(good[:-3])
    with pytest.raises(DataError, match="bytes"):
        load_dataset(str(tmp_path / "b-images-idx3-ubyte"))
    (tmp_path / "c-images-idx3-ubyte").write_bytes(good)
    (tmp_path / "c-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match="labels"):
        load_dataset(str(tmp_path / "c"))


# ---------------------------------------------------------------- CSV


def test_csv_with_header_and_labels(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1.5,2,0\n-3,4e-1,2\n0,0,1\n")
    ds = load_dataset(str(tmp_path / "d.csv"))
    assert ds.kind == "vector" and ds.x.dtype == np.float32
    assert np.allclose(ds.x, [[1.5, 2], [-3, 0.4], [0, 0]]) and ds.y.tolist() == [0, 2, 1] and ds.num_classes == 3
    (tmp_path / "plain.csv").write_text("1,2,3\n4,5,6\n")
    plain = load_dataset(str(tmp_path / "plain.csv"))
    assert plain.x.shape == (2, 3) and plain.y is None


def test_csv_errors(tmp_path):
    (tmp_path / "text.csv").write_text("a,b\n1,2\n3,cat\n")
    with pytest.raises(DataError, match="line 3 column 2.*'cat'"):
        load_dataset(str(tmp_path / "text.csv"))
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(DataError, match="columns"):
        load_dataset(str(tmp_path / "ragged.csv"))
    (tmp_path / "frac.csv").write_text("x,y\n1,0.5\n")
    with pytest.raises(DataError, match="whole numbers"):
        load_dataset(str(tmp_path / "frac.csv"))


# ---------------------------------------------------------------- CIFAR-10 binary


def _cifar_batch(path, labels):
    """Records of 1 label byte then the R, G and B planes (1024 bytes each); plane c of record i holds 10*c + i."""
    records = []
    for i, label in enumerate(labels):
        planes = np.concatenate([np.full(1024, 10 * c + i, np.uint8) for c in range(3)])
        records.append(np.concatenate([[label], planes]).astype(np.uint8))
    np.concatenate(records).tofile(path)


def test_cifar10_binary(tmp_path):
    for b in range(1, 6):
        _cifar_batch(tmp_path / f"data_batch_{b}.bin", [b, 9 - b])
    _cifar_batch(tmp_path / "test_batch.bin", [7, 0, 3])
    train = load_dataset(f"cifar10:{tmp_path}")
    assert train.x.shape == (10, 3, 32, 32) and train.y.tolist() == [1, 8, 2, 7, 3, 6, 4, 5, 5, 4]
    assert [int(train.x[1, c, 5, 5]) for c in range(3)] == [1, 11, 21]
    test = load_dataset(str(tmp_path), split="test")  # a plain path to the folder works too
    assert test.y.tolist() == [7, 0, 3] and test.class_names[7] == "horse" and test.num_classes == 10
    assert np.all(test.x[2, 2] == 22)


def test_cifar10_errors(tmp_path):
    _cifar_batch(tmp_path / "test_batch.bin", [1])
    with pytest.raises(DataError, match="data_batch_1.bin"):
        load_dataset(f"cifar10:{tmp_path}")
    (tmp_path / "test_batch.bin").write_bytes(b"\x01" * 100)
    with pytest.raises(DataError, match="3073"):
        load_dataset(f"cifar10:{tmp_path}", split="test")
