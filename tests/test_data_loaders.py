"""User data loaders on files written in the test: image folders, .npz, IDX(.gz), CSV, CIFAR-10 binary batches.

Every file is built here from its published layout (numpy, struct, PIL), independently of the loader under test;
bad input must give one DataError line naming the file and what was expected.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab.data import load_dataset
from genlab.errors import DataError

RNG = np.random.default_rng(1234)


def assert_one_line_error(spec: str, *must_contain: str, **options) -> str:
    """Load `spec`, expect a DataError whose one-line message holds every string of `must_contain`."""
    with pytest.raises(DataError) as info:
        load_dataset(spec, **options)
    message = str(info.value)
    assert "\n" not in message
    for part in must_contain:
        assert part in message, f"{part!r} not in {message!r}"
    return message


# ---------------------------------------------------------------- image folders

def _bands(width: int, height: int) -> Image.Image:
    """RGB picture: left quarter red, centre half green, right quarter blue."""
    a = np.zeros((height, width, 3), dtype=np.uint8)
    q = width // 4
    a[:, :q, 0] = 255
    a[:, q:width - q, 1] = 255
    a[:, width - q:, 2] = 255
    return Image.fromarray(a, "RGB")


def _mixed_folder(root: Path) -> None:
    """Five images of four modes and five sizes in three class folders."""
    for name in ("bird", "cat", "dog"):
        (root / name).mkdir(parents=True)
    palette = Image.new("P", (24, 32))
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette.putdata([i % 2 for i in range(24 * 32)])
    palette.save(root / "bird" / "e.png")
    _bands(40, 20).save(root / "cat" / "a.png")
    Image.fromarray(RNG.integers(0, 256, (50, 30, 3), dtype=np.uint8)).save(root / "cat" / "b.jpg", quality=95)
    Image.fromarray(RNG.integers(0, 256, (16, 16), dtype=np.uint8), "L").save(root / "dog" / "c.png")
    Image.fromarray(RNG.integers(0, 256, (30, 30, 4), dtype=np.uint8), "RGBA").save(root / "dog" / "d.png")


def test_image_folder_of_mixed_sizes_and_modes_gets_labels_from_class_folders(tmp_path):
    _mixed_folder(tmp_path / "pets")
    data = load_dataset(str(tmp_path / "pets"), image_size=12)
    assert data.kind == "image" and data.x.dtype == np.uint8 and data.x.shape == (5, 3, 12, 12)
    assert data.class_names == ("bird", "cat", "dog") and data.num_classes == 3
    assert data.y.dtype == np.int64 and data.y.tolist() == [0, 1, 1, 2, 2]  # sorted paths: bird/e, cat/a, cat/b, ...
    grey = load_dataset(str(tmp_path / "pets"), image_size=7, channels=1)
    assert grey.x.shape == (5, 1, 7, 7)


def test_centre_crop_keeps_the_middle_of_a_wide_and_of_a_tall_picture(tmp_path):
    _bands(40, 20).save(tmp_path / "wide.png")                 # shorter side 20 = image_size: a pure crop
    exact = load_dataset(str(tmp_path), image_size=20).x[0]
    assert exact.shape == (3, 20, 20)
    assert np.all(exact[0] == 0) and np.all(exact[1] == 255) and np.all(exact[2] == 0)
    halved = load_dataset(str(tmp_path), image_size=10).x[0].astype(int)  # 40x20 -> 20x10, centre 10 columns
    assert np.all(halved[1, :, 2:8] >= 250) and np.all(halved[0, :, 2:8] <= 5) and np.all(halved[2, :, 2:8] <= 5)
    (tmp_path / "wide.png").unlink()
    _bands(40, 20).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "tall.png")  # 20 wide, 40 high
    tall = load_dataset(str(tmp_path), image_size=20).x[0]
    assert np.all(tall.max(axis=0) == 255) and np.all(tall[1] == 255)  # the green middle half only


def test_channel_conversion_of_grey_rgba_and_palette_images(tmp_path):
    grey = RNG.integers(0, 256, (6, 6), dtype=np.uint8)
    (tmp_path / "grey").mkdir()
    Image.fromarray(grey, "L").save(tmp_path / "grey" / "g.png")
    only_grey = load_dataset(str(tmp_path / "grey"))
    assert only_grey.x.shape == (1, 1, 6, 6) and np.array_equal(only_grey.x[0, 0], grey)  # default: 1 channel
    as_rgb = load_dataset(str(tmp_path / "grey"), channels=3).x[0]
    assert all(np.array_equal(as_rgb[c], grey) for c in range(3))

    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 0)        # fully transparent: the white background shows
    rgba[0, 1] = (0, 0, 255, 255)      # opaque blue
    rgba[1, 0] = (0, 0, 0, 128)        # half-transparent black over white: 255 * (1 - 128/255) = 127
    rgba[1, 1] = (255, 0, 0, 255)      # opaque red
    (tmp_path / "rgba").mkdir()
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba" / "a.png")
    x = load_dataset(str(tmp_path / "rgba")).x[0].astype(int)
    assert x.shape == (3, 2, 2)
    assert x[:, 0, 0].tolist() == [255, 255, 255] and x[:, 0, 1].tolist() == [0, 0, 255]
    assert np.all(np.abs(x[:, 1, 0] - 127) <= 1) and x[:, 1, 1].tolist() == [255, 0, 0]
    red_as_grey = load_dataset(str(tmp_path / "rgba"), channels=1).x[0, 0, 1, 1]
    assert abs(int(red_as_grey) - 76) <= 1                       # ITU-R 601-2 luma: 0.299 * 255

    (tmp_path / "pal").mkdir()
    pal = Image.new("P", (2, 2))
    pal.putpalette([10, 20, 30, 200, 100, 50, 1, 2, 3] + [0] * 759)
    pal.putdata([2, 0, 1, 2])
    pal.save(tmp_path / "pal" / "p.png")
    p = load_dataset(str(tmp_path / "pal")).x[0]
    assert p.shape == (3, 2, 2) and p.reshape(3, 4).T.tolist() == [[1, 2, 3], [10, 20, 30], [200, 100, 50], [1, 2, 3]]


def test_sixteen_bit_grey_png_keeps_its_contrast(tmp_path):
    levels = np.array([[0, 16384], [32768, 65535]], dtype=np.uint16)
    Image.fromarray(levels).save(tmp_path / "deep.png")
    x = load_dataset(str(tmp_path)).x
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.uint8
    assert np.all(np.abs(x[0, 0].astype(int) - levels / 257.0) <= 1)


def test_image_folder_without_image_size_keeps_the_native_size(tmp_path):
    _bands(8, 4).save(tmp_path / "a.png")
    x = load_dataset(str(tmp_path)).x
    assert x.shape == (1, 3, 4, 8) and x[0, 0, :, :2].min() == 255 and x[0, 2, :, 6:].min() == 255


def test_hidden_files_and_folders_are_not_data(tmp_path):
    for label in ("a", "b", ".ipynb_checkpoints"):
        (tmp_path / label).mkdir()
        Image.new("L", (4, 4), 50).save(tmp_path / label / "x.png")
    (tmp_path / "a" / "._x.png").write_bytes(b"\0\5\x16\7 resource fork")          # macOS copies leave these
    data = load_dataset(tmp_path)                                                   # a Path works as well as a str
    assert len(data) == 2 and data.class_names == ("a", "b") and data.y.tolist() == [0, 1]


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((2, 4), dtype=np.uint8)
    stored[:, 2:] = 255                                       # 4 wide, 2 high: left half black, right half white
    exif = Image.Exif()
    exif[0x0112] = 6                                          # "rotate 90 degrees clockwise to display"
    Image.fromarray(stored, "L").save(tmp_path / "phone.jpg", exif=exif, quality=100)
    Image.fromarray(np.full((4, 2), 128, dtype=np.uint8), "L").save(tmp_path / "upright.png")
    x = load_dataset(tmp_path).x.astype(int)                 # both 2 wide, 4 high as displayed
    assert x.shape == (2, 1, 4, 2)
    assert np.all(x[0, 0, :2] < 30) and np.all(x[0, 0, 2:] > 225)   # the black half is now on top


def test_image_folder_with_train_and_test_subfolders_gives_the_splits(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for label in ("a", "b"):
            (tmp_path / "set" / split / label).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((4, 4), 40 * i, dtype=np.uint8), "L").save(
                    tmp_path / "set" / split / label / f"{i}.png")
    train = load_dataset(str(tmp_path / "set"), split="train")
    test = load_dataset(str(tmp_path / "set"), split="test")
    assert len(train) == 6 and len(test) == 4 and train.name == "set"
    assert train.y.tolist() == [0, 0, 0, 1, 1, 1] and test.y.tolist() == [0, 0, 1, 1]


def test_limit_on_an_image_folder_is_a_seeded_subset_with_matching_labels(tmp_path):
    for i in range(12):
        label = "ab"[i % 2]
        (tmp_path / label).mkdir(exist_ok=True)
        Image.fromarray(np.full((3, 3), 20 * i, dtype=np.uint8), "L").save(tmp_path / label / f"{i:02d}.png")
    full = load_dataset(str(tmp_path))
    first = load_dataset(str(tmp_path), limit=5, seed=3)
    again = load_dataset(str(tmp_path), limit=5, seed=3)
    other = load_dataset(str(tmp_path), limit=5, seed=4)
    assert len(first) == 5 and np.array_equal(first.x, again.x)
    assert not np.array_equal(first.x, other.x)
    # each kept image is one of the folder's, with its own label; intensity 20 * i tells which file it was
    for item, label in zip(first.x, first.y, strict=True):
        i = int(item[0, 0, 0]) // 20
        assert label == (0 if i % 2 == 0 else 1) and np.array_equal(item, full.x[full.x[:, 0, 0, 0] == 20 * i][0])


# ---------------------------------------------------------------- .npz

def test_npz_images_nchw_nhwc_and_nhw(tmp_path):
    nhwc = RNG.integers(0, 256, (4, 5, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "nhwc.npz", x=nhwc, y=np.array([0, 2, 1, 2]))
    data = load_dataset(str(tmp_path / "nhwc.npz"))
    assert data.x.shape == (4, 3, 5, 6) and data.kind == "image"
    assert all(data.x[n, c, h, w] == nhwc[n, h, w, c] for n, c, h, w in np.ndindex(4, 3, 5, 6))
    assert data.y.tolist() == [0, 2, 1, 2] and data.y.dtype == np.int64 and data.num_classes == 3

    nchw = RNG.integers(0, 256, (3, 1, 7, 7), dtype=np.uint8)
    np.savez(tmp_path / "nchw.npz", x=nchw)
    data = load_dataset(str(tmp_path / "nchw.npz"))
    assert np.array_equal(data.x, nchw) and data.y is None and data.num_classes is None

    nhw = RNG.integers(0, 256, (2, 9, 8), dtype=np.uint8)
    np.savez_compressed(tmp_path / "nhw.npz", x=nhw, y=np.array([1.0, 0.0]))  # whole-number float labels
    data = load_dataset(str(tmp_path / "nhw.npz"))
    assert np.array_equal(data.x[:, 0], nhw) and data.y.tolist() == [1, 0]
    resized = load_dataset(str(tmp_path / "nhw.npz"), image_size=4, channels=3)
    assert resized.x.shape == (2, 3, 4, 4)
    assert np.array_equal(resized.x[:, 0], resized.x[:, 1]) and np.array_equal(resized.x[:, 0], resized.x[:, 2])


def test_npz_float_vectors_with_and_without_labels(tmp_path):
    x = RNG.standard_normal((10, 3))
    np.savez(tmp_path / "vec.npz", x=x)
    data = load_dataset(str(tmp_path / "vec.npz"))
    assert data.kind == "vector" and data.x.dtype == np.float32 and data.x.shape == (10, 3)
    assert np.allclose(data.x, x, atol=1e-6) and data.y is None
    np.savez(tmp_path / "vec_y.npz", x=x, y=np.arange(10) % 4)
    assert load_dataset(str(tmp_path / "vec_y.npz")).y.tolist() == (np.arange(10) % 4).tolist()
    sub = load_dataset(str(tmp_path / "vec_y.npz"), limit=4, seed=0)
    for row, label in zip(sub.x, sub.y, strict=True):
        i = int(np.argmin(np.abs(x - row).sum(axis=1)))
        assert np.allclose(row, x[i], atol=1e-6) and label == i % 4


def test_bad_npz_files(tmp_path):
    np.savez(tmp_path / "nox.npz", images=np.zeros((2, 4, 4), dtype=np.uint8))
    assert_one_line_error(str(tmp_path / "nox.npz"), str(tmp_path / "nox.npz"), "'x'", "images")
    np.save(tmp_path / "plain.npy", np.zeros((2, 3)))
    (tmp_path / "plain.npy").rename(tmp_path / "plain.npz")       # an .npy under an .npz name
    assert_one_line_error(str(tmp_path / "plain.npz"), str(tmp_path / "plain.npz"), ".npz")
    (tmp_path / "text.npz").write_text("not an archive")
    assert_one_line_error(str(tmp_path / "text.npz"), str(tmp_path / "text.npz"), ".npz")
    np.savez(tmp_path / "float_images.npz", x=np.zeros((2, 1, 4, 4), dtype=np.float32))
    assert_one_line_error(str(tmp_path / "float_images.npz"), "uint8 images")
    np.savez(tmp_path / "short_y.npz", x=np.zeros((3, 2)), y=np.array([0, 1]))
    assert_one_line_error(str(tmp_path / "short_y.npz"), "short_y.npz", "(3,)")
    np.savez(tmp_path / "nan.npz", x=np.array([[0.0, np.nan]]))
    assert_one_line_error(str(tmp_path / "nan.npz"), "nan.npz", "finite")
    np.savez(tmp_path / "vec.npz", x=np.zeros((3, 2)))
    assert_one_line_error(str(tmp_path / "vec.npz"), "vec", "image_size", image_size=8)


# ---------------------------------------------------------------- IDX

def _idx_bytes(array: np.ndarray) -> bytes:
    """The IDX layout: 0, 0, type code 0x08 (unsigned byte), ndim, then big-endian uint32 sizes and the data."""
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.astype(np.uint8).tobytes()


def _write_idx_pair(folder: Path, prefix: str, n: int, *, gz: bool) -> tuple[np.ndarray, np.ndarray]:
    images = RNG.integers(0, 256, (n, 5, 4), dtype=np.uint8)
    labels = RNG.integers(0, 10, n, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    writer = gzip.open if gz else open
    for kind, code, array in (("images", "idx3", images), ("labels", "idx1", labels)):
        with writer(folder / f"{prefix}-{kind}-{code}-ubyte{suffix}", "wb") as f:
            f.write(_idx_bytes(array))
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_idx_pair_by_folder_prefix_and_images_file(tmp_path, gz):
    train_x, train_y = _write_idx_pair(tmp_path, "train", 6, gz=gz)
    test_x, test_y = _write_idx_pair(tmp_path, "t10k", 3, gz=gz)
    by_folder = load_dataset(str(tmp_path), split="test")
    assert by_folder.x.shape == (3, 1, 5, 4) and np.array_equal(by_folder.x[:, 0], test_x)
    assert by_folder.y.tolist() == test_y.tolist()
    by_prefix = load_dataset(str(tmp_path / "train"))
    assert np.array_equal(by_prefix.x[:, 0], train_x) and by_prefix.y.tolist() == train_y.tolist()
    by_file = load_dataset(str(tmp_path / f"train-images-idx3-ubyte{'.gz' if gz else ''}"))
    assert np.array_equal(by_file.x[:, 0], train_x) and by_file.y.tolist() == train_y.tolist()


def test_idx_images_without_labels_file(tmp_path):
    images = RNG.integers(0, 256, (2, 3, 3), dtype=np.uint8)
    (tmp_path / "mine-images-idx3-ubyte").write_bytes(_idx_bytes(images))
    data = load_dataset(str(tmp_path / "mine-images-idx3-ubyte"))
    assert np.array_equal(data.x[:, 0], images) and data.y is None


def test_bad_idx_files(tmp_path):
    good = _idx_bytes(np.zeros((4, 3, 3), dtype=np.uint8))
    (tmp_path / "magic-images-idx3-ubyte").write_bytes(b"\x12\x34" + good[2:])
    assert_one_line_error(str(tmp_path / "magic-images-idx3-ubyte"), "magic-images-idx3-ubyte", "magic", "12 34")
    (tmp_path / "cut-images-idx3-ubyte").write_bytes(good[:-5])
    assert_one_line_error(str(tmp_path / "cut-images-idx3-ubyte"), "cut-images-idx3-ubyte", "(4, 3, 3)")
    (tmp_path / "head-images-idx3-ubyte").write_bytes(good[:7])
    assert_one_line_error(str(tmp_path / "head-images-idx3-ubyte"), "head-images-idx3-ubyte", "3 dimensions")
    (tmp_path / "few-images-idx3-ubyte").write_bytes(good)
    (tmp_path / "few-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3, dtype=np.uint8)))
    assert_one_line_error(str(tmp_path / "few-images-idx3-ubyte"), "few-labels-idx1-ubyte", "(4,)")
    (tmp_path / "bad-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    assert_one_line_error(str(tmp_path / "bad-images-idx3-ubyte.gz"), "bad-images-idx3-ubyte.gz", "IDX")


# ---------------------------------------------------------------- CSV

def test_csv_with_a_label_column_and_without(tmp_path):
    (tmp_path / "labelled.csv").write_text("a,Label,b\n1.5,0,2\n-3,2,4e-1\n\n0,1,7\n")
    data = load_dataset(str(tmp_path / "labelled.csv"))
    assert data.kind == "vector" and data.x.dtype == np.float32
    assert data.x.tolist() == [[1.5, 2.0], [-3.0, np.float32(0.4)], [0.0, 7.0]]
    assert data.y.tolist() == [0, 2, 1] and data.num_classes == 3
    (tmp_path / "bare.csv").write_text("1,2,3\n4,5,6\n")
    bare = load_dataset(str(tmp_path / "bare.csv"))
    assert bare.x.tolist() == [[1, 2, 3], [4, 5, 6]] and bare.y is None
    (tmp_path / "named.csv").write_text("x1,x2\n1,2\n")
    assert load_dataset(str(tmp_path / "named.csv")).x.tolist() == [[1, 2]]
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbfy,a\r\n1,0.5\r\n0,2\r\n")   # UTF-8 byte-order mark, CRLF
    excel = load_dataset(str(tmp_path / "excel.csv"))
    assert excel.y.tolist() == [1, 0] and excel.x.tolist() == [[0.5], [2.0]]
    (tmp_path / "excel_bare.csv").write_bytes(b"\xef\xbb\xbf1,2\r\n3,4\r\n")
    assert load_dataset(str(tmp_path / "excel_bare.csv")).x.tolist() == [[1, 2], [3, 4]]


def test_bad_csv_files(tmp_path):
    (tmp_path / "text.csv").write_text("1,2,3\n4,five,6\n")
    assert_one_line_error(str(tmp_path / "text.csv"), "text.csv", "line 2 column 2", "'five'", "expected a number")
    (tmp_path / "text_header.csv").write_text("a,b\n1,2\n3,x\n")
    assert_one_line_error(str(tmp_path / "text_header.csv"), "text_header.csv", "line 3 column 2", "'x'")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    assert_one_line_error(str(tmp_path / "ragged.csv"), "ragged.csv", "line 2", "expected 2")
    (tmp_path / "wide_header.csv").write_text("a,b,label\n1,2,0,5\n")
    assert_one_line_error(str(tmp_path / "wide_header.csv"), "wide_header.csv", "header", "3", "4")
    (tmp_path / "semicolons.csv").write_text("1;2\n3;4\n")
    assert_one_line_error(str(tmp_path / "semicolons.csv"), "semicolons.csv", "'3;4'", "commas")
    (tmp_path / "empty.csv").write_text("\n\n")
    assert_one_line_error(str(tmp_path / "empty.csv"), "empty.csv", "empty")
    (tmp_path / "half.csv").write_text("a,label\n1,0.5\n")
    assert_one_line_error(str(tmp_path / "half.csv"), "half.csv", "whole numbers")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x81")
    assert_one_line_error(str(tmp_path / "binary.csv"), "binary.csv", "CSV")


# ---------------------------------------------------------------- CIFAR-10 binary

def _cifar_records(n: int, first_label: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """n records of the binary version: 1 label byte, then 1,024 red, 1,024 green and 1,024 blue bytes."""
    red = RNG.integers(0, 256, (n, 1024), dtype=np.uint8)
    green = RNG.integers(0, 256, (n, 1024), dtype=np.uint8)
    blue = RNG.integers(0, 256, (n, 1024), dtype=np.uint8)
    labels = (first_label + np.arange(n)) % 10
    raw = b"".join(bytes([int(labels[i])]) + red[i].tobytes() + green[i].tobytes() + blue[i].tobytes()
                   for i in range(n))
    return raw, np.stack([red, green, blue], axis=1), labels


def _cifar_folder(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder.mkdir()
    made = {}
    for name, n in (("data_batch_1", 2), ("data_batch_2", 1), ("data_batch_3", 3), ("data_batch_4", 1),
                    ("data_batch_5", 2), ("test_batch", 3)):
        raw, planes, labels = _cifar_records(n, first_label=len(made))
        (folder / f"{name}.bin").write_bytes(raw)
        made[name] = planes, labels
    return made


def test_cifar10_train_and_test_batches_with_red_plane_first(tmp_path):
    made = _cifar_folder(tmp_path / "cifar-10-batches-bin")
    train = load_dataset(f"cifar10:{tmp_path / 'cifar-10-batches-bin'}")
    assert train.x.shape == (9, 3, 32, 32) and train.x.dtype == np.uint8 and train.num_classes == 10
    planes = np.concatenate([made[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = np.concatenate([made[f"data_batch_{i}"][1] for i in range(1, 6)])
    for c in range(3):  # channel c, row r, column k is byte 1 + 1024 c + 32 r + k of the record
        assert np.array_equal(train.x[:, c].reshape(9, 1024), planes[:, c])
    assert train.y.tolist() == labels.tolist() and train.class_names[0] == "airplane"
    test = load_dataset(str(tmp_path / "cifar-10-batches-bin"), split="test")   # the plain folder works too
    assert len(test) == 3 and np.array_equal(test.x[0, 0, 0, :4], made["test_batch"][0][0, 0, :4])
    assert test.y.tolist() == made["test_batch"][1].tolist()


def test_cifar10_conversion_to_grey_and_size(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    record = bytes([3]) + bytes([255]) * 1024 + bytes(1024) + bytes(1024)  # pure red
    (folder / "test_batch.bin").write_bytes(record)
    data = load_dataset(f"cifar10:{folder}", split="test", channels=1, image_size=16)
    assert data.x.shape == (1, 1, 16, 16) and np.all(np.abs(data.x.astype(int) - 76) <= 1)


def test_bad_cifar10_folders(tmp_path):
    folder = tmp_path / "cifar"
    folder.mkdir()
    raw, _, _ = _cifar_records(2, first_label=0)
    (folder / "test_batch.bin").write_bytes(raw[:-100])
    assert_one_line_error(f"cifar10:{folder}", "test_batch.bin", "3073", split="test")
    assert_one_line_error(f"cifar10:{folder}", "data_batch_1.bin", str(folder), split="train")
    (folder / "test_batch.bin").write_bytes(bytes([12]) + raw[1:])
    assert_one_line_error(f"cifar10:{folder}", "test_batch.bin", "0..9", split="test")
    assert_one_line_error("cifar10", "cifar10:")


# ---------------------------------------------------------------- missing and unsupported sources

def test_missing_path_unknown_name_and_unsupported_files(tmp_path):
    assert_one_line_error(str(tmp_path / "nope.npz"), str(tmp_path / "nope.npz"), "no such file")
    message = assert_one_line_error("mnsit", "mnsit", "digits", "mnist", "ring8", "grid25", "moons", "checkerboard")
    assert "swissroll" in message
    (tmp_path / "model.bin").write_bytes(b"\0" * 10)
    assert_one_line_error(str(tmp_path / "model.bin"), "model.bin", ".npz", ".csv")
    assert_one_line_error("", "built-in name", "digits")
    assert_one_line_error("digits", "digits", "seed", "-2", seed=-2)


def test_empty_and_non_image_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(str(tmp_path / "empty"), str(tmp_path / "empty"), "image files", ".png")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello")
    assert_one_line_error(str(tmp_path / "notes"), "notes", "image files")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "photo.png").write_text("this is not a picture")
    assert_one_line_error(str(tmp_path / "fake"), "photo.png", "image file")
    (tmp_path / "cut").mkdir()
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "cut" / "c.png")
    raw = (tmp_path / "cut" / "c.png").read_bytes()
    (tmp_path / "cut" / "c.png").write_bytes(raw[: len(raw) // 2])
    assert_one_line_error(str(tmp_path / "cut"), "c.png", "image file")


def test_image_folder_options_are_checked(tmp_path):
    Image.new("RGB", (5, 4)).save(tmp_path / "a.png")
    Image.new("RGB", (6, 6)).save(tmp_path / "b.png")
    assert_one_line_error(str(tmp_path), str(tmp_path), "image_size")     # mixed sizes need image_size
    for bad in (0, -3):
        assert_one_line_error(str(tmp_path), "image_size", str(bad), image_size=bad)
    assert_one_line_error(str(tmp_path), "channels", "1 or 3", channels=2, image_size=4)
    assert_one_line_error(str(tmp_path), "limit", limit=0, image_size=4)
    assert_one_line_error(str(tmp_path), "split", split="valid")
