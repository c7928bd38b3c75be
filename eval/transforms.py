"""Checkpoints -> named transforms ``x_raw -> x_released``, the harness's only input.

A :class:`TransformSet` holds every variant of one run, stacked, plus the raw
data as the identity transform (always index 0, the reference row). It knows
how the run windowed its data (:class:`DataSpec`), so the harness windows the
evaluation data the same way. Each method registers a restorer by the name its
checkpoints carry in their metadata (``meta["method"]``), in its own module of
:mod:`eval.restorers`; the harness never imports training code beyond that.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv.checkpoint import Checkpointer, CheckpointError
from jaxpriv.data.task import Task

RAW = "raw"
RELEASE_CHUNK = 256  # windows per jitted call: bounds memory for many variants

# release_one(params, x_raw_BxWxC, attributes_raw_Bx3, activity_B, key) -> x_released_BxWxC
ReleaseFn = Callable[[Any, jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """How a run cut its data into windows, and which users it held out."""

    channels: tuple[str, ...]
    window: int
    stride: int
    activities: tuple[str, ...]
    test_subjects: tuple[str, ...]
    split: str = "subject"
    activity_map: tuple[tuple[str, str], ...] = ()  # the data's names -> the run's

    @classmethod
    def from_prepared(cls, prepared: dict[str, Any]) -> DataSpec:
        """From a trainer's ``meta["prepared"]`` (``TaskData.describe()``)."""
        return cls(
            channels=tuple(prepared["channels"]),
            window=int(prepared["window"]),
            stride=int(prepared["stride"]),
            activities=tuple(prepared["activities"]),
            test_subjects=tuple(prepared["test_subjects"]),
            split=prepared.get("split", "subject"),
            activity_map=tuple(tuple(p) for p in prepared.get("activity_map", ())),
        )

    def task(self) -> Task:
        """The run's task (its activities, channels and windows), to cut new data alike."""
        return Task(activities=self.activities, channels=self.channels, window=self.window,
                    stride=self.stride, split=self.split,
                    activity_map=self.activity_map)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class TransformSet:
    """The raw identity plus every variant of one run, released all at once (vmapped)."""

    method: str
    run_dir: Path
    names: tuple[str, ...]  # names[0] == RAW
    hps: tuple[dict[str, Any], ...]  # hps[0] == {}
    alive: tuple[bool, ...]  # False: the variant diverged during training (kept, flagged)
    spec: DataSpec
    data: dict[str, Any]  # the training data's description (load_from_description)
    params: Any  # stacked over the variants (len(names) - 1 on the leading axis)
    release_one: ReleaseFn
    # Method-specific facts evaluators may need (e.g. the RAE's activity roles).
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def release(
        self, x_NxWxC: np.ndarray, attributes_Nx3: np.ndarray, activity_N: np.ndarray, seed: int
    ) -> np.ndarray:
        """``(V, N, W, C)`` float32: the raw windows (index 0) and every variant's release."""
        n = x_NxWxC.shape[0]
        out = np.empty((len(self.names), *x_NxWxC.shape), np.float32)
        out[0] = x_NxWxC
        if n == 0 or len(self.names) == 1:
            return out
        release = _vmapped(self.release_one)
        num_variants = len(self.names) - 1
        for start in range(0, n, RELEASE_CHUNK):
            # Pad the last chunk so every call has one shape (one compilation).
            idx = np.minimum(np.arange(start, start + RELEASE_CHUNK), n - 1)
            keys = jax.random.split(jax.random.fold_in(jax.random.key(seed), start), num_variants)
            x_rel = release(
                self.params,
                jnp.asarray(x_NxWxC[idx]),
                jnp.asarray(np.nan_to_num(attributes_Nx3[idx]), jnp.float32),
                jnp.asarray(activity_N[idx], jnp.int32),
                keys,
            )
            stop = min(start + RELEASE_CHUNK, n)
            out[1:, start:stop] = np.asarray(x_rel)[:, : stop - start]
        return out


_VMAPPED: dict[int, Callable] = {}


def _vmapped(release_one: ReleaseFn) -> Callable:
    # One jitted vmapped function per release function, so repeated calls reuse the compile.
    fn = _VMAPPED.get(id(release_one))
    if fn is None:
        fn = jax.jit(jax.vmap(release_one, in_axes=(0, None, None, None, 0)))
        _VMAPPED[id(release_one)] = fn
    return fn


RESTORERS: dict[str, Callable[[Path, int | None], TransformSet]] = {}


def register_restorer(method: str):
    """Decorator: ``restore(run_dir, step) -> TransformSet`` for checkpoints of ``method``."""

    def wrap(fn: Callable[[Path, int | None], TransformSet]):
        RESTORERS[method] = fn
        return fn

    return wrap


def load_transforms(run_dir: str | Path, *, step: int | None = None) -> TransformSet:
    """Restore a run's checkpoint (latest step by default) as a :class:`TransformSet`."""
    import eval.restorers  # noqa: F401  (registers every method's restorer)

    run_dir = Path(run_dir)
    if not (run_dir / "checkpoints").is_dir():
        raise CheckpointError(f"{run_dir}: no checkpoints/ folder; is this a training run folder?")
    ckpt = Checkpointer(run_dir / "checkpoints", read_only=True)
    try:
        method = ckpt.restore_meta(step).get("method")
    finally:
        ckpt.close()
    if method not in RESTORERS:
        raise CheckpointError(
            f"{run_dir}: the harness cannot evaluate method {method!r} (known: {sorted(RESTORERS)})"
        )
    return RESTORERS[method](run_dir, step)
