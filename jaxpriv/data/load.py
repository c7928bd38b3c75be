"""One entry point for every dataset: ``load_dataset(spec)``.

``spec`` is what users pass as ``--data``:

- ``embedded`` (the default) or ``embedded:users=8,seed=1,long_s=20,short_s=8``:
  the simulator's MotionSense-layout dataset, generated once into the cache
  (``$JAXPRIV_CACHE``, default ``~/.cache/jaxpriv``) and read by the
  MotionSense reader;
- a MotionSense folder (containing ``A_DeviceMotion_data``) or the downloaded
  ``A_DeviceMotion_data.zip`` (unpacked safely into the cache);
- a MobiAct/MobiFall folder of raw ``<CODE>_<sensor>_<subject>_<trial>.txt``
  files, or of MobiAct v2 ``*_annotated.csv`` files;
- a recordings ``.csv`` (long format) with ``subjects=`` its subjects table
  and ``rate_hz=`` when it has no ``time_s`` column.

Every loader stores a ``description`` in the Dataset; ``load_from_description``
loads the same data again (checkpoints keep it, so evaluation needs no flags).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxpriv.data.dataset import DataFormatError, Dataset
from jaxpriv.data.generic import load_recordings_csv
from jaxpriv.data.mobiact import ANNOTATED_PATTERN, RAW_PATTERN
from jaxpriv.data.mobiact_annotated import load_mobiact_annotated
from jaxpriv.data.mobiact_raw import load_mobiact_raw
from jaxpriv.data.motionsense import is_motionsense, load_motionsense
from jaxpriv.data.parsing import InvalidPolicy
from jaxpriv.data.simulator import SimConfig, simulate_motionsense, simulator_fingerprint

EMBEDDED = "embedded"
_SIM_FIELDS = {f.name: f.type for f in dataclasses.fields(SimConfig)}
_SIM_ALIASES = {"users": "n_users"}


def cache_dir() -> Path:
    return Path(os.environ.get("JAXPRIV_CACHE", Path.home() / ".cache" / "jaxpriv"))


def parse_embedded_spec(spec: str) -> SimConfig:
    """``embedded`` or ``embedded:key=value,...`` -> :class:`SimConfig`."""
    _, _, options = spec.partition(":")
    kwargs: dict[str, Any] = {}
    for item in filter(None, (o.strip() for o in options.split(","))):
        key, sep, value = item.partition("=")
        key = _SIM_ALIASES.get(key.strip(), key.strip())
        if not sep or key not in _SIM_FIELDS or key == "activities":
            allowed = sorted({*_SIM_FIELDS, *_SIM_ALIASES} - {"activities", "n_users"})
            raise ValueError(
                f"--data {spec!r}: bad option {item!r}; use key=value with key in {allowed}"
            )
        is_int = key in ("n_users", "seed")
        try:
            kwargs[key] = int(value) if is_int else float(value)
        except ValueError:
            kind = "an integer" if is_int else "a number"
            raise ValueError(f"--data {spec!r}: {item.strip()!r} is not {kind}") from None
    return SimConfig(**kwargs)


def ensure_embedded(cfg: SimConfig | None = None, *, progress: bool = False) -> Path:
    """The folder holding the simulated dataset for ``cfg``, generated if missing.

    The folder name is a hash of the config and of the simulator's code (a newer
    simulator regenerates); generation writes to a temporary folder and renames
    it, so a concurrent or interrupted run never yields a partial dataset.
    """
    cfg = cfg or SimConfig()
    # Keyed on the config and the simulator's code, so a newer simulator regenerates.
    key = json.dumps({"config": cfg.to_json(), "code": simulator_fingerprint()}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    path = cache_dir() / f"embedded-{cfg.n_users}u-{digest}"
    if not (path / "simulation.json").is_file():
        try:
            simulate_motionsense(path, cfg, progress=progress)
        except (FileExistsError, OSError):
            if not (path / "simulation.json").is_file():  # someone else finished it: fine
                raise
    return path


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


def _detect_folder(path: Path) -> str:
    if is_motionsense(path):
        return "motionsense"
    for p in path.rglob("*"):
        if RAW_PATTERN.match(p.name):
            return "mobiact"
        if ANNOTATED_PATTERN.match(p.name):
            return "mobiact_annotated"
    raise DataFormatError(
        f"{path}: not a dataset jaxpriv recognises: expected a MotionSense folder "
        "(A_DeviceMotion_data/), MobiAct raw files (<CODE>_<acc|gyro|ori>_<subject>_<trial>.txt) "
        "or MobiAct annotated CSVs (<CODE>_<subject>_<trial>_annotated.csv)"
    )


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _prepare_motionsense_zip(
    zip_path: Path, subjects: str | Path | None, invalid: InvalidPolicy
) -> Path:
    """Unpack a MotionSense zip into the cache once per (zip, subjects table) content."""
    from jaxpriv.data.archive import prepare_motionsense

    table = None if subjects is None else Path(subjects).expanduser()
    key = f"{_fingerprint(zip_path)}|{None if table is None else _fingerprint(table)}"
    out = cache_dir() / f"motionsense-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if not out.is_dir():
        try:
            prepare_motionsense(zip_path, out, subjects=table, invalid=invalid)
        except FileExistsError:
            if not out.is_dir():  # another process unpacked it first: fine
                raise
    return out


def load_dataset(
    spec: str | None = None,
    *,
    subjects: str | Path | None = None,
    rate_hz: float | None = None,
    invalid: InvalidPolicy = "error",
    activities: Sequence[str] | None = None,
    sensors: Sequence[str] = ("acc", "gyro"),
    progress: bool = False,
) -> Dataset:
    """Load the dataset a ``--data`` spec names (see the module docstring)."""
    spec = spec or EMBEDDED
    if spec == EMBEDDED or spec.startswith(EMBEDDED + ":"):
        return load_embedded(parse_embedded_spec(spec), activities=activities, progress=progress)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataFormatError(f"--data {spec}: no such file or folder (or use 'embedded')")
    if path.is_file() and path.suffix.lower() == ".zip":
        if subjects is not None and not Path(subjects).expanduser().is_file():
            raise DataFormatError(f"--subjects {subjects}: no such file")
        path = _prepare_motionsense_zip(path, subjects, invalid)
        return load_motionsense(path, invalid=invalid, activities=activities)
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DataFormatError(f"--data {spec}: expected a folder, a .zip or a recordings .csv")
        return load_recordings_csv(
            path, subjects=subjects, rate_hz=rate_hz, invalid=invalid, activities=activities
        )
    kind = _detect_folder(path)
    if kind == "motionsense":
        return load_motionsense(path, subjects=subjects, invalid=invalid, activities=activities)
    rate = 50.0 if rate_hz is None else rate_hz
    if kind == "mobiact":
        return load_mobiact_raw(
            path, sensors=sensors, rate_hz=rate, invalid=invalid, activities=activities
        )
    return load_mobiact_annotated(
        path, rate_hz=rate, invalid=invalid, activities=activities, subjects=subjects
    )


def load_from_description(desc: Mapping[str, Any]) -> Dataset:
    """Load again the dataset a stored ``Dataset.description`` describes."""
    kind = desc.get("kind")
    activities = desc.get("activities")
    if kind == EMBEDDED:
        cfg = dict(desc["config"])
        cfg["activities"] = tuple(cfg.get("activities", SimConfig().activities))
        return load_embedded(SimConfig(**cfg), activities=activities)
    common = {"invalid": desc.get("invalid", "error")}
    if kind == "motionsense":
        return load_motionsense(
            desc["path"], subjects=desc.get("subjects"), activities=activities, **common
        )
    if kind == "recordings_csv":
        return load_recordings_csv(
            desc["path"], subjects=desc.get("subjects"), rate_hz=desc.get("rate_hz"), **common
        )
    if kind == "mobiact":
        return load_mobiact_raw(
            desc["path"], sensors=desc["sensors"], rate_hz=desc["rate_hz"], **common
        )
    if kind == "mobiact_annotated":
        return load_mobiact_annotated(
            desc["path"],
            channels=desc["channels"],
            rate_hz=desc["rate_hz"],
            subjects=desc.get("subjects"),
            **common,
        )
    raise DataFormatError(
        f"cannot load a dataset described as {dict(desc)!r}: unknown kind {kind!r}"
    )
