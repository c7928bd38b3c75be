"""Choosing and restoring variants of a sweep's checkpoint: by index or by
hyperparameter values, one variant or the whole stacked state (see
:mod:`jaxpriv.checkpoint` for the checkpoints themselves)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxpriv.checkpoint import Checkpointer, CheckpointError, with_sharding

PyTree = Any
# variant_index tolerance: a grid value that went through float32 still matches.
_REL_TOL, _ABS_TOL = 1e-6, 1e-9


def select_variant(batched: PyTree, index: int) -> PyTree:
    """Variant ``index`` of a batched pytree: ``leaf[index]`` for every leaf.

    Raises ``IndexError`` when ``index`` is outside the variant axis (JAX indexing
    would silently clamp it) or when leaves disagree on its size.
    """
    leaves = jax.tree.leaves(batched)
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise IndexError(f"leaves do not share a leading variant axis (sizes {sizes})")
    (size,) = sizes
    if not -size <= index < size:
        raise IndexError(f"variant index {index} out of range for {size} variants")
    return jax.tree.map(lambda leaf: leaf[index], batched)


def variant_index(meta_grid: Sequence[dict], **values: Any) -> int:
    """Index of the one grid entry whose hyperparameters equal ``values``.

    Numbers are compared with ``math.isclose`` (so ``0.3`` finds a float32
    ``0.30000001``); other values with ``==``. Raises ``ValueError`` listing the
    available values when no entry or several entries match.
    """
    if not values:
        raise ValueError("give at least one hyperparameter, e.g. variant_index(grid, alpha=0.3)")
    names = sorted({name for entry in meta_grid for name in entry})
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {unknown}; the grid has {names}")

    def same(a: Any, b: Any) -> bool:
        if _is_number(a) and _is_number(b):
            return math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)
        return a == b

    hits = [
        i
        for i, entry in enumerate(meta_grid)
        if all(name in entry and same(entry[name], v) for name, v in values.items())
    ]
    wanted = ", ".join(f"{k}={v!r}" for k, v in values.items())
    if len(hits) == 1:
        return hits[0]
    available = "; ".join(f"{n} in {_distinct(meta_grid, n)}" for n in names)
    if not hits:
        raise ValueError(f"no variant with {wanted} among {len(meta_grid)}; available: {available}")
    raise ValueError(f"{len(hits)} variants match {wanted} (indices {hits}); narrow with {names}")


def restore_variant(
    directory: str | Path,
    template: PyTree,
    *,
    index: int | None = None,
    step: int | None = None,
    **values: Any,
) -> tuple[PyTree, dict]:
    """Restore one variant of a checkpoint: by ``index`` or by hyperparameter values.

    ``template`` describes the whole batched state. Values are looked up in
    ``meta["grid"]`` (see ``variant_index``); the chosen entry is
    ``meta["grid"][index]``. Returns ``(state_of_variant, meta)``.
    """
    if (index is None) == (not values):
        raise ValueError("give either index= or hyperparameter values, not both or neither")
    with Checkpointer(directory, read_only=True) as ckpt:
        step = ckpt.resolve_step(step)
        if index is None:
            grid = ckpt.restore_meta(step).get("grid")
            if not isinstance(grid, list):
                raise CheckpointError(f"step {step} in {ckpt.directory} has no meta['grid'] list")
            index = variant_index(grid, **values)
        state, meta = ckpt.restore(template, step)
    return select_variant(state, index), meta


def restore_sweep_run(
    run_dir: str | Path,
    step: int | None,
    *,
    methods: Sequence[str],
    what: str,
    init_for: Callable[[dict], Callable[[Any], PyTree]],
) -> tuple[dict, PyTree]:
    """Restore a sweep run's whole stacked state (every variant, sharded as in training).

    The template is the shape of the vmapped ``init_for(meta)(hp)`` over the saved
    grid, so nothing is computed. ``methods``: the ``meta["method"]`` names accepted
    (``what`` names them in the error). Returns ``(meta, state)``.
    """
    from jaxpriv.sweep import make_variant_mesh, sweep_jit

    run_dir = Path(run_dir)
    ckpt = Checkpointer(run_dir / "checkpoints", read_only=True)
    try:
        meta = ckpt.restore_meta(step)
        if meta.get("method") not in methods:
            raise CheckpointError(f"{run_dir}: not a {what} run (method {meta.get('method')!r})")
        vmesh = make_variant_mesh(len(meta["grid"]))
        hp = vmesh.stack(meta["grid"])
        template = jax.eval_shape(sweep_jit(init_for(meta), vmesh), hp)
        state, meta = ckpt.restore(with_sharding(template, vmesh.variant_sharding), step)
    finally:
        ckpt.close()
    return meta, state


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _distinct(grid: Sequence[dict], name: str) -> list[Any]:
    seen: list[Any] = []
    for entry in grid:
        if name in entry and entry[name] not in seen:
            seen.append(entry[name])
    return seen
