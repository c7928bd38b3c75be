"""Checks of the report figures' plain-number inputs, done before a figure is opened.

Each ``check_*`` takes what a :mod:`eval.figures` function was given, raises
``ValueError`` naming the offending entry, and returns the values ready to draw; so a
refused input never leaves a figure behind. Accuracies are fractions in ``[0, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def as_1d(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def fraction(name: str, value: Any, *, allow_nan: bool = False) -> float:
    """A number in [0, 1] (an accuracy); NaN only when allowed."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(x):
        if allow_nan:
            return x
        raise ValueError(f"{name} is NaN")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{name} must be an accuracy in [0, 1], got {x}")
    return x


def interval(name: str, ci: Any, value: float) -> tuple[float, float]:
    """(low, high) as error-bar lengths below and above ``value``."""
    try:
        low, high = (float(v) for v in ci)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair, got {ci!r}") from None
    if not low <= high:
        raise ValueError(f"{name} must have low <= high, got ({low}, {high})")
    # A CI that does not contain the point (e.g. a bootstrap percentile) still draws.
    return max(value - low, 0.0), max(high - value, 0.0)


def require_keys(name: str, item: Mapping[str, Any], keys: Sequence[str]) -> None:
    if not isinstance(item, Mapping):
        raise ValueError(f"{name} must be a dict, got {type(item).__name__}")
    missing = [k for k in keys if k not in item]
    if missing:
        raise ValueError(f"{name} lacks {missing} (has {sorted(item)})")


def check_point(name: str, p: Mapping[str, Any]) -> dict[str, Any]:
    require_keys(name, p, ("name", "activity", "gender"))
    label = f"{name} ({p['name']!r})"
    out: dict[str, Any] = {
        "name": str(p["name"]),
        "activity": fraction(f"{label}['activity']", p["activity"]),
        "gender": fraction(f"{label}['gender']", p["gender"]),
    }
    for key, value_key in (("activity_ci", "activity"), ("gender_ci", "gender")):
        if p.get(key) is not None:
            out[key] = interval(f"{label}[{key!r}]", p[key], out[value_key])
    if p.get("alpha") is not None:
        out["alpha"] = float(p["alpha"])
    return out


def check_privacy_utility(
    points: Sequence[Mapping[str, Any]],
    reference: Mapping[str, Any] | None,
    policies: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[dict[str, Any]]]:
    """The checked ``points``, ``reference`` and ``policies`` of the privacy-utility plot."""
    if len(points) == 0:
        raise ValueError("points is empty")
    pts = [check_point(f"points[{i}]", p) for i, p in enumerate(points)]
    ref = check_point("reference", reference) if reference is not None else None
    pols = [check_point(f"policies[{i}]", p) for i, p in enumerate(policies)]
    return pts, ref, pols


def check_per_user(
    per_user: Mapping[str, Mapping[str, np.ndarray]],
) -> dict[str, dict[str, np.ndarray]]:
    """Per series, its users' ``activity`` and ``gender`` accuracies as 1-D arrays."""
    if len(per_user) == 0:
        raise ValueError("per_user is empty")
    data: dict[str, dict[str, np.ndarray]] = {}
    for name, series in per_user.items():
        require_keys(f"per_user[{name!r}]", series, ("activity", "gender"))
        a = as_1d(f"per_user[{name!r}]['activity']", series["activity"])
        g = as_1d(f"per_user[{name!r}]['gender']", series["gender"])
        if a.size != g.size:
            raise ValueError(
                f"per_user[{name!r}]: activity and gender lengths differ: {a.size} != {g.size}"
            )
        for key, arr in (("activity", a), ("gender", g)):
            finite = arr[np.isfinite(arr)]
            if finite.size and (finite.min() < 0 or finite.max() > 1):
                raise ValueError(f"per_user[{name!r}][{key!r}] must be accuracies in [0, 1]")
        data[str(name)] = {"activity": a, "gender": g}
    return data


def check_traces(
    raw_WxC: np.ndarray,
    released: Mapping[str, np.ndarray],
    channels: Sequence[str],
    rate_hz: float,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Every version of the window (``"raw"`` first, then ``released``) and the channels."""
    raw = np.asarray(raw_WxC, dtype=float)
    if raw.ndim != 2:
        raise ValueError(f"raw_WxC must be 2-D (window, channels), got shape {raw.shape}")
    w, c = raw.shape
    if c == 0:
        raise ValueError("raw_WxC has no channels")
    if len(channels) != c:
        raise ValueError(f"channels has {len(channels)} names but raw_WxC has {c} channels")
    if w < 8:
        raise ValueError(f"raw_WxC has {w} samples; at least 8 are needed for a spectrogram")
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    versions: dict[str, np.ndarray] = {"raw": raw}
    for name, arr in released.items():
        arr = np.asarray(arr, dtype=float)
        if arr.shape != raw.shape:
            raise ValueError(f"released[{name!r}] has shape {arr.shape}, raw_WxC has {raw.shape}")
        if str(name) == "raw":
            raise ValueError("released must not contain a version named 'raw'")
        versions[str(name)] = arr
    channels = [str(ch) for ch in channels]
    return versions, channels


def check_rel_errors(
    rel_errors: Mapping[str, Mapping[str, float]], stats: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """The transforms' names and their relative errors ``(transforms, stats)``."""
    if len(rel_errors) == 0:
        raise ValueError("rel_errors is empty")
    if len(stats) == 0:
        raise ValueError("stats is empty")
    names = [str(n) for n in rel_errors]
    values = np.empty((len(names), len(stats)))
    for i, (name, errs) in enumerate(rel_errors.items()):
        require_keys(f"rel_errors[{name!r}]", errs, stats)
        for j, s in enumerate(stats):
            try:
                values[i, j] = float(errs[s])
            except (TypeError, ValueError):
                raise ValueError(
                    f"rel_errors[{name!r}][{s!r}] must be a number, got {errs[s]!r}"
                ) from None
    return names, values


def check_metric_rows(
    rows: Sequence[Mapping[str, Any]], metric_keys: Sequence[str]
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, list[float | None]]:
    """Names, values ``(rows, keys)``, error-bar lengths ``(2, rows, keys)``, whether each
    bar has an interval ``(rows, keys)`` and each row's chance level (or ``None``)."""
    if len(rows) == 0:
        raise ValueError("rows is empty")
    if len(metric_keys) == 0:
        raise ValueError("metric_keys is empty")
    names, values, lo_err, hi_err, chances, has_ci_rows = [], [], [], [], [], []
    for i, row in enumerate(rows):
        require_keys(f"rows[{i}]", row, ("name", *metric_keys))
        names.append(str(row["name"]))
        vals, lo, hi, cis = [], [], [], []
        for key in metric_keys:
            v = fraction(f"rows[{i}][{key!r}]", row[key], allow_nan=True)
            e = (0.0, 0.0)
            ci = row.get(f"{key}_ci") is not None and not math.isnan(v)
            if ci:
                e = interval(f"rows[{i}][{key + '_ci'!r}]", row[f"{key}_ci"], v)
            cis.append(ci)
            vals.append(v)
            lo.append(e[0])
            hi.append(e[1])
        values.append(vals)
        has_ci_rows.append(cis)
        lo_err.append(lo)
        hi_err.append(hi)
        c = row.get("chance")
        chances.append(None if c is None else fraction(f"rows[{i}]['chance']", c))
    val = np.array(values)
    err = np.stack([np.array(lo_err), np.array(hi_err)])  # (2, rows, keys)
    has_ci = np.array(has_ci_rows)  # (rows, keys)
    return names, val, err, has_ci, chances
