"""A run's identity: what it was trained on and with, and its fingerprint.

Two runs are the same run when their method, task (dataset and how it was cut
into windows), config (less the fields that may grow between resumes, such as
``epochs``), grid and jaxpriv version are the same. The fingerprint is a hash
of that identity; resume and reuse compare it, and on a mismatch the
differing fields are named.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from jaxpriv.records import versions

_MAX_SHOWN = 6


def run_identity(
    method: str,
    task: Mapping[str, Any],
    config: Mapping[str, Any],
    grid: Sequence[Mapping[str, Any]],
    *,
    resumable: Sequence[str] = (),
    **more: Any,
) -> tuple[dict[str, Any], str]:
    """``(identity, fingerprint)`` of a run; ``resumable`` config fields are left out,
    ``more`` (method settings outside the config) is part of it."""
    identity = {
        **more,
        "method": method,
        "task": dict(task),
        "config": {k: v for k, v in config.items() if k not in resumable},
        "grid": [dict(v) for v in grid],
        "jaxpriv": versions()["jaxpriv"],
    }
    identity = json.loads(json.dumps(identity))  # the JSON form is what is stored
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return identity, hashlib.sha256(text.encode()).hexdigest()[:16]


def describe_differences(saved: Any, wanted: Any, path: str = "") -> list[str]:
    """Human-readable differences between two identities, e.g.
    ``config.epochs (saved 2, now 3)``; at most a few are listed."""
    diffs = list(_diff(saved, wanted, path))
    if len(diffs) > _MAX_SHOWN:
        diffs = [*diffs[:_MAX_SHOWN], f"and {len(diffs) - _MAX_SHOWN} more fields"]
    return diffs


def _diff(saved: Any, wanted: Any, path: str):
    if isinstance(saved, Mapping) and isinstance(wanted, Mapping):
        for key in sorted({*saved, *wanted}, key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in saved:
                yield f"{where} (not in the saved run, now {_short(wanted[key])})"
            elif key not in wanted:
                yield f"{where} (saved {_short(saved[key])}, now absent)"
            else:
                yield from _diff(saved[key], wanted[key], where)
    elif saved != wanted:
        yield f"{path or 'identity'} (saved {_short(saved)}, now {_short(wanted)})"


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
