"""Moving MNIST (deterministic, the bouncing physics in closed form) and the video readers (npz, GIF, frame folders)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genlab.data import load_dataset
from genlab.data.moving_mnist import MovingMnistSpec, make_moving_mnist, parse_spec, render, trajectories
from genlab.errors import DataError


def _fold(x: np.ndarray, room: float) -> np.ndarray:
    """Free motion folded into [0, room]: elastic bounces off both walls are a triangle wave."""
    m = np.mod(x, 2 * room)
    return room - np.abs(m - room)


def test_trajectories_are_the_folded_free_motion() -> None:
    room, speed, frames = 16.0, 3.0, 40
    rng = np.random.default_rng(5)
    got = trajectories(rng, 6, frames=frames, digits=2, room=room, speed=speed)
    rng = np.random.default_rng(5)                            # the same draws, by hand
    pos = rng.uniform(0.0, room, size=(6, 2, 2))
    theta = rng.uniform(0.0, 2 * np.pi, size=(6, 2))
    vel = speed * np.stack([np.sin(theta), np.cos(theta)], axis=-1)
    f = np.arange(frames)[None, None, :, None]
    np.testing.assert_allclose(got, _fold(pos[:, :, None] + vel[:, :, None] * f, room), atol=1e-9)


def test_render_pastes_digits_at_their_corners_by_maximum() -> None:
    digits = np.zeros((1, 2, 1, 2, 2), dtype=np.uint8)
    digits[0, 0] = 100
    digits[0, 1] = 200
    corners = np.array([[[[0, 0], [3.4, 1.6]], [[1, 1], [0, 0]]]], dtype=float)   # (1, 2 digits, 2 frames, 2)
    clip = render(digits, corners, size=6)
    assert clip.shape == (1, 2, 1, 6, 6)
    assert clip[0, 0, 0, 0, 0] == 100 and clip[0, 0, 0, 1, 1] == 200 and clip[0, 0, 0, 2, 2] == 200
    assert clip[0, 1, 0, 3:5, 2:4].tolist() == [[100, 100], [100, 100]] and clip[0, 1, 0, 0, 0] == 200
    assert clip.sum() == 100 * 3 + 200 * 4 + 100 * 4 + 200 * 4


def test_moving_mnist_is_deterministic_for_a_seed() -> None:
    spec = MovingMnistSpec(frames=5, size=20, digit_size=10, n=12)
    digits = np.random.default_rng(0).integers(0, 256, size=(30, 1, 28, 28), dtype=np.uint8)
    labels = np.arange(30) % 10
    a = make_moving_mnist(digits, labels, spec, n=12, seed=3)
    b = make_moving_mnist(digits, labels, spec, n=12, seed=3)
    c = make_moving_mnist(digits, labels, spec, n=12, seed=4)
    assert a[0].shape == (12, 5, 1, 20, 20) and a[0].dtype == np.uint8
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_the_registered_name_loads_clips_with_labels() -> None:
    train = load_dataset("moving-mnist:n=6,frames=4,size=24,digit_size=12,speed=1", seed=1)
    again = load_dataset("moving-mnist:n=6,frames=4,size=24,digit_size=12,speed=1", seed=1)
    test = load_dataset("moving-mnist:n=6,frames=4,size=24,digit_size=12,speed=1", seed=1, split="test")
    assert train.kind == "video" and train.x.shape == (6, 4, 1, 24, 24) and train.shape == (4, 1, 24, 24)
    assert np.array_equal(train.x, again.x) and not np.array_equal(train.x, test.x)
    assert train.y is not None and train.y.shape == (6,) and train.num_classes == 10


def test_stills_are_the_clips_frames_one_by_one_with_their_clips_labels() -> None:
    clips = load_dataset("moving-mnist:n=5,frames=3,size=16,digit_size=8", seed=2)
    stills = load_dataset("moving-mnist:n=5,frames=3,size=16,digit_size=8,stills=1", seed=2)
    assert stills.kind == "image" and stills.x.shape == (15, 1, 16, 16)
    assert np.array_equal(stills.x[7], clips.x[2, 1])            # frame 1 of clip 2 is image 2 * 3 + 1
    assert clips.y is not None and stills.y is not None
    assert stills.y.tolist() == [int(label) for label in clips.y for _ in range(3)]


@pytest.mark.parametrize("spec, words", [("moving-mnist:speed", "key=value"), ("moving-mnist:fps=3", "key one of"),
                                         ("moving-mnist:frames=x", "not a number"),
                                         ("moving-mnist:stills=2", "stills must be 0"),
                                         ("moving-mnist:digit_size=40", "digit_size must be between")])
def test_bad_moving_mnist_specs_are_one_line_errors(spec: str, words: str) -> None:
    with pytest.raises(DataError, match=words) as err:
        parse_spec(spec)
    assert "\n" not in str(err.value)


def test_npz_of_clips_loads_as_video_in_either_layout(tmp_path) -> None:
    x = np.random.default_rng(0).integers(0, 256, size=(3, 4, 5, 6, 1), dtype=np.uint8)   # N, T, H, W, C
    np.savez(tmp_path / "clips.npz", x=x)
    data = load_dataset(tmp_path / "clips.npz")
    assert data.kind == "video" and data.x.shape == (3, 4, 1, 5, 6)
    assert np.array_equal(data.x[:, :, 0], x[..., 0])
    with pytest.raises(DataError, match="image_size and channels apply to images"):
        load_dataset(tmp_path / "clips.npz", image_size=8)


def _gif(path, frames: np.ndarray) -> None:
    pictures = [Image.fromarray(f) for f in frames]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=50, loop=0)


def test_gif_and_folders_of_clips(tmp_path) -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(3, 6, 7), dtype=np.uint8)
    _gif(tmp_path / "one.gif", frames)
    data = load_dataset(tmp_path / "one.gif")
    assert data.kind == "video" and data.x.shape == (1, 3, 1, 6, 7)
    assert np.array_equal(data.x[0, :, 0], frames)                      # grey GIFs hold their bytes exactly
    for name in ("a", "b"):
        (tmp_path / "clips" / name).mkdir(parents=True)
        for f in range(2):
            Image.fromarray(frames[f]).save(tmp_path / "clips" / name / f"{f:03d}.png")
    folders = load_dataset(f"video:{tmp_path / 'clips'}")
    assert folders.x.shape == (2, 2, 1, 6, 7) and np.array_equal(folders.x[1, 1, 0], frames[1])


def test_bad_video_files_are_one_line_errors(tmp_path) -> None:
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "fake.gif", format="PNG")
    (tmp_path / "text.gif").write_text("not an image")
    for path, words in ((tmp_path / "fake.gif", "expected a GIF file, found PNG"),
                        (tmp_path / "text.gif", "expected a GIF file")):
        with pytest.raises(DataError, match=words) as err:
            load_dataset(path)
        assert "\n" not in str(err.value)
    for name, count in (("a", 3), ("b", 2)):                            # clips of different lengths
        (tmp_path / "clips" / name).mkdir(parents=True)
        for f in range(count):
            Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "clips" / name / f"{f}.png")
    with pytest.raises(DataError, match=r"b has \(2, 1, 4, 4\)"):
        load_dataset(f"video:{tmp_path / 'clips'}")
