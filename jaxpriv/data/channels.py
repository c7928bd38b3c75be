"""Choosing and deriving channels: exact names, globs and magnitude expressions.

A channel spec is a sequence of items, each one of

- an exact channel name (``"gravity.x"``);
- an ``fnmatch`` glob (``"rotationRate.*"``), expanding to the matches in dataset order;
- a magnitude ``"|a|"`` or ``"|a+b|"``: ``a`` and ``b`` are group prefixes with x/y/z
  members (``a.x`` or ``a_x``); the result is one channel, the Euclidean norm of the
  element-wise sum of the groups, named after the expression.

The presets follow the systems' code: DySan reads the 6 raw axes, MSDA two magnitudes
(``userAcceleration + gravity`` is the total acceleration the phone measures). MobiAct's
``acc_x..`` already include gravity, so ``|acc|`` and ``|gyro|`` are its MSDA analogues.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Mapping, Sequence

import numpy as np

from jaxpriv.data.dataset import DataFormatError, Dataset

DYSAN_CHANNELS: tuple[str, ...] = ("rotationRate.*", "userAcceleration.*")
MSDA_CHANNELS: tuple[str, ...] = ("|rotationRate|", "|userAcceleration+gravity|")
CHANNEL_PRESETS: Mapping[str, tuple[str, ...]] = {
    "dysan": DYSAN_CHANNELS,
    "msda": MSDA_CHANNELS,
    "all": ("*",),
}

_AXES = ("x", "y", "z")
_SEPARATORS = (".", "_")
_GLOB_CHARS = set("*?[")

# How to compute one output channel: a source column, or the norm of summed xyz groups.
_Plan = int | tuple[tuple[int, int, int], ...]


def resolve_channel_spec(name_or_list: str | Sequence[str]) -> tuple[str, ...]:
    """Turn a preset name, a comma-separated string or a sequence of items into a spec.

    ``"msda"`` -> :data:`MSDA_CHANNELS`; ``"gravity.*,|acc|"`` -> ``("gravity.*", "|acc|")``
    (handy for command-line flags); a sequence is returned as a tuple of its items.
    """
    if isinstance(name_or_list, str):
        if name_or_list in CHANNEL_PRESETS:
            return CHANNEL_PRESETS[name_or_list]
        items = tuple(s.strip() for s in name_or_list.split(",") if s.strip())
    else:
        items = tuple(str(s) for s in name_or_list)
    if not items:
        raise ValueError(f"empty channel spec {name_or_list!r}; presets: {sorted(CHANNEL_PRESETS)}")
    return items


def select_channels(ds: Dataset, spec: Sequence[str] | str) -> Dataset:
    """Return ``ds`` with exactly the channels ``spec`` asks for, in that order.

    ``spec`` may also be a preset name (see :func:`resolve_channel_spec`). Unknown names,
    globs matching nothing and groups without x/y/z members raise :class:`DataFormatError`
    listing the available channels; so does a spec producing the same channel twice.
    Magnitude channels are computed in float64 and stored in the recordings' float dtype.
    """
    items = resolve_channel_spec(spec)
    names: list[str] = []
    plans: list[_Plan] = []
    for item in items:
        for name, plan in _resolve_item(ds, item):
            names.append(name)
            plans.append(plan)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataFormatError(
            f"{ds.name}: channel spec {list(items)} selects {duplicates} more than once"
        )
    units = {}
    for name, plan in zip(names, plans, strict=True):
        unit = _plan_unit(ds, name, plan)
        if unit is not None:
            units[name] = unit
    recordings = tuple(
        dataclasses.replace(rec, data=_apply_plans(rec.data, plans)) for rec in ds.recordings
    )
    return ds.replace(recordings=recordings, channels=tuple(names), units=units)


def _plan_unit(ds: Dataset, name: str, plan: _Plan) -> str | None:
    """The unit of an output channel: its source's, or the one unit of a magnitude's parts."""
    columns = [plan] if isinstance(plan, int) else [c for cols in plan for c in cols]
    units = {ds.units.get(ds.channels[c]) for c in columns}
    if None in units:
        return None
    if len(units) > 1:
        raise DataFormatError(
            f"{ds.name}: {name!r} adds channels of different units {sorted(units)}"
        )
    return units.pop()


def _resolve_item(ds: Dataset, item: str) -> list[tuple[str, _Plan]]:
    """Output channels (name, plan) for one spec item."""
    channels = ds.channels
    if item in channels:
        return [(item, channels.index(item))]
    if len(item) > 2 and item.startswith("|") and item.endswith("|"):
        prefixes = [p.strip() for p in item[1:-1].split("+")]
        return [(item, tuple(_group_columns(ds, p, item) for p in prefixes))]
    if _GLOB_CHARS & set(item):
        matches = [(c, i) for i, c in enumerate(channels) if fnmatch.fnmatchcase(c, item)]
        if not matches:
            raise DataFormatError(
                f"{ds.name}: channel pattern {item!r} matches nothing; available: {list(channels)}"
            )
        return matches
    raise DataFormatError(
        f"{ds.name}: unknown channel {item!r}; available: {list(channels)} "
        f"(or a glob like 'name.*', or a magnitude like '|prefix|' / '|a+b|')"
    )


def _group_columns(ds: Dataset, prefix: str, item: str) -> tuple[int, int, int]:
    """Column indices of ``prefix``'s x, y, z members (``prefix.x`` or ``prefix_x``)."""
    for sep in _SEPARATORS:
        members = [f"{prefix}{sep}{axis}" for axis in _AXES]
        if all(m in ds.channels for m in members):
            x, y, z = (ds.channels.index(m) for m in members)
            return x, y, z
    raise DataFormatError(
        f"{ds.name}: magnitude {item!r} needs channels {prefix}.x/.y/.z or "
        f"{prefix}_x/_y/_z; available: {list(ds.channels)}"
    )


def _apply_plans(data_TxC: np.ndarray, plans: Sequence[_Plan]) -> np.ndarray:
    """Build the ``(T, len(plans))`` matrix of the selected and derived channels."""
    dtype = data_TxC.dtype if np.issubdtype(data_TxC.dtype, np.floating) else np.float64
    out_TxK = np.empty((data_TxC.shape[0], len(plans)), dtype=dtype)
    for k, plan in enumerate(plans):
        if isinstance(plan, int):
            out_TxK[:, k] = data_TxC[:, plan]
        else:
            total_Tx3 = sum(data_TxC[:, list(cols)].astype(np.float64) for cols in plan)
            out_TxK[:, k] = np.sqrt(np.sum(np.square(total_Tx3), axis=1))
    return out_TxK
