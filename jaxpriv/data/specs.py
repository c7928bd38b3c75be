"""Load options written into a ``--data`` spec: ``PATH:key=value,key=value``.

A spec is a path, optionally followed by ``:`` and comma-separated options, e.g.
``~/data/MobiFall:falls=1,header_conflict=majority`` or
``wisdm-dataset:device=watch,sensors=acc``. A path that exists as written is never
split (so a folder whose name holds ``:`` still works). Each dataset kind takes the
options in :data:`KIND_OPTIONS`; :func:`parse_options` checks and types them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jaxpriv.data.mobiact import HEADER_CONFLICTS, SENSOR_CHANNELS
from jaxpriv.data.parsing import INVALID_POLICIES
from jaxpriv.data.profiles import PROFILES
from jaxpriv.data.wisdm import DEVICES

_BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
_CHOICES = {
    "profile": ("auto", *PROFILES),
    "header_conflict": HEADER_CONFLICTS,
    "device": DEVICES,
    "invalid": INVALID_POLICIES,
}
_FLOATS = ("rate_hz", "cutoff_hz", "max_gap_s")
_INTS = ("filter_order",)
_FLAGS = ("falls", "scenarios")
_SENSOR_NAMES = (*SENSOR_CHANNELS, "accel")
_PROFILE = ("profile", "cutoff_hz", "filter_order")
KIND_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "motionsense": ("invalid",),
    "recordings_csv": ("invalid", "rate_hz"),
    "mobiact": (*_PROFILE, "falls", "scenarios", "header_conflict", "sensors", "rate_hz",
                "invalid"),
    "mobiact_annotated": (*_PROFILE, "falls", "rate_hz", "invalid"),
    "wisdm": (*_PROFILE, "device", "sensors", "rate_hz", "max_gap_s", "invalid"),
}  # fmt: skip


def split_path_options(spec: str) -> tuple[str, list[str]]:
    """``(path, option items)``: ``"dir:falls=1,sensors=acc"`` -> ``("dir", ["falls=1", ...])``.

    Only a suffix after the last ``:`` made of ``key=value`` items, after a path that
    exists, counts as options; anything else is returned whole as the path.
    """
    if Path(spec).expanduser().exists() or ":" not in spec:
        return spec, []
    base, _, tail = spec.rpartition(":")
    items = [i.strip() for i in tail.split(",") if i.strip()]
    if base and items and all("=" in i for i in items):
        return base, items
    return spec, []


def parse_options(spec: str, items: Iterable[str], kind: str) -> dict[str, Any]:
    """Typed options from ``key=value`` items; a key the ``kind`` does not take is an error."""
    allowed = KIND_OPTIONS[kind]
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = (s.strip() for s in item.partition("="))
        if not sep or key not in allowed:
            raise ValueError(
                f"--data {spec!r}: option {item!r} does not apply to a {kind} dataset; "
                f"its options are {sorted(allowed)} (key=value, comma-separated)"
            )
        out[key] = _typed(spec, key, value)
    return out


def check_options(spec: str, options: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """Keyword load options (already typed) checked against what ``kind`` takes."""
    unknown = sorted(k for k in options if k not in KIND_OPTIONS[kind])
    if unknown:
        raise ValueError(
            f"--data {spec!r}: option(s) {unknown} do not apply to a {kind} dataset; its "
            f"options are {sorted(KIND_OPTIONS[kind])}"
        )
    return {k: _typed(spec, k, v) if isinstance(v, str) else v for k, v in options.items()}


def merge(spec: str, from_spec: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Spec options and keyword options together; the same option twice must agree."""
    clash = sorted(k for k in from_spec if k in given and given[k] != from_spec[k])
    if clash:
        raise ValueError(
            f"--data {spec!r}: {clash} given both in the spec ({[from_spec[k] for k in clash]})"
            f" and as arguments ({[given[k] for k in clash]}); give each once"
        )
    return {**given, **from_spec}


def _typed(spec: str, key: str, value: str) -> Any:
    where = f"--data {spec!r}: option {key}={value!r}"
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise ValueError(f"{where}: expected one of {list(_CHOICES[key])}")
        return value
    if key in _FLAGS:
        if value.lower() not in _BOOLS:
            raise ValueError(f"{where}: expected 1 or 0 (true/false, yes/no)")
        return _BOOLS[value.lower()]
    if key == "sensors":
        names = tuple(s.strip() for s in value.split("+") if s.strip())
        if not names or any(n not in _SENSOR_NAMES for n in names):
            raise ValueError(f"{where}: expected sensors joined by '+' from {list(_SENSOR_NAMES)}")
        return names
    try:
        return int(value) if key in _INTS else float(value)
    except ValueError:
        kind = "an integer" if key in _INTS else "a number"
        raise ValueError(f"{where}: not {kind}") from None
