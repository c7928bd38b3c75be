"""Restore trained MSDA autoencoders (AAE, REP) from a run folder as pure release functions.

A release works in the dataset's raw units: standardise a window with the training
scaler, run the autoencoder in evaluation mode (BatchNorm running averages), and
invert the standardisation. Everything needed (config, grid, scaler) is in the
checkpoint's metadata, so the training code's data pipeline is not needed::

    meta, params, release = load_stacked("runs/msda-quick")
    x_released = release(jax.tree.map(lambda a: a[0], params), x_raw, attrs, act, key)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxpriv.data.scaling import Scaler
from jaxpriv.methods.msda import MsdaConfig, make_anonymize
from jaxpriv.methods.msda_train import make_train
from jaxpriv.variants import restore_sweep_run

METHOD = "msda"


def make_release(cfg: MsdaConfig, scaler: Scaler):
    """``release(aae_variables, x_raw_BxWxC, attributes_Bx3, activity_B, key) -> x'`` in raw
    units, for one variant: pure, so it can be vmapped over stacked autoencoders. The
    attributes, activity and key are unused (the AAE is deterministic and unconditioned);
    they are accepted for the harness's common signature."""
    anonymize = make_anonymize(cfg)

    def release(aae_variables, x_raw_BxWxC, attributes_Bx3, activity_B, key):
        del attributes_Bx3, activity_B, key
        return scaler.invert(anonymize(aae_variables, scaler.apply(x_raw_BxWxC)))

    return release


def restore_run(run_dir: str | Path, step: int | None = None) -> tuple[dict, Any]:
    """``(meta, state)`` of an MSDA checkpoint (default: the latest step), every variant
    stacked on a leading axis (padded to the device count), restored against the
    ``jax.eval_shape`` of the init function."""
    return restore_sweep_run(
        run_dir, step, methods=(METHOD,), what="MSDA",
        init_for=lambda meta: make_train(MsdaConfig(**meta["config"])).init,
    )  # fmt: skip


def load_stacked(run_dir: str | Path, *, step: int | None = None) -> tuple[dict, Any, Any]:
    """``(meta, aae_variables, release)``: every variant's autoencoder variables
    (``{"params", "batch_stats"}``) stacked on a leading axis of the grid's length
    (padding removed, on the host), and the one-variant :func:`make_release`.
    ``meta["alive"]`` says which variants stayed finite, ``meta["converged"]`` which
    met the convergence rule, ``meta["rounds_done"]`` the rounds run."""
    meta, state = restore_run(run_dir, step)
    n = len(meta["grid"])
    host = jax.device_get(state)
    params = jax.tree.map(lambda a: np.asarray(a)[:n], host["aae"])
    meta = {
        **meta,
        "alive": np.asarray(host["alive"])[:n].astype(bool).tolist(),
        "converged": np.asarray(host["converged"])[:n].astype(bool).tolist(),
        "rounds_done": int(np.asarray(host["round"])[0]),
    }
    cfg = MsdaConfig(**meta["config"])
    release = make_release(cfg, Scaler.from_json(meta["prepared"]["scaler"]))
    return meta, params, release


__all__ = ["METHOD", "load_stacked", "make_release", "restore_run"]
