"""Video metrics by hand: digit crops, identity consistency, continuation error; clips written as GIF and strip."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from genlab.data.video_files import read_gif
from genlab.errors import ModelInputError
from genlab.metrics.video import continuation_error, digit_crops, identity_consistency, per_frame_frechet
from genlab.viz.video import save_gif, save_strip_png


def test_digit_crop_is_centred_on_the_centre_of_mass() -> None:
    frame = -torch.ones(1, 1, 32, 32)
    frame[0, 0, 10:14, 20:24] = 1.0                   # centre of mass (11.5, 21.5)
    crop = digit_crops(frame, crop=8)                 # window rows 8..15, cols 18..25
    window = frame[:, :, 8:16, 18:26]
    torch.testing.assert_close(crop, F.interpolate(window, size=(28, 28), mode="bilinear", align_corners=False))
    corner = -torch.ones(1, 1, 32, 32)
    corner[0, 0, 0, 31] = 1.0                         # clamped into the frame
    torch.testing.assert_close(digit_crops(corner, crop=8)[0, 0, 0, -1], torch.tensor(1.0))
    with pytest.raises(ModelInputError, match="grey frames"):
        digit_crops(torch.zeros(1, 3, 8, 8))


def test_identity_consistency_counts_clips_with_one_label() -> None:
    labels = torch.tensor([[1, 1, 1], [1, 2, 1], [7, 7, 7], [0, 0, 3]])
    assert identity_consistency(labels) == 0.5


def test_continuation_error_against_copying_the_last_frame() -> None:
    future = torch.zeros(1, 2, 1, 1, 2)
    predicted = torch.full((1, 2, 1, 1, 2), 0.5)
    last = torch.ones(1, 1, 1, 2)
    assert continuation_error(predicted, future, last) == {"mse": 0.25, "mse_copy_last": 1.0}


def test_per_frame_frechet_is_zero_for_the_same_features_and_grows_with_a_shift() -> None:
    feats = torch.from_numpy(np.random.default_rng(0).normal(size=(200, 3, 4)))
    same = per_frame_frechet(feats, feats)
    assert max(abs(v) for v in same) < 1e-8
    shifted = feats.clone()
    shifted[:, 1] += 2.0                              # frame 1 moved by 2 in each of 4 dimensions: |mu diff|^2 = 16
    assert per_frame_frechet(feats, shifted)[1] == pytest.approx(16.0, abs=1e-6)


def test_clips_round_trip_through_gif_and_strip(tmp_path) -> None:
    clips = torch.randint(0, 256, (2, 3, 1, 5, 5), dtype=torch.uint8)
    save_gif(clips, tmp_path / "c.gif", nrow=2, scale=1, padding=0)
    frames = read_gif(tmp_path / "c.gif")
    assert frames.shape == (3, 1, 5, 10)
    assert np.array_equal(frames[:, 0, :, 5:], clips[1, :, 0].numpy())
    save_strip_png(clips, tmp_path / "c.png", scale=1, padding=1)
    from PIL import Image
    strip = np.asarray(Image.open(tmp_path / "c.png"))
    assert strip.shape == (1 + 2 * 6, 1 + 3 * 6) and np.array_equal(strip[7:12, 13:18], clips[1, 2, 0].numpy())


def test_label_spread_counts_first_frame_labels() -> None:
    from genlab.metrics.video import label_spread
    labels = torch.tensor([[3, 1], [3, 3], [5, 5], [3, 0]])
    assert label_spread(labels) == {"top_label_share": 0.75, "classes_seen": 2}
