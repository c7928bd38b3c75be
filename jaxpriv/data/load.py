"""One entry point for every dataset: ``load_dataset(spec)``.

``spec`` is what users pass as ``--data``:

- ``embedded`` (the default) or ``embedded:users=8,seed=1,long_s=20,short_s=8``:
  the simulator's MotionSense-layout dataset, generated once into the cache
  (``$JAXPRIV_CACHE``, default ``~/.cache/jaxpriv``) and read by the MotionSense reader;
  ``embedded-mobifall[:...]`` and ``embedded-wisdm[:...]``: the same people in MobiFall's
  and WISDM's raw layouts, read by those loaders (see :mod:`jaxpriv.data.embedded`);
- a MotionSense folder (containing ``A_DeviceMotion_data``) or the downloaded
  ``A_DeviceMotion_data.zip`` (unpacked safely into the cache);
- a MobiAct/MobiFall folder of raw ``<CODE>_<sensor>_<subject>_<trial>.txt`` files
  (MobiAct's ``<CODE>/`` or MobiFall's ``sub<N>/ADL|FALLS/<CODE>/``), or of MobiAct v2
  ``*_annotated.csv`` files;
- a WISDM 2019 folder (``raw/<phone|watch>/<accel|gyro>/data_<subject>_...txt``);
- a recordings ``.csv`` (long format) with ``subjects=`` its subjects table
  and ``rate_hz=`` when it has no ``time_s`` column.

A folder path may carry load options, ``PATH:falls=1,profile=raw`` (see
:mod:`jaxpriv.data.specs`); they may also be given as keyword arguments. MobiAct,
MobiFall and WISDM are given MotionSense's channels by the ``motionsense`` profile
(:mod:`jaxpriv.data.profiles`) unless ``profile=raw``.

Every loader stores a ``description`` in the Dataset; ``load_from_description``
loads the same data again (checkpoints keep it, so evaluation needs no flags).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxpriv.data import specs
from jaxpriv.data.dataset import DataFormatError, Dataset
from jaxpriv.data.embedded import (
    EMBEDDED,
    LAYOUT_SIM_OPTIONS,
    LAYOUT_SPECS,
    cache_dir,
    ensure_embedded,
    ensure_layout,
    load_embedded,
    parse_embedded_spec,
    sim_config,
    spec_family,
)
from jaxpriv.data.generic import load_recordings_csv
from jaxpriv.data.mobiact import ANNOTATED_PATTERN, RAW_PATTERN
from jaxpriv.data.mobiact_annotated import load_mobiact_annotated
from jaxpriv.data.mobiact_raw import load_mobiact_raw
from jaxpriv.data.motionsense import is_motionsense, load_motionsense
from jaxpriv.data.parsing import InvalidPolicy
from jaxpriv.data.profiles import apply_profile, default_profile, reapply_profile
from jaxpriv.data.simulator import SimConfig
from jaxpriv.data.wisdm import NOMINAL_RATE_HZ, is_wisdm_file, load_wisdm

__all__ = [
    "EMBEDDED",
    "cache_dir",
    "detect_folder",
    "ensure_embedded",
    "load_dataset",
    "load_embedded",
    "load_from_description",
    "parse_embedded_spec",
]
_LAYOUT_KIND = {"mobifall": "mobiact", "wisdm": "wisdm"}
_KIND_TEXT = {
    "mobiact": "MobiAct/MobiFall raw files (e.g. {})",
    "mobiact_annotated": "MobiAct annotated CSVs (e.g. {})",
    "wisdm": "WISDM raw files (e.g. {})",
}


def detect_folder(path: Path) -> str:
    """``motionsense``, ``mobiact`` (raw), ``mobiact_annotated`` or ``wisdm``; a folder
    holding none, or files of several of these, is an error naming what it found."""
    if is_motionsense(path):
        return "motionsense"
    found: dict[str, Path] = {}
    for p in path.rglob("*"):
        name = p.name
        kind = (
            "mobiact" if RAW_PATTERN.match(name)
            else "mobiact_annotated" if ANNOTATED_PATTERN.match(name)
            else "wisdm" if is_wisdm_file(name)
            else None
        )  # fmt: skip
        if kind is not None:
            found.setdefault(kind, p)
    if len(found) == 1:
        return next(iter(found))
    if found:
        held = "; ".join(_KIND_TEXT[k].format(p) for k, p in sorted(found.items()))
        raise DataFormatError(
            f"{path}: holds files of several datasets: {held}; point --data at the folder "
            "of one of them"
        )
    raise DataFormatError(
        f"{path}: not a dataset jaxpriv recognises: expected a MotionSense folder "
        "(A_DeviceMotion_data/), MobiAct/MobiFall raw files "
        "(<CODE>_<acc|gyro|ori>_<subject>_<trial>.txt), MobiAct annotated CSVs "
        "(<CODE>_<subject>_<trial>_annotated.csv) or WISDM raw files "
        "(raw/<phone|watch>/<accel|gyro>/data_<subject>_<accel|gyro>_<phone|watch>.txt)"
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
    sensors: Sequence[str] | None = None,
    progress: bool = False,
    **options: Any,
) -> Dataset:
    """Load the dataset a ``--data`` spec names (see the module docstring).

    ``options``: load options of the detected kind (:data:`jaxpriv.data.specs.KIND_OPTIONS`:
    ``profile``, ``falls``, ``scenarios``, ``header_conflict``, ``device``, ``cutoff_hz``,
    ``filter_order``, ``max_gap_s``), merged with those written in the spec.
    """
    spec = spec or EMBEDDED
    given = dict(options)
    given.update({k: v for k, v in (("rate_hz", rate_hz), ("sensors", sensors)) if v is not None})
    if invalid != "error":
        given["invalid"] = invalid
    family = spec_family(spec)
    if family == EMBEDDED:  # simulated clean at its own rate: subjects, rate_hz, invalid unused
        return load_embedded(parse_embedded_spec(spec), activities=activities, progress=progress)
    if family is not None:
        return _load_layout(spec, family, given, activities)
    base, items = specs.split_path_options(spec)
    path = Path(base).expanduser()
    if not path.exists():
        raise DataFormatError(
            f"--data {spec}: no such file or folder (or use 'embedded'; options follow a "
            "folder as PATH:key=value,...)"
        )
    if path.is_file() and path.suffix.lower() == ".zip":
        if subjects is not None and not Path(subjects).expanduser().is_file():
            raise DataFormatError(f"--subjects {subjects}: no such file")
        given.pop("rate_hz", None)
        opts = _options(spec, items, given, "motionsense")
        path = _prepare_motionsense_zip(path, subjects, opts.get("invalid", "error"))
        return load_motionsense(path, activities=activities, **opts)
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DataFormatError(f"--data {spec}: expected a folder, a .zip or a recordings .csv")
        opts = _options(spec, items, given, "recordings_csv")
        return load_recordings_csv(path, subjects=subjects, activities=activities, **opts)
    kind = detect_folder(path)
    if kind == "motionsense":  # always 50 Hz: a rate is for CSVs without time and resampling
        given.pop("rate_hz", None)
    opts = _options(spec, items, given, kind)
    if kind == "motionsense":
        return load_motionsense(path, subjects=subjects, activities=activities, **opts)
    return _load_kind(kind, path, opts, activities, subjects)


def _options(spec: str, items: list[str], given: dict, kind: str) -> dict[str, Any]:
    return specs.merge(
        spec, specs.parse_options(spec, items, kind), specs.check_options(spec, given, kind)
    )


def _load_kind(
    kind: str,
    path: Path,
    opts: dict[str, Any],
    activities: Sequence[str] | None,
    subjects: str | Path | None,
) -> Dataset:
    """Load a MobiAct (raw or annotated) or WISDM folder and apply its profile."""
    opts = dict(opts)
    profile = {k: opts.pop(k) for k in ("profile", "cutoff_hz", "filter_order") if k in opts}
    if kind == "wisdm":
        opts.setdefault("rate_hz", NOMINAL_RATE_HZ)
        ds = load_wisdm(path, activities=activities, subjects=subjects, **opts)
    elif kind == "mobiact":
        opts.setdefault("rate_hz", 50.0)
        ds = load_mobiact_raw(path, activities=activities, **opts)
    else:
        opts.setdefault("rate_hz", 50.0)
        ds = load_mobiact_annotated(path, activities=activities, subjects=subjects, **opts)
    name = profile.get("profile", "auto")
    name = default_profile(kind) if name == "auto" else name
    if name is None:
        return ds
    filter_args = {"cutoff_hz": profile.get("cutoff_hz"), "order": profile.get("filter_order")}
    return apply_profile(ds, name, **{k: v for k, v in filter_args.items() if v is not None})


def _load_layout(
    spec: str, family: str, given: dict[str, Any], activities: Sequence[str] | None
) -> Dataset:
    """``embedded-mobifall:...`` / ``embedded-wisdm:...``: simulate (once), then load."""
    layout = LAYOUT_SPECS[family]
    kind = _LAYOUT_KIND[layout]
    items = [o.strip() for o in spec.partition(":")[2].split(",") if o.strip()]
    allowed = (*LAYOUT_SIM_OPTIONS, *specs.KIND_OPTIONS[kind])
    for item in items:
        if item.partition("=")[0].strip() not in allowed:
            raise ValueError(
                f"--data {spec!r}: bad option {item!r}; use key=value with key in "
                f"{list(LAYOUT_SIM_OPTIONS)} (the simulation) or "
                f"{sorted(specs.KIND_OPTIONS[kind])} (loading)"
            )
    sim_items = [i for i in items if i.partition("=")[0].strip() in LAYOUT_SIM_OPTIONS]
    cfg = sim_config(spec, sim_items, LAYOUT_SIM_OPTIONS)
    load_items = [i for i in items if i not in sim_items]
    opts = _options(spec, load_items, given, kind)
    ds = _load_kind(kind, ensure_layout(layout, cfg), opts, activities, None)
    return ds.replace(description=_layout_description(ds, family, cfg, opts))


def _layout_description(
    ds: Dataset, family: str, cfg: SimConfig, opts: Mapping[str, Any]
) -> dict[str, Any]:
    """Without the cache path (a run's identity must not depend on where the cache is)."""
    description = {k: v for k, v in ds.description.items() if k not in ("path", "name")}
    return {
        **description,
        "kind": family,
        "loader": ds.description["kind"],
        "name": f"{family}-{cfg.n_users}u",
        "config": cfg.to_json(),
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in opts.items()},
        "build": Path(ds.description["path"]).name,
    }


