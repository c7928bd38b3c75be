"""jaxpriv.run_io: atomic writes never touch the umask, sync before renaming, JSON rules."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from jaxpriv import run_io

_REAL_UMASK = os.umask  # the fixture restores the umask after monkeypatch forbids os.umask


@pytest.fixture
def umask_027():
    """Run with umask 0o027 (not the usual 0o022, so a hard-coded default would show)."""
    old = _REAL_UMASK(0o027)
    try:
        yield 0o027
    finally:
        _REAL_UMASK(old)


def _forbid_umask(monkeypatch: pytest.MonkeyPatch) -> None:
    def umask(_mask: int) -> int:
        raise AssertionError("os.umask called: it changes the umask of every thread")

    monkeypatch.setattr(os, "umask", umask)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_writes_never_change_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_027: int
) -> None:
    _forbid_umask(monkeypatch)
    run_io.write_json_atomic(tmp_path / "a.json", {"x": np.float32(1.5), "y": [np.nan]})
    run_io.write_text_atomic(tmp_path / "sub" / "b.txt", "text\n")
    run_io.write_bytes_atomic(tmp_path / "a.json", b"{}\n")  # over an existing file
    assert _mode(tmp_path / "a.json") == 0o666 & ~umask_027 == 0o640
    assert _mode(tmp_path / "sub" / "b.txt") == 0o640
    assert (tmp_path / "a.json").read_bytes() == b"{}\n"
    assert (tmp_path / "sub" / "b.txt").read_text() == "text\n"
    assert sorted(os.listdir(tmp_path)) == ["a.json", "sub"]  # no temporary file left


def test_fsync_before_replace_then_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        kind = "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        if kind == "file":  # everything written must already be in the file
            calls.append((kind, str(os.fstat(fd).st_size)))
        else:
            calls.append((kind, ""))
        real_fsync(fd)

    def replace(src, dst) -> None:
        calls.append(("replace", Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    run_io.write_text_atomic(tmp_path / "r.txt", "12345")
    assert calls == [("file", "5"), ("replace", "r.txt"), ("folder", "")]
    calls.clear()
    run_io.write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert [c[0] for c in calls] == ["file", "replace", "folder"]


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keep.txt"
    run_io.write_text_atomic(target, "old")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        run_io.write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_fsync_directory_is_best_effort(tmp_path: Path) -> None:
    assert run_io.fsync_directory(tmp_path) is None
    assert run_io.fsync_directory(tmp_path / "missing") is None  # no error: nothing to sync
    assert not (tmp_path / "missing").exists()  # and nothing created


def test_json_is_strict() -> None:
    obj = {"a": np.arange(3), "b": np.float64("inf"), "c": {2, 1}, 3: (np.int64(4),)}
    assert run_io.jsonable(obj) == {"a": [0, 1, 2], "b": None, "c": [1, 2], "3": [4]}
    json.dumps(run_io.jsonable(obj), allow_nan=False)
