"""Records: a result file that says what produced it.

A record is a JSON object holding the measured ``results`` and the facts needed to
judge them: the command that ran, the git commit of the code (and whether the
checkout had uncommitted changes), the UTC date, the machine, the jax devices, the
load average and the library versions. Every number quoted in ``README.md``,
``docs/`` and ``benchmarks/RESULTS.md`` comes from a committed record (see
``docs/records.md``; ``tests/test_doc_records.py`` checks it).

    start = load_average()
    ...
    write_record("benchmarks/results/x.json", results, command=sys.argv, load_at_start=start)

Records written by hand from an earlier session's notes (the run's outputs were not
committed) carry the same fields plus ``provenance``.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
from pathlib import Path
from typing import Any

from jaxpriv.run_io import write_json_atomic

FORMAT = "jaxpriv-record/1"
REQUIRED = ("command", "commit", "date", "machine", "device", "load", "results")
UNKNOWN = "unknown"
_CODE_ROOT = Path(__file__).resolve().parent.parent  # the checkout holding jaxpriv/


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def git_commit(repo: str | Path | None = None) -> dict[str, Any]:
    """``{"commit": sha, "dirty": bool}`` of the checkout at ``repo`` (default: the one
    this jaxpriv runs from); ``{"commit": "unknown", "dirty": None}`` outside git.

    Dirty means tracked files differ from the commit (untracked files are not counted)."""
    cwd = Path(repo) if repo is not None else _CODE_ROOT

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=True
        )
        return done.stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": UNKNOWN, "dirty": None}
    return {"commit": sha, "dirty": dirty}


def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def machine() -> dict[str, Any]:
    return {"arch": platform.machine(), "cpu": cpu_model(), "cpu_count": os.cpu_count()}


def device() -> dict[str, Any]:
    """The jax devices this process computes on (imports jax only when called)."""
    import jax

    devices = jax.devices()
    return {
        "platform": jax.default_backend(),
        "count": len(devices),
        "kinds": sorted({d.device_kind for d in devices}),
        "devices": [str(d) for d in devices],
    }


LIBRARIES = ("jaxpriv", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy")


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that produced a result or a checkpoint."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = UNKNOWN
    return out


def make_record(
    results: dict[str, Any],
    *,
    command: str | list[str] | tuple[str, ...],
    load_at_start: list[float] | tuple[float, ...] | None = None,
    repo: str | Path | None = None,
) -> dict[str, Any]:
    """The record of ``results`` produced by ``command`` (a string or an argv list)."""
    if not isinstance(results, dict):
        raise TypeError(f"results must be a dict, got {type(results).__name__}")
    if not isinstance(command, str):
        command = shlex.join(str(c) for c in command)
    if not command.strip():
        raise ValueError("command is empty: a record must say what produced it")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return {
        "format": FORMAT,
        "command": command,
        **git_commit(repo),
        "date": now.isoformat().replace("+00:00", "Z"),
        "machine": machine(),
        "device": device(),
        "load": {
            "start": list(load_at_start) if load_at_start is not None else None,
            "end": load_average(),
        },
        "versions": versions(),
        "results": results,
    }


def write_record(
    path: str | Path,
    results: dict[str, Any],
    *,
    command: str | list[str] | tuple[str, ...],
    load_at_start: list[float] | tuple[float, ...] | None = None,
    repo: str | Path | None = None,
) -> None:
    """Write ``results`` with their provenance to ``path`` as JSON, atomically (a reader
    sees the old file or the new one, never half of one)."""
    write_json_atomic(
        path, make_record(results, command=command, load_at_start=load_at_start, repo=repo)
    )


def read_record(path: str | Path) -> dict[str, Any]:
    """A record from ``path``; ``ValueError`` naming the file if it lacks a required field."""
    with open(path, encoding="utf-8") as fh:
        record = json.load(fh)
    if not isinstance(record, dict):
        raise ValueError(f"{path}: a record is a JSON object, got {type(record).__name__}")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise ValueError(f"{path}: not a record, missing {missing} (required: {list(REQUIRED)})")
    if not isinstance(record["command"], str) or not record["command"].strip():
        raise ValueError(f"{path}: 'command' must be a non-empty string")
    return record