def load_from_description(desc: Mapping[str, Any]) -> Dataset:
    """Load again the dataset a stored ``Dataset.description`` describes."""
    kind = desc.get("kind")
    activities = desc.get("activities")
    if kind == EMBEDDED:
        cfg = dict(desc["config"])
        cfg["activities"] = tuple(cfg.get("activities", SimConfig().activities))
        return load_embedded(SimConfig(**cfg), activities=activities)
    if kind in LAYOUT_SPECS:
        items = [f"{k}={v}" for k, v in _sim_items(desc["config"]).items()]
        return load_dataset(f"{kind}:{','.join(items)}", **_stored_options(desc["options"]))
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
        ds = load_mobiact_raw(
            desc["path"],
            sensors=desc["sensors"],
            rate_hz=desc["rate_hz"],
            # Stored before falls and scenarios were left out by default: they were kept.
            falls=desc.get("falls", True),
            scenarios=desc.get("scenarios", True),
            header_conflict=desc.get("header_conflict", "error"),
            **common,
        )
    elif kind == "mobiact_annotated":
        ds = load_mobiact_annotated(
            desc["path"],
            channels=desc["channels"],
            rate_hz=desc["rate_hz"],
            subjects=desc.get("subjects"),
            falls=desc.get("falls", True),
            **common,
        )
    elif kind == "wisdm":
        ds = load_wisdm(
            desc["path"],
            device=desc["device"],
            sensors=desc["sensors"],
            rate_hz=desc["rate_hz"],
            max_gap_s=desc["max_gap_s"],
            subjects=desc.get("subjects"),
            **common,
        )
    else:
        raise DataFormatError(
            f"cannot load a dataset described as {dict(desc)!r}: unknown kind {kind!r}"
        )
    return reapply_profile(ds, desc["profile"]) if "profile" in desc else ds


def _sim_items(config: Mapping[str, Any]) -> dict[str, Any]:
    names = {"users": "n_users"}
    return {k: config[names.get(k, k)] for k in LAYOUT_SIM_OPTIONS}


def _stored_options(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
