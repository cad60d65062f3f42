"""Picture helpers: grid and strip geometry and pixels, atomic writes, curves and point plots."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.errors import ModelInputError
from genlab.viz import plot_curves, plot_points, save_grid, save_strip, smooth
from genlab.files import atomic_target


def test_grids_are_enlarged_to_a_readable_size():
    from genlab.viz import readable_scale
    assert [readable_scale(h) for h in (8, 28, 32, 56, 64, 256)] == [7, 2, 2, 1, 1, 1]


def test_grid_size_and_pixels(tmp_path):
    x = torch.stack([torch.full((1, 8, 8), 20 * i, dtype=torch.uint8) for i in range(10)])
    path = save_grid(x, tmp_path / "g.png", nrow=4, padding=2, scale=3)
    img = np.asarray(Image.open(path))
    # 3 rows of 4 cells; each cell 8 * 3 pixels plus 2 of padding, plus one outer padding
    assert img.shape == (2 + 3 * 26, 2 + 4 * 26)
    for i in range(10):
        r, c = divmod(i, 4)
        top, left = 2 + r * 26, 2 + c * 26
        assert np.all(img[top:top + 24, left:left + 24] == 20 * i)
    assert np.all(img[0] == 255) and np.all(img[:, 1] == 255)
    assert np.all(img[2 + 2 * 26:, 2 + 2 * 26:] == 255)  # the two empty cells of the last row


def test_grid_float_and_rgb(tmp_path):
    x = torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1).expand(2, 3, 4, 4)
    img = np.asarray(Image.open(save_grid(x, tmp_path / "rgb.png", padding=0)))
    assert img.shape == (4, 8, 3)  # ceil(sqrt(2)) = 2 per row
    assert np.all(img[:, :4] == 0) and np.all(img[:, 4:] == 255)


def test_strip_rows_may_differ_in_length(tmp_path):
    rows = [torch.zeros(5, 1, 6, 6, dtype=torch.uint8), torch.full((3, 1, 6, 6), 255, dtype=torch.uint8)]
    img = np.asarray(Image.open(save_strip(rows, tmp_path / "s.png", padding=1, pad_value=128)))
    assert img.shape == (1 + 2 * 7, 1 + 5 * 7)
    assert np.all(img[1:7, 1:7] == 0) and np.all(img[8:14, 1:7] == 255) and np.all(img[8:14, 22:] == 128)


def test_bad_images_are_refused(tmp_path):
    with pytest.raises(ModelInputError, match="C = 1 or 3"):
        save_grid(torch.zeros(2, 4, 8, 8), tmp_path / "a.png")
    with pytest.raises(ModelInputError):
        save_grid(torch.zeros(8, 8), tmp_path / "b.png")
    with pytest.raises(ModelInputError):
        save_strip([torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 4, 4)], tmp_path / "c.png")
    assert list(tmp_path.iterdir()) == []


def test_writes_are_atomic(tmp_path):
    target = tmp_path / "sub" / "pic.png"
    save_grid(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), target, padding=0)
    save_grid(torch.full((1, 1, 4, 4), 9, dtype=torch.uint8), target, padding=0)  # overwrite
    assert np.all(np.asarray(Image.open(target)) == 9)
    assert [p.name for p in target.parent.iterdir()] == ["pic.png"]
    with pytest.raises(RuntimeError), atomic_target(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash while writing")
    assert np.all(np.asarray(Image.open(target)) == 9)  # the old picture survives
    assert [p.name for p in target.parent.iterdir()] == ["pic.png"]


def test_smooth_is_a_debiased_ema():
    assert np.allclose(smooth([1.0, 0.0, 0.0], span=3), [1.0, 1 / 3, 1 / 7])  # weight 1/2
    assert np.allclose(smooth([4.0, 4.0, 4.0, 4.0]), 4.0)
    assert np.array_equal(smooth([1.0, 5.0, 2.0], span=1), [1.0, 5.0, 2.0])


def test_plots_write_pngs(tmp_path):
    steps = np.arange(200)
    path = plot_curves({"loss": (steps, np.exp(-steps / 50) + 0.01), "other": (steps, torch.ones(200))},
                       tmp_path / "curves.png", title="t", ylabel="loss", logy=True)
    assert Image.open(path).format == "PNG" and Image.open(path).size[0] > 100
    pts = np.random.default_rng(0).normal(size=(300, 2))
    path = plot_points(pts, tmp_path / "pts.png", colors=np.arange(300) % 8, centres=np.zeros((1, 2)))
    assert Image.open(path).format == "PNG"
    with pytest.raises(ModelInputError):
        plot_points(np.zeros((5, 3)), tmp_path / "bad.png")
    with pytest.raises(ModelInputError):
        plot_curves({"x": ([1, 2], [1.0])}, tmp_path / "bad.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "pts.png"]


@pytest.mark.parametrize("channels", [1, 3])
def test_one_image_round_trips_exactly_and_scales_by_nearest_neighbour(tmp_path, channels):
    x = torch.randint(0, 256, (1, channels, 5, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    picture = np.asarray(Image.open(save_grid(x, tmp_path / "one.png", padding=0)))
    expected = x[0].permute(1, 2, 0).numpy()
    assert np.array_equal(picture, expected[..., 0] if channels == 1 else expected)
    big = np.asarray(Image.open(save_grid(x, tmp_path / "big.png", padding=0, scale=3)))
    assert big.shape[:2] == (15, 21)
    for dy in range(3):
        for dx in range(3):
            assert np.array_equal(big[dy::3, dx::3], picture)


def test_default_row_length_is_the_ceiling_of_the_square_root(tmp_path):
    x = torch.zeros(5, 1, 3, 4, dtype=torch.uint8)                   # 5 images -> 3 per row, 2 rows
    assert Image.open(save_grid(x, tmp_path / "g.png", padding=1)).size == (1 + 3 * 5, 1 + 2 * 4)
    assert Image.open(save_grid(x, tmp_path / "h.png", nrow=9, padding=0)).size == (5 * 4, 3)  # one short row


def test_float_images_are_clamped_to_the_byte_range(tmp_path):
    x = torch.tensor([-5.0, 0.0, 5.0]).view(3, 1, 1, 1)
    picture = np.asarray(Image.open(save_grid(x, tmp_path / "c.png", nrow=3, padding=0)))
    assert picture.tolist() == [[0, 128, 255]]


def test_plots_are_drawn_not_blank(tmp_path):
    steps = np.arange(50)
    curves = np.asarray(Image.open(plot_curves({"loss": (steps, 1.0 / (1 + steps))}, tmp_path / "c.png"))
                        .convert("RGB")).astype(int)
    assert len(np.unique(curves.reshape(-1, 3), axis=0)) > 10     # axes, ticks and a line, not one flat colour
    ring = 2 * np.stack([np.cos(np.arange(400) / 10), np.sin(np.arange(400) / 10)], axis=1)
    points = np.asarray(Image.open(plot_points(ring, tmp_path / "p.png", colors=np.linspace(0, 1, 400),
                                               limits=(-3, 3))).convert("RGB")).astype(int)
    assert len(np.unique(points.reshape(-1, 3), axis=0)) > 10
    with pytest.raises(ModelInputError, match=r"colors.*\(400,\)"):
        plot_points(ring, tmp_path / "bad.png", colors=np.zeros(7))
    with pytest.raises(ModelInputError, match="centres"):
        plot_points(ring, tmp_path / "bad.png", centres=np.zeros(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "p.png"]
    odd = plot_curves({"loss": (steps, steps)}, tmp_path / "curves.out")   # an unknown suffix gets PNG bytes
    assert Image.open(odd).format == "PNG"
    assert Image.open(plot_curves({"loss": (steps, steps)}, tmp_path / "curves.jpg")).format == "JPEG"


def test_integer_images_are_bytes_and_bad_options_are_one_line_errors(tmp_path):
    x = torch.tensor([0, 7, 255]).view(3, 1, 1, 1)                    # int64 pixel values, not [-1, 1] floats
    picture = np.asarray(Image.open(save_grid(x, tmp_path / "int.png", nrow=3, padding=0)))
    assert picture.tolist() == [[0, 7, 255]]
    for bad, match in ((dict(images=x * 2), "0..255"), (dict(nrow=-2), "nrow"), (dict(nrow=0), "nrow"),
                       (dict(pad_value=300), "pad_value"), (dict(scale=0), "scale")):
        with pytest.raises(ModelInputError, match=match):
            save_grid(bad.pop("images", x), tmp_path / "bad.png", **bad)
    assert [p.name for p in tmp_path.iterdir()] == ["int.png"]


def test_labels_add_margins_with_ink_where_the_labels_are_and_leave_the_grid_itself_unchanged(tmp_path):
    x = torch.stack([torch.full((1, 8, 8), 100 + 10 * i, dtype=torch.uint8) for i in range(6)])
    plain = np.asarray(Image.open(save_grid(x, tmp_path / "plain.png", nrow=3, padding=2, scale=2)))
    assert plain.shape == (2 + 2 * 18, 2 + 3 * 18)                 # labels are opt-in: the bare grid as before
    img = np.asarray(Image.open(save_grid(x, tmp_path / "lab.png", nrow=3, padding=2, scale=2,
                                          row_labels=["y=0", "y=1"], col_labels=["s=-1", "", "s=1"])))
    top, left = img.shape[0] - plain.shape[0], img.shape[1] - plain.shape[1]
    assert top >= 8 and left >= 8                                   # a text line above, a label's width on the left
    assert np.array_equal(img[top:, left:], plain)                  # the cells sit unchanged below/right of it
    dark = img < 128                                                # black ink on the white padding
    for i in range(2):                                              # each row label beside its row
        rows = slice(top + 2 + i * 18, top + 2 + i * 18 + 16)
        assert dark[rows, :left].sum() > 5
    for j, labelled in enumerate([True, False, True]):              # ink over columns 0 and 2, none over 1
        cols = slice(left + 2 + j * 18, left + 2 + j * 18 + 16)
        assert (dark[:top, cols].sum() > 5) == labelled
    assert not dark[:top, :left].any()                              # the corner stays blank
    with pytest.raises(ModelInputError, match="one row label per row"):
        save_grid(x, tmp_path / "bad.png", nrow=3, row_labels=["only one"])


def test_side_by_side_names_head_every_group(tmp_path):
    from genlab.viz import save_side_by_side
    x = torch.zeros(4, 1, 16, 16, dtype=torch.uint8)
    plain = np.asarray(Image.open(save_side_by_side([x, x], tmp_path / "p.png", rows=2, padding=2, scale=2)))
    img = np.asarray(Image.open(save_side_by_side([x, x], tmp_path / "n.png", rows=2, padding=2, scale=2,
                                                  names=["in", "out"])))
    top = img.shape[0] - plain.shape[0]
    assert top > 0 and img.shape[1] == plain.shape[1] and np.array_equal(img[top:], plain)
    ink = [(img[:top, 2 + j * 34:2 + j * 34 + 32] < 128).any() for j in range(5)]   # in out | blank | in out
    assert ink == [True, True, False, True, True]
