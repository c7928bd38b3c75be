"""Load a trained RAE run as a pure release function in the dataset's raw units.

``release(params, x_raw, attributes_raw, activity, key) -> x_released``: scale with
the training scaler, replace, scale back. The RAE looks at the window only (the
attributes, activity and key are accepted for the harness's common signature and
ignored), so it is what would run on the phone. Everything needed is in the
checkpoint's metadata (config, grid, roles, scaler).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxpriv.data.scaling import Scaler
from jaxpriv.methods.rae import RaeConfig, Roles, make_replace, make_train
from jaxpriv.variants import restore_sweep_run

METHOD = "rae"


def make_release(cfg: RaeConfig, scaler: Scaler):
    """``release(params, x_raw, attributes_raw, activity, key) -> x_released`` for one variant;
    pure, so it can be vmapped over stacked parameters."""
    replace = make_replace(cfg)

    def release(params, x_raw, attributes_raw, activity, key):
        del attributes_raw, activity, key  # the RAE sees the window only
        return scaler.invert(replace(params, scaler.apply(x_raw)))

    return release


def variant_name(hp: dict[str, Any]) -> str:
    """``lr0.001-w1-s0``: learning rate, sensitive-window weight, seed."""
    return f"lr{hp['lr']:g}-w{hp['sensitive_weight']:g}-s{hp['seed']}"


def restore_state(run_dir: str | Path, step: int | None = None) -> tuple[dict, Any]:
    """``(meta, state)`` of an RAE run: every variant, padding included, on its devices."""
    return restore_sweep_run(
        run_dir,
        step,
        methods=(METHOD,),
        what="RAE",
        init_for=lambda meta: make_train(RaeConfig(**meta["config"]))[0],
    )


def load_stacked(run_dir: str | Path, *, step: int | None = None) -> tuple[dict, Any, Any]:
    """``(meta, params, release)``: every variant's parameters stacked on a leading axis
    (the grid's length, on the host) and the one-variant :func:`make_release`.
    ``meta["alive"]`` lists which variants stayed finite; ``meta["roles"]`` the roles."""
    meta, state = restore_state(run_dir, step)
    n = len(meta["grid"])
    params = jax.tree.map(lambda a: np.asarray(a)[:n], jax.device_get(state["params"]))
    meta = {**meta, "alive": np.asarray(state["alive"])[:n].astype(bool).tolist()}
    Roles.from_json(meta["roles"])  # a run without valid roles is not an RAE run
    release = make_release(
        RaeConfig(**meta["config"]), Scaler.from_json(meta["prepared"]["scaler"])
    )
    return meta, params, release


__all__ = ["load_stacked", "make_release", "restore_state", "variant_name"]
