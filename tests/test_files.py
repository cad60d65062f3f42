"""genlab.files: atomic writes leave either the old file or the new one, and nothing beside them."""
from __future__ import annotations

import json

import numpy as np
import pytest

from genlab.files import atomic_target, write_json_atomic, write_npz_atomic, write_text_atomic


def test_json_and_text_are_written_whole_and_replace_the_old_file(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_json_atomic(path, {"b": 1, "a": 2})
    assert path.read_text() == '{\n  "b": 1,\n  "a": 2\n}\n'
    write_json_atomic(path, {"b": 1, "a": 2}, sort_keys=True)
    assert list(json.loads(path.read_text())) == ["a", "b"]
    write_text_atomic(path, "x\n")
    assert path.read_text() == "x\n" and [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_npz_keeps_its_exact_name_and_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "stats.npz"
    write_npz_atomic(path, mu=np.arange(3))
    with pytest.raises(RuntimeError), atomic_target(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash while writing")
    with np.load(path) as f:
        assert f["mu"].tolist() == [0, 1, 2]
    write_npz_atomic(tmp_path / "plain.bin", compressed=True, x=np.zeros(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.bin", "stats.npz"]
