"""DySan runs (and Olympus, DySan without distortion) as transforms: every sanitizer at once."""

from __future__ import annotations

from pathlib import Path

from eval.transforms import RAW, DataSpec, TransformSet, register_restorer
from jaxpriv.methods.dysan_io import load_stacked


@register_restorer("olympus")
@register_restorer("dysan")
def restore_dysan(run_dir: Path, step: int | None) -> TransformSet:
    meta, params, release_one = load_stacked(run_dir, step=step)
    prepared = meta["prepared"]
    grid = meta["grid"]
    method = meta.get("method", "dysan")
    names = tuple(f"{method}-a{hp['alpha']:g}-l{hp['lam']:g}" for hp in grid)
    return TransformSet(
        method=method,
        run_dir=run_dir,
        names=(RAW, *names),
        hps=({}, *(dict(hp) for hp in grid)),
        alive=(True, *meta["alive"]),
        spec=DataSpec.from_prepared(prepared),
        data=meta["data"],
        params=params,
        release_one=release_one,
    )
