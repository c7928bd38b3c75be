"""Hyperparameter grids: lists of dicts of values, checked, built (products, DySan's
36 pairs), parsed from the command line (``'alpha=0.1,0.2;lam=0.3'``, a JSON list
or ``@file.json``) and stacked into the pytree that :mod:`jaxpriv.sweep` vmaps."""

from __future__ import annotations

import itertools
import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Grid = list[dict[str, float | int]]

_INT32 = np.iinfo(np.int32)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_value(value: Any, index: int, key: str) -> float | int:
    """A grid value as a Python int or float; anything else is a clear error."""
    # bool is an int subclass; a flag is not a hyperparameter value to stack.
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"grid variant {index}, key {key!r}: expected an int or float, got {value!r}"
        )
    if isinstance(value, numbers.Integral):
        value = int(value)
        if not _INT32.min <= value <= _INT32.max:
            raise ValueError(f"grid variant {index}, key {key!r}: {value} does not fit int32")
        return value
    return float(value)


def _check_grid(grid: Sequence[Mapping[str, Any]]) -> Grid:
    """Validate a grid: non-empty, dicts, the same keys everywhere, numeric values."""
    if isinstance(grid, Mapping) or not isinstance(grid, Sequence) or not grid:
        raise ValueError("a grid is a non-empty list of dicts of hyperparameter values")
    checked: Grid = []
    keys: list[str] | None = None
    for index, variant in enumerate(grid):
        if not isinstance(variant, Mapping):
            raise ValueError(f"grid variant {index}: expected a dict, got {variant!r}")
        if keys is None:
            keys = list(variant)
            if not keys:
                raise ValueError("grid variant 0 has no hyperparameters")
        missing = [k for k in keys if k not in variant]
        extra = [k for k in variant if k not in keys]
        if missing:
            raise ValueError(f"grid variant {index} lacks key {missing[0]!r} (of {keys})")
        if extra:
            raise ValueError(
                f"grid variant {index} has unexpected key {extra[0]!r} (not in {keys})"
            )
        for k in keys:
            if not isinstance(k, str):
                raise ValueError(f"grid variant {index}: key {k!r} is not a string")
        checked.append({k: _check_value(variant[k], index, k) for k in keys})
    return checked


def stack_grid(grid: Sequence[Mapping[str, float | int]]) -> dict[str, jax.Array]:
    """Stack a grid into a hyperparameter pytree with leading variant axis ``V``.

    A key whose values are all ints becomes int32 (seeds, counts); any float
    makes it float32. Keys must be the same in every variant.
    """
    checked = _check_grid(grid)
    hp: dict[str, jax.Array] = {}
    for key in checked[0]:
        values = [variant[key] for variant in checked]
        is_int = all(isinstance(v, int) for v in values)
        hp[key] = jnp.asarray(np.asarray(values, np.int32 if is_int else np.float32))
    return hp


def _to_python(value: np.generic) -> float | int:
    if np.issubdtype(value.dtype, np.integer):
        return int(value)
    # The shortest decimal that round-trips the float32 (0.1, not 0.10000000149011612),
    # so unstack_grid(stack_grid(grid)) gives back the values that were typed.
    return float(str(value))


def unstack_grid(hp: Mapping[str, jax.Array | np.ndarray]) -> Grid:
    """The inverse of :func:`stack_grid`: a list of dicts of Python floats and ints."""
    host = {k: np.asarray(v) for k, v in hp.items()}
    sizes = {k: (v.shape[0] if v.ndim else None) for k, v in host.items()}
    if not host or None in sizes.values() or len(set(sizes.values())) != 1:
        raise ValueError(f"hyperparameter leaves need one common leading axis, got {sizes}")
    (size,) = set(sizes.values())
    return [{k: _to_python(v[i]) for k, v in host.items()} for i in range(size)]


def product_grid(**axes: Sequence[float | int] | float | int) -> Grid:
    """The cartesian product of the given axes, last axis fastest.

    ``product_grid(alpha=[0.1, 0.2], seed=[0, 1])`` gives four variants; a scalar
    is an axis of one value.
    """
    if not axes:
        raise ValueError("product_grid needs at least one axis")
    lists = {}
    for name, values in axes.items():
        values = [values] if isinstance(values, numbers.Real) else list(values)
        if not values:
            raise ValueError(f"product_grid axis {name!r} is empty")
        lists[name] = values
    grid = [dict(zip(lists, combo, strict=True)) for combo in itertools.product(*lists.values())]
    return _check_grid(grid)


def dysan_grid(step: float = 0.1, lo: float = 0.1, hi: float = 0.8, max_sum: float = 0.9) -> Grid:
    """DySan's (alpha, lam) grid: both in ``{lo, lo+step, ..., hi}`` with alpha+lam <= max_sum.

    The defaults give the 36 pairs of the paper. Values are rounded so they read
    0.1, 0.2, 0.3 rather than accumulated float noise.
    """
    if step <= 0 or hi < lo:
        raise ValueError(f"dysan_grid needs step > 0 and lo <= hi, got {step=}, {lo=}, {hi=}")
    count = math.floor((hi - lo) / step + 1e-9) + 1
    values = [round(lo + i * step, 10) for i in range(count)]
    return [
        {"alpha": a, "lam": lam}
        for a in values
        for lam in values
        if a + lam <= max_sum + 1e-9  # 0.1 + 0.8 is 0.9000000000000001 in floats
    ]


def _parse_number(text: str, name: str) -> float | int:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"grid axis {name!r}: {text!r} is not a number") from None


def _parse_product(text: str) -> Grid:
    axes: dict[str, list[float | int]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, values = part.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name):
            raise ValueError(f"grid axis {part!r}: expected name=v1,v2,... with a valid name")
        if name in axes:
            raise ValueError(f"grid axis {name!r} is given twice")
        items = [v for v in values.split(",") if v.strip()]
        if not items:
            raise ValueError(f"grid axis {name!r} has no values")
        axes[name] = [_parse_number(v, name) for v in items]
    if not axes:
        raise ValueError(f"empty grid {text!r}")
    return product_grid(**axes)


def parse_grid(text: str, allowed: Sequence[str] | None = None) -> Grid:
    """Parse a grid given on the command line.

    Accepted forms:

    * ``"alpha=0.1,0.2;lam=0.3"``: the cartesian product of the axes;
    * a JSON list of dicts (a single JSON dict is one variant);
    * ``"@path.json"``: a file holding either of the above.

    Integer literals stay ints (seeds), anything else is a float. With ``allowed``,
    a variant naming any other key is an error that names the variant and the keys.
    """
    grid = _parse_grid(text)
    if allowed is not None:
        for i, variant in enumerate(grid):
            unknown = sorted(set(variant) - set(allowed))
            if unknown:
                raise ValueError(
                    f"--grid variant {i} {variant}: unknown keys {unknown}; allowed {list(allowed)}"
                )
    return grid


def _parse_grid(text: str) -> Grid:
    text = text.strip()
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            content = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ValueError(f"cannot read grid file {str(path)!r}: {err}") from err
        if content.strip().startswith("@"):
            raise ValueError(f"grid file {str(path)!r} points to another file")
        return _parse_grid(content)
    if text.startswith(("[", "{")):
        try:
            grid = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"grid is not valid JSON: {err}") from err
        return _check_grid([grid] if isinstance(grid, dict) else grid)
    if not text:
        raise ValueError("empty grid")
    return _parse_product(text)
