"""genlab.labels: one parser turns a label option into n class labels, with one-line errors."""
from __future__ import annotations

import pytest
import torch

from genlab.errors import ModelInputError
from genlab.labels import class_labels


def test_none_cycles_the_classes_and_an_int_repeats():
    assert class_labels(None, 12, 10).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert class_labels(7, 3, 10).tolist() == [7, 7, 7]
    assert class_labels(torch.tensor([1, 2]), 5, 10).tolist() == [1, 2, 1, 2, 1]
    got = class_labels([3, 4, 5], 3, 10)
    assert got.dtype == torch.int64 and got.tolist() == [3, 4, 5]


def test_out_of_range_and_empty_labels_are_one_line_errors():
    with pytest.raises(ModelInputError, match=r"--label must be a class in 0..9, got -1, 10$"):
        class_labels([3, 10, -1, 10], 4, 10)
    with pytest.raises(ModelInputError, match="got no labels"):
        class_labels([], 4, 10)
    with pytest.raises(ModelInputError, match="or a list of them"):
        class_labels("seven", 4, 10)
