"""MSDA's classic baselines (``train.baselines`` runs) as transforms: FFT resampling, SSA
and additive noise, every one a variant of one stacked :class:`TransformSet`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from eval.transforms import RAW, DataSpec, TransformSet, register_restorer
from jaxpriv.baselines import make_release
from jaxpriv.checkpoint import Checkpointer, CheckpointError
from jaxpriv.data.scaling import Scaler


def load_stacked(run_dir: Path, step: int | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, params)``: the checkpoint's metadata and the transforms' stacked
    ``{"kind": int32[V], "value": float32[V]}``, restored against the listed transforms."""
    ckpt = Checkpointer(run_dir / "checkpoints", read_only=True)
    try:
        meta = ckpt.restore_meta(step)
        if meta.get("method") != "baselines":
            raise CheckpointError(f"{run_dir}: not a baselines run (method {meta.get('method')!r})")
        v = len(meta["grid"])
        template = {
            "kind": jax.ShapeDtypeStruct((v,), np.int32),
            "value": jax.ShapeDtypeStruct((v,), np.float32),
        }
        params, meta = ckpt.restore(template, step)
    finally:
        ckpt.close()
    return meta, {k: np.asarray(a) for k, a in params.items()}


@register_restorer("baselines")
def restore_baselines(run_dir: Path, step: int | None) -> TransformSet:
    meta, params = load_stacked(run_dir, step)
    cfg = meta["config"]
    prepared = meta["prepared"]
    scaler = Scaler.from_json(prepared["scaler"]) if cfg["space"] == "scaled" else None
    grid = meta["grid"]
    return TransformSet(
        method="baselines",
        run_dir=run_dir,
        names=(RAW, *(b["name"] for b in grid)),
        hps=({}, *({"kind": b["kind"], "value": b["value"]} for b in grid)),
        alive=(True,) * (len(grid) + 1),
        spec=DataSpec.from_prepared(prepared),
        data=meta["data"],
        params=params,
        release_one=make_release(
            rate_hz=float(cfg["rate_hz"]), ssa_window=int(cfg["ssa_window"]), scaler=scaler
        ),
        info={"config": dict(cfg)},
    )
