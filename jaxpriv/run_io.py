"""Writing run outputs safely: atomic files, run metadata, plain-text tables."""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader, or a crash, sees the old file or the new one.

    The bytes go to a new temporary file in the same folder, are flushed and fsynced, and
    the file is renamed over ``path``; then the folder is fsynced so that the rename
    survives a power cut (best effort: some platforms cannot open a folder). The file gets
    the mode ``open`` would give it (``0o666`` less the umask): the kernel applies the
    umask when the file is created, and the process umask is never changed, since other
    threads (e.g. Orbax's asynchronous checkpoint writers) may be creating files meanwhile.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp_file(path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def _create_temp_file(folder: Path, *, prefix: str, suffix: str) -> tuple[int, str]:
    """Create a new file with a random name in ``folder``; return its descriptor and path.

    Like ``tempfile.mkstemp`` (``O_EXCL``, so never an existing file or a planted link),
    but with mode ``0o666``, which the kernel reduces by the umask as ``open`` does;
    ``mkstemp`` makes 0600 files, which would need the umask to be read to fix.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    flags |= getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        name = os.path.join(folder, f"{prefix}{secrets.token_hex(8)}{suffix}")
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name {prefix}*{suffix} in {folder}")


def fsync_directory(folder: str | Path) -> None:
    """fsync a folder, so that renames and new files in it are on disk. Best effort: a
    platform that cannot open folders (Windows) or a file system that refuses to sync one
    is skipped silently."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy arrays/scalars as lists/numbers, sets as sorted lists, and
    NaN/inf as null, so the file is strict JSON."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (set, frozenset)):
        return [jsonable(v) for v in sorted(obj)]
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json_atomic(path: str | Path, obj: Any) -> None:
    text = json.dumps(jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    write_text_atomic(path, text + "\n")


TEST_DATA_KEY = "test_data"  # summary.json: the dataset the run is released and attacked on


def record_test_data(run_dir: str | Path, test_data: Mapping[str, Any]) -> None:
    """Store ``test_data`` (``spec``, ``subjects``, ``rate_hz``, ``name``, ``users``, ...)
    in ``run_dir/summary.json`` under ``"test_data"``, replacing an earlier one."""
    path = Path(run_dir) / "summary.json"
    summary = _read_summary(path)
    if summary is None:
        raise FileNotFoundError(f"{path}: no summary to record the test data in")
    write_json_atomic(path, {**summary, TEST_DATA_KEY: dict(test_data)})


def recorded_test_data(run_dir: str | Path) -> dict[str, Any] | None:
    """The dataset a run was trained to be released and attacked on (the trainer's
    ``--test-data``): ``{"spec", "subjects", "rate_hz", "name", "users", ...}`` from
    ``run_dir/summary.json``, where ``spec``, ``subjects`` (``--test-subjects``) and
    ``rate_hz`` (``--test-rate``, ``None`` for the data's own) load it again. ``None``
    when the run recorded none or has no summary; ``ValueError`` naming the file when
    the summary is not JSON or the record lacks ``spec``."""
    path = Path(run_dir) / "summary.json"
    summary = _read_summary(path)
    if summary is None or summary.get(TEST_DATA_KEY) is None:
        return None
    record = summary[TEST_DATA_KEY]
    if not isinstance(record, Mapping) or not isinstance(record.get("spec"), str):
        raise ValueError(f"{path}: {TEST_DATA_KEY!r} should be an object with a 'spec' string")
    return dict(record)


def _read_summary(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: unreadable ({err})") from err
    if not isinstance(summary, dict):
        raise ValueError(f"{path}: a run summary is a JSON object")
    return summary


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A markdown table; floats with 3 decimals."""

    def cell(v: Any) -> str:
        if isinstance(v, bool):
            return "yes" if v else "NO"
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
