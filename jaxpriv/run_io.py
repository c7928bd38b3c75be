"""Writing run outputs safely: atomic files, run metadata, plain-text tables."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxpriv.checkpoint import library_versions


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        make_readable(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_readable(path: str | Path) -> None:
    """Give a file made by ``mkstemp`` (mode 0600) the permissions ``open`` would have."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


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


def run_metadata(*, method: str, config: Any, grid: Sequence[Mapping], **extra: Any) -> dict:
    """JSON metadata stored with every checkpoint: enough to restore and evaluate it."""
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    meta = {"method": method, "config": cfg, "grid": [dict(v) for v in grid], **extra}
    meta["versions"] = library_versions()
    return json.loads(json.dumps(meta))  # fail now, naming nothing half-saved, if not JSON-able


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A markdown table; floats with 3 decimals."""

    def cell(v: Any) -> str:
        if isinstance(v, bool):
            return "yes" if v else "NO"
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
