"""Load trained GEN guardians (and their frozen estimators) from a run's checkpoint.

The release works in the dataset's raw units: scale a window with the training
scaler, pass it through the guardian, and map it back. It needs only the
checkpoint (config, grid and scaler are in its metadata), not the training code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxpriv.data.scaling import Scaler
from jaxpriv.methods.gen import GenConfig, make_guard, make_train
from jaxpriv.variants import restore_sweep_run

METHOD = "gen"


def make_release(cfg: GenConfig, scaler: Scaler):
    """``release(guard_params, x_raw, attributes_raw, activity, key) -> x_released`` in raw
    units, for one variant: pure, so it can be vmapped over stacked guardians.

    The guardian sees only the window: attributes, activity and key are accepted for
    the harness's common signature and ignored.
    """
    guard = make_guard(cfg)

    def release(guard_params, x_raw, attributes_raw, activity, key):
        del attributes_raw, activity, key
        return scaler.invert(guard(guard_params, scaler.apply(x_raw)))

    return release


def restore_run(run_dir: str | Path, *, step: int | None = None) -> tuple[dict, Any]:
    """``(meta, state)`` of a GEN run: the whole batched state (estimators, guardians,
    optimizers; padding variants removed), on the host."""
    meta, state = restore_sweep_run(
        run_dir,
        step,
        methods=(METHOD,),
        what="GEN",
        init_for=lambda meta: make_train(GenConfig(**meta["config"]))[0],
    )
    n = len(meta["grid"])
    return meta, jax.tree.map(lambda a: np.asarray(a)[:n], jax.device_get(state))


def load_stacked(run_dir: str | Path, *, step: int | None = None) -> tuple[dict, Any, Any]:
    """``(meta, guard_params, release)``: every variant's guardian parameters stacked on
    a leading axis (the grid's length) and the one-variant :func:`make_release`.
    ``meta["alive"]`` lists which variants stayed finite."""
    meta, state = restore_run(run_dir, step=step)
    meta = {**meta, "alive": state["alive"].astype(bool).tolist()}
    release = make_release(
        GenConfig(**meta["config"]), Scaler.from_json(meta["prepared"]["scaler"])
    )
    return meta, state["guard"], release


__all__ = ["load_stacked", "make_release", "restore_run"]
