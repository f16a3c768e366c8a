"""Atomic writes: the whole file or the previous one, with a new file's usual permissions."""

from __future__ import annotations

import os
import stat

import pytest

from hem_bench.atomic import atomic_path, write_atomic


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_atomic_writes_text_and_bytes_with_the_umask_permissions(tmp_path, monkeypatch):
    import hem_bench.atomic as atomic

    monkeypatch.setattr(atomic, "_UMASK", 0o027)  # the umask, read once at import
    text = write_atomic(tmp_path / "a" / "report.html", "<p>é</p>")
    data = write_atomic(tmp_path / "b.png", b"\x89PNG", sync=True)
    assert text.read_bytes() == "<p>é</p>".encode()
    assert data.read_bytes() == b"\x89PNG"
    assert _mode(text) == _mode(data) == 0o640  # not mkstemp's owner-only 0o600
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.png", "report.html"]


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "record.json"
    write_atomic(target, "old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_atomic_path_keeps_the_suffix_writers_insist_on(tmp_path):
    import numpy as np

    with atomic_path(tmp_path / "scores" / "s.npz", suffix=".npz") as tmp:
        assert tmp.suffix == ".npz" and tmp.parent == tmp_path / "scores"
        np.savez_compressed(tmp, x=np.arange(3))
    assert np.load(tmp_path / "scores" / "s.npz")["x"].tolist() == [0, 1, 2]
    assert [p.name for p in (tmp_path / "scores").iterdir()] == ["s.npz"]
