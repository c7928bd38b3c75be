"""Simulated datasets generated into the cache: ``embedded`` and its other layouts.

- ``embedded[:key=value,...]``: the MotionSense layout (:mod:`jaxpriv.data.simulator`);
- ``embedded-mobifall[:...]`` and ``embedded-wisdm[:...]``: the same people written in
  MobiFall v2.0's and WISDM 2019's raw layouts (:mod:`jaxpriv.data.simulated_layouts`),
  read back by the real loaders.

Each is generated once into ``$JAXPRIV_CACHE`` (default ``~/.cache/jaxpriv``) in a
folder named after a hash of its config and of the generating code, written into a
temporary folder and renamed, so a concurrent or interrupted run never yields a
partial dataset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jaxpriv.data.dataset import Dataset
from jaxpriv.data.motionsense import load_motionsense
from jaxpriv.data.simulated_layouts import layout_fingerprint, simulate_layout
from jaxpriv.data.simulator import SimConfig, simulate_motionsense, simulator_fingerprint

EMBEDDED = "embedded"
LAYOUT_SPECS = {"embedded-mobifall": "mobifall", "embedded-wisdm": "wisdm"}
_SIM_FIELDS = {f.name: f.type for f in dataclasses.fields(SimConfig)}
_SIM_ALIASES = {"users": "n_users"}
# Options of the layouts' simulation (their rate is the loader's: a load option).
LAYOUT_SIM_OPTIONS = ("users", "seed", "long_s", "short_s", "duration_jitter")


def cache_dir() -> Path:
    """``$JAXPRIV_CACHE``, default ``~/.cache/jaxpriv``."""
    return Path(os.environ.get("JAXPRIV_CACHE", Path.home() / ".cache" / "jaxpriv"))


def spec_family(spec: str) -> str | None:
    """``embedded``, ``embedded-mobifall``, ``embedded-wisdm``, or None for other specs."""
    head = spec.partition(":")[0].strip()
    return head if head == EMBEDDED or head in LAYOUT_SPECS else None


def parse_embedded_spec(spec: str) -> SimConfig:
    """``embedded`` or ``embedded:key=value,...`` -> :class:`SimConfig`."""
    _, _, options = spec.partition(":")
    items = [o.strip() for o in options.split(",") if o.strip()]
    allowed = sorted({*_SIM_FIELDS, *_SIM_ALIASES} - {"activities", "n_users"})
    return sim_config(spec, items, allowed)


def sim_config(spec: str, items: Sequence[str], allowed: Sequence[str]) -> SimConfig:
    """A :class:`SimConfig` from ``key=value`` items whose keys are in ``allowed``."""
    kwargs: dict[str, Any] = {}
    for item in items:
        key, sep, value = (s.strip() for s in item.partition("="))
        if not sep or key not in allowed:
            raise ValueError(
                f"--data {spec!r}: bad option {item!r}; use key=value with key in {sorted(allowed)}"
            )
        key = _SIM_ALIASES.get(key, key)
        is_int = key in ("n_users", "seed")
        try:
            kwargs[key] = int(value) if is_int else float(value)
        except ValueError:
            kind = "an integer" if is_int else "a number"
            raise ValueError(f"--data {spec!r}: {item!r} is not {kind}") from None
    return SimConfig(**kwargs)


def _ensure(prefix: str, key: dict, write: Callable[[Path], Any], n_users: int) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir() / f"{prefix}-{n_users}u-{digest}"
    if not (path / "simulation.json").is_file():
        try:
            write(path)
        except (FileExistsError, OSError):
            if not (path / "simulation.json").is_file():  # someone else finished it: fine
                raise
    return path


def ensure_embedded(cfg: SimConfig | None = None, *, progress: bool = False) -> Path:
    """The folder holding the simulated MotionSense-layout dataset for ``cfg``.

    The folder name is a hash of the config and of the simulator's code (a newer
    simulator regenerates).
    """
    cfg = cfg or SimConfig()
    key = {"config": cfg.to_json(), "code": simulator_fingerprint()}
    return _ensure(
        EMBEDDED, key, lambda p: simulate_motionsense(p, cfg, progress=progress), cfg.n_users
    )


def ensure_layout(layout: str, cfg: SimConfig) -> Path:
    """The folder holding the simulated people in ``layout`` (``mobifall`` or ``wisdm``)."""
    key = {"config": cfg.to_json(), "layout": layout, "code": layout_fingerprint()}
    return _ensure(
        f"embedded-{layout}", key, lambda p: simulate_layout(p, layout, cfg), cfg.n_users
    )


def load_embedded(
    cfg: SimConfig | None = None,
    *,
    activities: Sequence[str] | None = None,
    progress: bool = False,
) -> Dataset:
    """The embedded (simulated) dataset for ``cfg`` (default: 24 MotionSense profiles)."""
    cfg = cfg or SimConfig()
    ds = load_motionsense(ensure_embedded(cfg, progress=progress), activities=activities)
    description = {
        **ds.description,
        "kind": EMBEDDED,
        "name": f"embedded-{cfg.n_users}u",
        "config": cfg.to_json(),
    }
    return ds.replace(description=description)
